/**
 * Docker: the container catalog the daemon answers EPMD from. This layer's part of the public API:
 * not the Engine client (client.ts) nor the event stream parser (events.ts).
 */
export {
  DockerCatalog,
  PORT_LABEL,
  NAME_LABEL,
  CLUSTER_LABEL,
  type CatalogEntry,
  type CatalogOptions,
  type CatalogStats,
} from './catalog.ts';
export type { ContainerAbout } from './inspect.ts';
