/**
 * The distribution layer: a TypeScript Erlang node, its processes, and how it finds other nodes.
 * This layer's part of the public API: not the protocol codecs under the node (handshake,
 * framing, header, control, connection).
 */
export {
  Node,
  BadRpcError,
  CallError,
  type NodeOptions,
  type ExposedFunction,
  type ExposedModule,
  type NodeEvents,
} from './node.ts';
export { Process, ProcessExit, ReceiveTimeout, type Destination, type From } from './process.ts';
export { HandshakeError } from './handshake.ts';
export {
  EpmdResolver,
  StaticResolver,
  DockerResolver,
  type Resolver,
  type NodeAddress,
  type DockerResolverOptions,
} from './resolver.ts';
export { DistFlags, DEFAULT_FLAGS, flagNames } from './flags.ts';
