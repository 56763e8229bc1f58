export { Daemon, type DaemonOptions } from './daemon.ts';
export { parseDaemonArgs, type DaemonSettings } from './options.ts';
export type { MetricsSnapshot } from './metrics.ts';
