/**
 * TLS distribution (OTP's inet_tls_dist): the distribution handshake and everything after it run
 * inside TLS. Checks as OTP makes them: the dialling side verifies the server's chain and that
 * its certificate names the host part of the node name dialled (server_name_indication); the
 * accepting side verifies the client's chain and, by default, refuses a client without a
 * certificate (fail_if_no_peer_cert). Certificate files are re-read when they change, so new
 * connections use rotated certificates without a restart.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIP, type Socket } from 'node:net';
import {
  checkServerIdentity,
  connect as tlsConnect,
  createSecureContext,
  TLSSocket,
  type DetailedPeerCertificate,
  type SecureContext,
  type SecureContextOptions,
} from 'node:tls';
import type { Logger } from '../log.ts';
import { TlsError } from './errors.ts';
import {
  readSslDistOptfile,
  type DistributionTlsOptions,
  type DistributionTlsSide,
  type PemSource,
  type TlsSideName,
} from './tls-optfile.ts';
import type { DistTransport, TransportEvents } from './transport.ts';

interface Side {
  options: DistributionTlsSide;
  context: SecureContext;
}

const PEER_CLOSED =
  'the peer closed the connection during the TLS handshake (it does not speak TLS, or refused our certificate)';

const PROTOCOLS = { 'tlsv1.2': 'TLSv1.2', 'tlsv1.3': 'TLSv1.3' } as const;

/** Fields of `b` that are set override `a`'s. */
function merge(...layers: (DistributionTlsSide | undefined)[]): DistributionTlsSide {
  const out: Record<string, unknown> = {};
  for (const layer of layers)
    for (const [k, v] of Object.entries(layer ?? {})) if (v !== undefined) out[k] = v;
  return out as DistributionTlsSide;
}

const sources = (s: PemSource | PemSource[] | undefined): PemSource[] =>
  s === undefined ? [] : Array.isArray(s) ? s : [s];

const config = (reason: string, message: string, cause?: unknown) =>
  new TlsError('DIST_TLS_CONFIG', reason, message, cause === undefined ? {} : { cause });

function pem(source: PemSource, what: string): Buffer {
  if (Buffer.isBuffer(source)) return source;
  try {
    return readFileSync(source);
  } catch (err) {
    throw config('unreadable', `cannot read the ${what} file ${source}: ${(err as Error).message}`, err);
  }
}

/**
 * What OpenSSL found wrong with the client's chain. Node sets `authorized` only on the sockets of
 * a tls.Server; for a socket it wraps itself, the verification result is on its handle (what
 * tls.Server reads). Fails closed when that is missing.
 */
function chainError(socket: TLSSocket): [reason: string, message: string] | undefined {
  const handle = (
    socket as unknown as { _handle?: { verifyError?: () => (Error & { code?: string }) | null } }
  )._handle;
  if (typeof handle?.verifyError !== 'function') return ['UNVERIFIED', 'cannot read the verification result'];
  const err = handle.verifyError();
  return err === null ? undefined : [err.code ?? 'CERT', `the client's certificate: ${err.message}`];
}

/** The TLS transport of a node (`Node.start`'s `distributionTls`). */
export class DistributionTls implements DistTransport {
  readonly name = 'tls';
  readonly handshakePrefix = 4;
  // A server checks a client's certificate once TLS is up (TLS 1.3 and Node's own checks): the
  // client then sees only a close.
  readonly closedHint = ' (after TLS was up: the peer may have refused our certificate; its log says why)';
  private sides: Record<TlsSideName, Side>;
  /** The files the sides were built from, and their state then (mtime, size, inode). */
  private stamp: string;
  private failedStamp = '';

  /** Reads the options and files; throws {@link TlsError} (DIST_TLS_CONFIG) when they cannot serve. */
  constructor(
    private readonly options: DistributionTlsOptions,
    private readonly logger: Logger,
  ) {
    this.stamp = this.fileStamp();
    this.sides = this.build();
  }

  /** Re-reads the files now (on SIGHUP, say); throws, keeping the old certificates, when they are bad. */
  reload(): void {
    const stamp = this.fileStamp();
    this.sides = this.build();
    this.stamp = stamp;
    this.logger.info('TLS distribution certificates loaded', { files: this.files().length });
  }

