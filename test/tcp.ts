/** TCP probes the tests share. */
import net from 'node:net';

/** Whether something at host:port accepts a TCP connection (closed again at once). */
export function connectable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
