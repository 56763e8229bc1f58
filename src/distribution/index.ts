/**
 * The distribution layer: a TypeScript Erlang node, its processes, and how it finds other nodes.
 * This layer's part of the public API: not the protocol codecs under the node (handshake,
 * framing, header, control, connection).
 */
export { Node, type NodeOptions, type NodeEvents } from './node.ts';
export { type ExposedFunction, type ExposedModule } from './exposed.ts';
export {
  BadRpcError,
  CallError,
  HandshakeError,
  IoRequestError,
  ProcessExit,
  ReceiveTimeout,
  SendQueueFullError,
  TlsError,
} from './errors.ts';
export {
  readSslDistOptfile,
  type DistributionTlsOptions,
  type DistributionTlsSide,
  type PemSource,
  type TlsVersion,
} from './tls-optfile.ts';
export { Process, type Destination, type From } from './process.ts';
export { IoServer, type IoServerOptions, type IoTerminal } from './io-server.ts';
export {
  EpmdResolver,
  StaticResolver,
  DockerResolver,
  type Resolver,
  type NodeAddress,
  type DockerResolverOptions,
} from './resolver.ts';
export { DistFlags, DEFAULT_FLAGS, flagNames } from './flags.ts';
export { PgScope, type GroupChange, type GroupListener } from './pg.ts';
export { PubSub, type PubSubOptions, type PubSubHandler } from './pubsub.ts';
