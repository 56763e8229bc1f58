/** The distribution layer: a TypeScript Erlang node and the protocol codecs under it. */
export { Node, type NodeOptions, type NodeEvents } from './node.ts';
export { type ExposedFunction, type ExposedModule } from './exposed.ts';
export { BadRpcError, CallError, HandshakeError, ProcessExit, ReceiveTimeout } from './errors.ts';
export { Process, type Destination, type From } from './process.ts';
export {
  EpmdResolver,
  StaticResolver,
  DockerResolver,
  type Resolver,
  type NodeAddress,
  type DockerResolverOptions,
} from './resolver.ts';
export {
  DistFlags,
  DEFAULT_FLAGS,
  DIST_MANDATORY,
  DIST_MANDATORY_25,
  DIST_MANDATORY_26,
  flagNames,
} from './flags.ts';
export { ControlOp, type Signal } from './control.ts';
