/**
 * EPMD: a drop-in server with a NameSource extension point, and a client. docs/epmd.md.
 * This layer's part of the public API: not the wire codec (protocol.ts) nor the environment
 * readers (env.ts), which the daemon and the CLI import directly.
 * The client functions carry an `epmd` prefix: a bare `register` or `names` would not say what it
 * registers or names.
 */
export {
  EpmdServer,
  DEFAULT_EPMD_PORT,
  type EpmdServerOptions,
  type LookupOutcome,
  type RegisteredNode,
} from './server.ts';
export {
  epmdRegister,
  epmdPortPlease,
  epmdNames,
  type EpmdCallOptions,
  type EpmdRegisterOptions,
  type Registration,
} from './client.ts';
export type { NodeEntry, NameSource } from './types.ts';
