/**
 * Fetches a host's membership document over mutual TLS: the server must present a certificate
 * from the private CA naming the very host dialled (an IP or DNS subjectAltName), and we present
 * ours. The body is bounded and the whole request has a deadline.
 */
import https from 'node:https';
import net from 'node:net';
import { ClusterError } from '../errors.ts';
import { MAX_MEMBERSHIP_BYTES, MEMBERSHIP_PATH } from './membership-document.ts';

export interface MembershipCredentials {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export const DEFAULT_FETCH_TIMEOUT_MS = 5_000;

/** The membership document's JSON text from `host:port`; rejects with a ClusterError. */
export function fetchMembership(
  host: string,
  port: number,
  credentials: MembershipCredentials,
  timeoutMs = DEFAULT_FETCH_TIMEOUT_MS,
): Promise<string> {
  const fail = (message: string, cause?: unknown) =>
    new ClusterError('CLUSTER_MEMBERSHIP', `membership of ${host}: ${message}`, {
      peer: `${host}:${port}`,
      ...(cause === undefined ? {} : { cause }),
    });
  return new Promise<string>((resolve, reject) => {
    const req = https.request(
      {
        host,
        port,
        path: MEMBERSHIP_PATH,
        method: 'GET',
        ...credentials,
        // SNI carries DNS names only; the certificate is still checked against `host`.
        ...(net.isIP(host) === 0 ? { servername: host } : {}),
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(fail(`HTTP ${res.statusCode}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_MEMBERSHIP_BYTES) {
            req.destroy(fail(`reply larger than ${MAX_MEMBERSHIP_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', (err) => reject(err instanceof ClusterError ? err : fail(err.message, err)));
      },
    );
    const deadline = setTimeout(() => req.destroy(fail(`no reply within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('timeout', () => req.destroy(fail(`no reply within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(err instanceof ClusterError ? err : fail(errorText(err), err)));
    req.end();
  });
}

/** A short reason: the system or TLS code where there is one. */
function errorText(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === undefined ? err.message : `${code} (${err.message})`;
}
