/**
 * How a node's connections get their byte streams: plain TCP (inet_tcp_dist), or TLS
 * (inet_tls_dist, tls.ts). The connections above see a net.Socket either way; the codecs below
 * them see only bytes.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { DistError } from '../errors.ts';
import type { PrefixSize } from './framing.ts';

/** What a transport reports while it sets a stream up. */
export interface TransportEvents {
  /** The stream may carry the distribution handshake now. */
  ready(): void;
  /** Setting the stream up failed (a refused certificate, a peer that is not TLS ...). */
  fail(error: DistError): void;
  /**
   * Where a transport that reads into buffers (Node's `onread`) reports its reads instead of
   * emitting 'data': `read` gets the first `n` bytes of `into`, valid only during the call;
   * `target` names the buffer for the next read, if not the transport's own.
   */
  readonly reads?: ReadSink;
}

export interface ReadSink {
  target(): Uint8Array | undefined;
  read(into: Uint8Array, n: number): void;
}

/** The buffer a dialled TCP connection reads into when its reader names none (one read's most). */
const READ_BUFFER_BYTES = 64 * 1024;

export interface DistTransport {
  readonly name: 'tcp' | 'tls';
  /** The handshake's length prefix: 2 bytes over TCP, 4 bytes inside TLS (as inet_tls_dist). */
  readonly handshakePrefix: PrefixSize;
  /** Dials `host:port`, the address of a node whose name has host part `nodeHost`. */
  dial(host: string, port: number, nodeHost: string, events: TransportEvents): Socket;
  /** Takes over a socket the listener accepted. */
  accept(raw: Socket, events: TransportEvents): Socket;
  /** What a close during the distribution handshake may mean on this transport. */
  readonly closedHint?: string;
  /** The error for a setup that timed out before `ready`, if the transport names one. */
  stalled(peer: string, ms: number): DistError | undefined;
}

export const tcpTransport: DistTransport = {
  name: 'tcp',
  handshakePrefix: 2,
  dial(host, port, _nodeHost, events) {
    // Node 20 has `onread` only for sockets it dials: accepted ones keep 'data' events.
    const reads = events.reads;
    let own: Buffer | undefined;
    const socket = netConnect({
      host,
      port,
      noDelay: true,
      ...(reads !== undefined && {
        onread: {
          buffer: () => reads.target() ?? (own ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES)),
          callback: (n: number, into: Uint8Array) => {
            reads.read(into, n);
            return true;
          },
        },
      }),
    });
    socket.once('connect', () => events.ready());
    return socket;
  },
  accept(raw, events) {
    events.ready();
    return raw;
  },
  stalled: () => undefined,
};