  dial(host: string, port: number, nodeHost: string, events: TransportEvents): Socket {
    const { options, context } = this.current('client');
    const verify = options.verify !== 'verify_none';
    const name = options.serverName ?? nodeHost;
    const socket = tlsConnect({
      host,
      port,
      secureContext: context,
      // RFC 6066 has no IP addresses in SNI; the certificate check below still covers them.
      ...(name !== false && isIP(name) === 0 ? { servername: name } : {}),
      rejectUnauthorized: verify,
      checkServerIdentity: (_host, cert) => (name === false ? undefined : checkServerIdentity(name, cert)),
    });
    socket.setNoDelay(true);
    this.watch(socket, `${host}:${port}`, 'dial to', events, () =>
      verify ? this.checkDepth(socket, options) : undefined,
    );
    return socket;
  }

  accept(raw: Socket, events: TransportEvents): Socket {
    const { options, context } = this.current('server');
    if (options.cert === undefined) {
      // A node that only dials (eid ping with just a CA): nobody can be accepted.
      queueMicrotask(() => {
        events.fail(
          config('cert', 'TLS distribution: this node has no certificate (certfile) to accept with'),
        );
        raw.destroy();
      });
      return raw;
    }
    const verify = options.verify !== 'verify_none';
    const requireCert = verify && options.failIfNoPeerCert !== false;
    const address = raw.remoteAddress ?? '';
    const socket = new TLSSocket(raw, {
      isServer: true,
      secureContext: context,
      requestCert: verify,
      // On a server socket this makes OpenSSL refuse a client without a certificate.
      rejectUnauthorized: requireCert,
    });
    this.watch(socket, `${address}:${raw.remotePort ?? 0}`, 'accept from', events, () => {
      if (!verify) return undefined;
      const cert = socket.getPeerCertificate(true);
      if (Object.keys(cert).length === 0)
        return requireCert
          ? ['NO_PEER_CERT', 'the client sent no certificate (fail_if_no_peer_cert)']
          : undefined;
      const refused = chainError(socket);
      if (refused !== undefined) return refused;
      if (options.checkClientAddress === true) {
        const mismatch = checkServerIdentity(address.replace(/^::ffff:/, ''), cert);
        if (mismatch !== undefined)
          return ['CLIENT_ADDRESS', `the client's certificate does not name ${address}: ${mismatch.message}`];
      }
      return this.checkDepth(socket, options);
    });
    return socket;
  }

  stalled(peer: string, ms: number): TlsError {
    return new TlsError(
      'DIST_TLS_HANDSHAKE',
      'TIMEOUT',
      `TLS handshake with ${peer} not done within ${ms} ms (the peer stalls, or does not speak TLS)`,
      { peer },
    );
  }

  /**
   * Reports the handshake's end: `check` runs once it is secure and names what it refuses.
   * Failures before that (alerts, a peer that is not TLS, a close) are failures too.
   */
  private watch(
    socket: TLSSocket,
    peer: string,
    doing: string,
    events: TransportEvents,
    check: () => [reason: string, message: string] | undefined,
  ): void {
    let settled = false;
    const fail = (reason: string, message: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      const context = cause === undefined ? { peer } : { peer, cause };
      events.fail(
        new TlsError('DIST_TLS_HANDSHAKE', reason, `TLS ${doing} ${peer} refused: ${message}`, context),
      );
    };
    // A client's certificate checks run on 'secure'; 'secureConnect' follows once they pass.
    socket.once(doing === 'dial to' ? 'secureConnect' : 'secure', () => {
      if (settled) return;
      const refused = check();
      if (refused !== undefined) {
        fail(...refused);
        socket.destroy();
        return;
      }
      settled = true;
      events.ready();
    });
    socket.on('error', (err: Error & { code?: string; reason?: string }) => {
      if (settled) return;
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return fail('PEER_CLOSED', PEER_CLOSED, err);
      // OpenSSL's messages carry file names and addresses; its `reason` is the readable part.
      const what =
        err.code?.startsWith('ERR_SSL_') === true && err.reason !== undefined ? err.reason : err.message;
      fail(err.code ?? 'TLS', `${what}${err.code === undefined ? '' : ` (${err.code})`}`, err);
    });
    socket.once('close', () => fail('PEER_CLOSED', PEER_CLOSED));
  }

