export {
  DockerCatalog,
  PORT_LABEL,
  NAME_LABEL,
  type CatalogEntry,
  type CatalogOptions,
  type CatalogStats,
} from './catalog.ts';
export { connectDocker, defaultEndpoint, dockerOptions, type DockerConnection } from './client.ts';
