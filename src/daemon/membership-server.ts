/**
 * The membership endpoint: `GET /v1/membership` over HTTPS with mutual TLS (docs/clusters.md).
 * Only clients with a certificate from the cluster's private CA get past the TLS handshake; the
 * document then lists only the clusters that client's host belongs to (by the names in its
 * certificate's subjectAltName). Nothing secret is ever in the document: no cookie, no path.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Logger } from '../log.ts';
import { closeServer, listenOn } from './http-listen.ts';
import type { MembershipTls } from './cluster-config.ts';
import { MEMBERSHIP_PATH, type MembershipDocument } from './membership-document.ts';

/** Requests a client may keep open at once, and how long one may take. */
const MAX_CONNECTIONS = 64;
const REQUEST_TIMEOUT_MS = 10_000;

/** The PEM files of a membership endpoint or client, read once. */
export function readTlsFiles(files: MembershipTls): { ca: Buffer; cert: Buffer; key: Buffer } {
  return { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
}

/** The names a certificate's subjectAltName gives (IP addresses and DNS names). */
export function certificateNames(subjectAltName: string | undefined): string[] {
  return (subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .map((s) => /^(?:IP Address|DNS):(.+)$/.exec(s)?.[1]?.trim())
    .filter((s): s is string => s !== undefined && s !== '');
}

export class MembershipServer {
  readonly #server: https.Server;

  /** `document(names)`: what to tell a client whose certificate names these hosts. */
  constructor(tls: MembershipTls, document: (clientNames: string[]) => MembershipDocument, log: Logger) {
    this.#server = https.createServer(
      { ...readTlsFiles(tls), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
      (req, res) => {
        const path = (req.url ?? '').split('?')[0];
        if (path !== MEMBERSHIP_PATH) {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
          return;
        }
        if (req.method !== 'GET') {
          res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end('GET only\n');
          return;
        }
        const names = certificateNames((req.socket as TLSSocket).getPeerCertificate().subjectaltname);
        const body = JSON.stringify(document(names));
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
      },
    );
    this.#server.maxConnections = MAX_CONNECTIONS;
    this.#server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.#server.headersTimeout = REQUEST_TIMEOUT_MS;
    // A client without a CA certificate fails here; one line each, at debug: the port is public.
    this.#server.on('tlsClientError', (err, socket) =>
      log.debug('membership: TLS handshake refused', {
        peer: socket.remoteAddress,
        error: err.message,
      }),
    );
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return listenOn(this.#server, { host, port });
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }
}
