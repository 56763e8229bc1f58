/** The daemon: an EPMD server for one Docker host that also answers for its containers. */
export { Daemon, type DaemonOptions } from './daemon.ts';
export type { MetricsSnapshot } from './metrics.ts';
