/**
 * systemd socket activation (sd_listen_fds(3)): the service manager holds the listening sockets
 * and passes them as file descriptors 3, 4, ... with LISTEN_FDS (how many) and LISTEN_PID (for
 * which process). While the daemon restarts, the kernel queues new connections on them, so an
 * upgrade refuses no lookup.
 */
import { EidError } from '../errors.ts';

/** The first passed descriptor (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;
/** The FileDescriptorName= of the socket the metrics are served on; every other one serves EPMD. */
export const METRICS_FD_NAME = 'metrics';
/** More than any socket unit of this daemon passes: a larger count is a mistake, not sockets. */
const MAX_LISTEN_FDS = 64;

export interface InheritedSockets {
  epmd: number[];
  metrics: number[];
}

/**
 * The sockets passed to process `pid`, or undefined when none were (no LISTEN_FDS, or it was meant
 * for another process: a variable inherited from a parent).
 */
export function inheritedSockets(
  env: Record<string, string | undefined>,
  pid: number,
): InheritedSockets | undefined {
  const count = env.LISTEN_FDS;
  if (count === undefined || count === '' || env.LISTEN_PID !== String(pid)) return undefined;
  const n = /^\d{1,3}$/.test(count) ? Number(count) : NaN;
  if (!(n >= 1 && n <= MAX_LISTEN_FDS))
    throw new EidError('CLI_USAGE', `LISTEN_FDS: a count of 1 to ${MAX_LISTEN_FDS} sockets, not '${count}'`);
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  const sockets: InheritedSockets = { epmd: [], metrics: [] };
  for (let i = 0; i < n; i++) {
    (names[i] === METRICS_FD_NAME ? sockets.metrics : sockets.epmd).push(LISTEN_FDS_START + i);
  }
  if (sockets.epmd.length === 0)
    throw new EidError('CLI_USAGE', 'LISTEN_FDS: no socket for EPMD among the ones passed');
  return sockets;
}
