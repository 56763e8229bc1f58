export * from './errors.ts';
export * from './etf/terms.ts';
export * from './etf/index.ts';
export * from './epmd/index.ts';
export * from './dist/index.ts';
export * from './docker/index.ts';
export * from './daemon/index.ts';
