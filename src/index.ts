export * from './errors.ts';
export * from './etf/terms.ts';
