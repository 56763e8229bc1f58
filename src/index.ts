export * from './errors.ts';
export { DEFAULT_NODE_PORT } from './ports.ts';
export * from './etf/terms.ts';
export * from './etf/index.ts';
export * from './epmd/index.ts';
export * from './distribution/index.ts';
export * from './docker/index.ts';
export * from './daemon/index.ts';
