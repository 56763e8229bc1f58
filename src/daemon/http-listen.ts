/** Listening and closing for the daemon's HTTP(S) endpoints (metrics, membership). */
import type http from 'node:http';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * Listens on host:port, or serves an inherited listening socket (`fd`, from socket activation);
 * rejects with the listen error (EADDRINUSE, say).
 */
export function listenOn(
  server: http.Server | https.Server,
  at: { host: string; port: number } | { fd: number },
): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Closes the listener and every open connection, idle or not. */
export function closeServer(server: http.Server | https.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
