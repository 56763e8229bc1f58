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
}

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
    const socket = netConnect({ host, port, noDelay: true });
    socket.once('connect', () => events.ready());
    return socket;
  },
  accept(raw, events) {
    events.ready();
    return raw;
  },
  stalled: () => undefined,
};