  /** OTP's depth: how many intermediate CAs may sit between the peer's certificate and a trusted one. */
  private checkDepth(socket: TLSSocket, options: DistributionTlsSide): [string, string] | undefined {
    if (options.depth === undefined) return undefined;
    let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
    let issued = 0;
    const seen = new Set<string>();
    while (cert !== undefined && Object.keys(cert).length > 0 && !seen.has(cert.fingerprint256)) {
      seen.add(cert.fingerprint256);
      if (
        cert.issuerCertificate === undefined ||
        cert.issuerCertificate.fingerprint256 === cert.fingerprint256
      )
        break;
      issued++;
      cert = cert.issuerCertificate;
    }
    // `issued` counts the peer and its intermediates, each issued by the next one.
    const intermediates = Math.max(0, issued - 1);
    return intermediates > options.depth
      ? ['DEPTH', `${intermediates} intermediate CAs, more than depth ${options.depth}`]
      : undefined;
  }

  /** The side's options and context, rebuilt first when a file changed since. */
  private current(side: TlsSideName): Side {
    const stamp = this.fileStamp();
    if (stamp !== this.stamp && stamp !== this.failedStamp) {
      try {
        this.sides = this.build();
        this.stamp = stamp;
        this.logger.info('TLS distribution certificates changed: reloaded', {});
      } catch (err) {
        // A rotation caught half-way (a new certificate, the old key): keep serving the old pair.
        this.failedStamp = stamp;
        this.logger.warn('TLS distribution certificates changed but cannot be used; keeping the old ones', {
          error: (err as Error).message,
        });
      }
    }
    return this.sides[side];
  }

  private resolved(): Record<TlsSideName, DistributionTlsSide> {
    const { optfile, client, server, ...both } = this.options;
    const file = optfile === undefined ? { client: {}, server: {} } : readSslDistOptfile(optfile);
    return { client: merge(file.client, both, client), server: merge(file.server, both, server) };
  }

  private files(): string[] {
    const out = this.options.optfile === undefined ? [] : [this.options.optfile];
    let sides: Record<TlsSideName, DistributionTlsSide>;
    try {
      sides = this.resolved();
    } catch {
      return out;
    }
    for (const side of Object.values(sides))
      for (const s of [...sources(side.ca), side.cert, side.key, side.dhparam, ...sources(side.crl)])
        if (typeof s === 'string') out.push(s);
    return out;
  }

  private fileStamp(): string {
    return this.files()
      .map((f) => {
        try {
          const st = statSync(f);
          return `${f}:${st.mtimeMs}:${st.size}:${st.ino}`;
        } catch {
          return `${f}:missing`;
        }
      })
      .join('|');
  }

  private build(): Record<TlsSideName, Side> {
    const sides = this.resolved();
    return { client: this.buildSide('client', sides.client), server: this.buildSide('server', sides.server) };
  }

  private buildSide(name: TlsSideName, options: DistributionTlsSide): Side {
    const verify = options.verify !== 'verify_none';
    const ca = sources(options.ca);
    if (verify && ca.length === 0)
      throw config(
        'ca',
        `TLS distribution (${name}): verify_peer needs ca (cacertfile), the CA that signs peers`,
      );
    if ((options.cert === undefined) !== (options.key === undefined))
      throw config('cert', `TLS distribution (${name}): cert and key go together`);
    const versions = options.versions ?? ['tlsv1.2', 'tlsv1.3'];
    const protocols = versions.map((v) => PROTOCOLS[v]).sort();
    const secure: SecureContextOptions = {
      minVersion: protocols[0]!,
      maxVersion: protocols[protocols.length - 1]!,
    };
    if (ca.length > 0) secure.ca = ca.map((s) => pem(s, 'ca'));
    if (options.cert !== undefined) secure.cert = pem(options.cert, 'cert');
    if (options.key !== undefined) secure.key = pem(options.key, 'key');
    if (options.passphrase !== undefined) secure.passphrase = options.passphrase;
    if (options.ciphers !== undefined) secure.ciphers = options.ciphers;
    if (options.honorCipherOrder !== undefined) secure.honorCipherOrder = options.honorCipherOrder;
    if (options.dhparam !== undefined) secure.dhparam = pem(options.dhparam, 'dhparam');
    const crl = sources(options.crl);
    if (crl.length > 0) secure.crl = crl.map((s) => pem(s, 'crl'));
    try {
      return { options, context: createSecureContext(secure) };
    } catch (err) {
      throw config(
        (err as { code?: string }).code ?? 'context',
        `TLS distribution (${name}): ${(err as Error).message}`,
        err,
      );
    }
  }
}
