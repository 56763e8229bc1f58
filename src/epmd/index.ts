export * from './types.ts';
export * from './env.ts';
export * from './protocol.ts';
export * from './client.ts';
export * from './server.ts';
