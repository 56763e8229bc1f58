/**
 * A node's connections to other nodes: dialling (resolve, connect, handshake), accepting (the
 * listener's sockets, net_kernel's accept rules), the waiters of `connect`, simultaneous
 * connects, and up/down. What flows over a connection goes to {@link ConnectionsHandlers}.
 */
import { randomInt } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import { DistError, EidError } from '../errors.ts';
import type { Logger, LogSummary } from '../log.ts';
import { busyPoll } from './busy-poll.ts';
import { Connection } from './connection.ts';
import type { Signal } from './control.ts';
import { SendQueueFullError } from './errors.ts';
import { DEFAULT_FLAGS, DistFlags, hasFlag } from './flags.ts';
import {
  splitNodeName,
  type AcceptStatus,
  type HandshakeOptions,
  type HandshakeResult,
} from './handshake.ts';
import { HandshakeLimiter, type HandshakeLimits } from './handshake-limit.ts';
import type { InboundBudget } from './inbound-budget.ts';
import type { Peers } from './process-table.ts';
import type { Resolver } from './resolver.ts';
import { tcpTransport, type DistTransport, type TransportEvents } from './transport.ts';

export interface ConnectionsOptions {
  name: string;
  cookie: string;
  creation: number;
  hidden: boolean;
  resolver: Resolver;
  tickTimeMs: number;
  connectTimeoutMs: number;
  /** Bounds on what a peer may make us hold: per connection, and handshakes in progress. */
  limits: HandshakeLimits & {
    maxFrame?: number;
    maxReassemblyBytes?: number;
    maxSequences?: number;
    budget?: InboundBudget;
    sendHighWater?: number;
    maxSendQueue?: number;
  };
  logger: Logger;
  /** Where failed handshakes are counted and summarised. */
  handshakeFailures?: LogSummary;
  /** The listening server whose sockets are incoming connections. */
  server: Server;
  /** TCP (default) or TLS (tls.ts). */
  transport?: DistTransport;
  /** Keep the event loop polling this long after a read in an exchange (µs; 0: never), see busy-poll.ts. */
  busyPollMicros: number;
}

/** What happens on the connections, for the node to act on. */
export interface ConnectionsHandlers {
  signal(conn: Connection, signal: Signal): void;
  up(node: string, info: { hidden: boolean }): void;
  down(node: string, reason: string): void;
  /** The connection to `node` fell back below its send high-water mark. */
  drain(node: string): void;
}

/** Sends from JS to a node not yet connected that may wait for the connection (docs/node.md, "Backpressure"). */
export const MAX_WAITING_SENDS = 10_000;

/** Creations (and dynamic names) we pick ourselves are random positive 31-bit numbers. */
export const MAX_CREATION = 0x7fffffff;

/** One outgoing attempt (its identity tells a stale resolve from the current one). */
interface Dial {
  conn?: Connection;
}

interface Waiters {
  resolve: ((c: Connection) => void)[];
  reject: ((e: Error) => void)[];
  timer: NodeJS.Timeout;
}

export class Connections implements Peers {
  private readonly name: string;
  private readonly flags: bigint;
  /** Connections that completed the handshake, by peer name. */
  private readonly established = new Map<string, Connection>();
  /**
   * Incoming handshakes past send_name, by the name they claim. None has proved the cookie yet,
   * so several may claim one name; the first to answer our challenge wins (docs/distribution.md).
   */
  private readonly accepting = new Map<string, Set<Connection>>();
  /** Our outgoing setups, by node; no connection yet while the address is being resolved. */
  private readonly dialing = new Map<string, Dial>();
  private readonly waiters = new Map<string, Waiters>();
  private readonly sockets = new Set<Socket>();
  private readonly handshakeLimiter: HandshakeLimiter;
  /** Incoming connections still in the handshake, with the source whose slot each holds. */
  private readonly admitted = new Map<Connection, string>();
  /** Signals waiting for a connection to come up, by node. */
  private readonly waitingSends = new Map<string, number>();
  private stopped = false;
  private readonly transport: DistTransport;

  constructor(
    private readonly options: ConnectionsOptions,
    private readonly handlers: ConnectionsHandlers,
  ) {
    this.name = options.name;
    this.flags = options.hidden ? DEFAULT_FLAGS : DEFAULT_FLAGS | DistFlags.PUBLISHED;
    this.handshakeLimiter = new HandshakeLimiter(options.limits, options.logger);
    this.transport = options.transport ?? tcpTransport;
    options.server.on('connection', (socket) => this.accept(socket));
  }

  /** Connected nodes: visible ones, hidden ones, or all (every peer is hidden to a hidden node). */
  nodes(which: 'visible' | 'hidden' | 'connected'): string[] {
    const out: string[] = [];
    for (const [name, conn] of this.established) {
      const visible = hasFlag(conn.flags, DistFlags.PUBLISHED) && !this.options.hidden;
      if (which === 'connected' || (which === 'visible') === visible) out.push(name);
    }
    return out;
  }

  /** Connects to `node` (resolving its address) unless already connected. */
  connect(node: string): Promise<Connection> {
    if (this.stopped)
      return Promise.reject(new DistError('DIST_STOPPED', 'node is stopped', { node: this.name }));
    if (splitNodeName(node) === undefined) {
      return Promise.reject(
        new DistError('DIST_BAD_NODE_NAME', `'${node}' is not a node name (name@host)`, { node }),
      );
    }
    if (node === this.name)
      return Promise.reject(new DistError('DIST_BADARG', 'a node does not connect to itself', { node }));
    const up = this.established.get(node);
    if (up !== undefined) return Promise.resolve(up);
    const promise = new Promise<Connection>((resolve, reject) => {
      let w = this.waiters.get(node);
      if (w === undefined) {
        const timer = setTimeout(() => {
          // Our own attempt, still setting up, fails with its reason (a stalled TLS handshake, say).
          this.dialing.get(node)?.conn?.setupTimedOut();
          this.failWaiters(
            node,
            new DistError('DIST_CONNECT_TIMEOUT', `connection setup to ${node} timed out`, { node }),
          );
        }, this.options.connectTimeoutMs);
        w = { resolve: [], reject: [], timer };
        this.waiters.set(node, w);
      }
      w.resolve.push(resolve);
      w.reject.push(reject);
    });
    // Pending incoming handshakes claiming `node` are not proof of anything: dial anyway.
    if (!this.dialing.has(node)) this.dial(node);
    return promise;
  }

  /** Closes the connection to `node` (erlang:disconnect_node). */
  disconnect(node: string): boolean {
    const conn = this.established.get(node);
    if (conn === undefined) return false;
    conn.close('disconnect');
    return true;
  }

  /**
   * Throws {@link SendQueueFullError} when a send from JS to `node` must not be queued: its
   * connection holds `maxSendQueue` bytes, or {@link MAX_WAITING_SENDS} wait for it to come up.
   */
  admit(node: string): void {
    const conn = this.established.get(node);
    if (conn !== undefined) return conn.admit();
    const waiting = this.waitingSends.get(node) ?? 0;
    if (waiting >= MAX_WAITING_SENDS) throw new SendQueueFullError(waiting, MAX_WAITING_SENDS, node);
  }

  /** Bytes waiting to go to `node` on its connection (0 when not connected). */
  queuedBytes(node: string): number {
    return this.established.get(node)?.queuedBytes ?? 0;
  }

  /** Sends over the connection to `node`, connecting first when needed (Erlang's auto-connect). */
  send(node: string, signal: Signal, autoConnect = true): void {
    const conn = this.established.get(node);
    if (conn !== undefined) {
      conn.send(signal);
      return;
    }
    if (!autoConnect || this.stopped) return;
    this.waitingSends.set(node, (this.waitingSends.get(node) ?? 0) + 1);
    this.connect(node)
      .finally(() => {
        const left = (this.waitingSends.get(node) ?? 1) - 1;
        if (left > 0) this.waitingSends.set(node, left);
        else this.waitingSends.delete(node);
      })
      .then(
        (c) => c.send(signal),
        (err: unknown) =>
          this.options.logger.debug('dropping signal to unreachable node', {
            node,
            kind: signal.kind,
            error: String(err),
          }),
      )
      .catch((err: unknown) => this.unsendable(node, signal, err));
  }

  /** A signal sent once its connection was up failed to encode: there is no caller left to throw to. */
  private unsendable(node: string, signal: Signal, err: unknown): void {
    this.options.logger.warn('dropping a signal that cannot be encoded', {
      node,
      kind: signal.kind,
      error: String(err),
    });
  }

  sendOrElse(node: string, signal: Signal, unreachable: () => void): void {
    const conn = this.established.get(node);
    if (conn !== undefined) {
      conn.send(signal);
      return;
    }
    this.connect(node)
      .then((c) => c.send(signal), unreachable)
      .catch((err: unknown) => this.unsendable(node, signal, err));
  }

  /** Refuses new connections, closes every one and the listener; `connect` waiters fail. */
  async stop(): Promise<void> {
    this.stopped = true;
    const pending = [...this.accepting.values()].flatMap((set) => [...set]);
    for (const conn of [...this.established.values(), ...pending]) conn.close('shutdown');
    this.handshakeLimiter.stop();
    for (const socket of this.sockets) socket.destroy();
    for (const node of [...this.waiters.keys()])
      this.failWaiters(node, new DistError('DIST_STOPPED', 'node stopped', { node }));
    await new Promise<void>((resolve) => this.options.server.close(() => resolve()));
  }

  private handshakeOptions(peerName?: string): HandshakeOptions {
    const opts = {
      thisName: this.name,
      cookie: this.options.cookie,
      flags: this.flags,
      creation: this.options.creation,
      accept: (peer: string, _flags: bigint, dynamic: boolean) => this.acceptStatus(peer, dynamic),
    };
    return peerName === undefined ? opts : { ...opts, peerName };
  }

  /** net_kernel's accept_pending: decides on an incoming connection from `peer`. */
  private acceptStatus(peer: string, dynamic: boolean): AcceptStatus {
    if (this.stopped) return { status: 'not_allowed' };
    if (dynamic) {
      return {
        status: 'named',
        name: `js${randomInt(1, MAX_CREATION).toString(36)}@${peer}`,
        creation: randomInt(1, MAX_CREATION),
      };
    }
    // The old connection stays until the new peer has proved the cookie (OTP's wait_pending).
    if (this.established.has(peer)) return { status: 'alive' };
    // Simultaneous connect: the node with the greater name keeps its own attempt. Our attempt
    // with the smaller name only ends once the incoming one has proved the cookie.
    if (this.dialing.has(peer)) return this.name > peer ? { status: 'nok' } : { status: 'ok_simultaneous' };
    // Other incoming handshakes claiming `peer` are unproven: this one runs beside them.
    return { status: 'ok' };
  }

  private accept(raw: Socket): void {
    if (this.stopped) {
      raw.destroy();
      return;
    }
    const source = this.handshakeLimiter.admit(raw.remoteAddress);
    if (source === undefined) {
      raw.destroy();
      return;
    }
    const peer = `${raw.remoteAddress ?? '?'}:${raw.remotePort ?? 0}`;
    const opts = this.handshakeOptions();
    const handshake: HandshakeOptions = {
      ...opts,
      accept: (name: string, flags: bigint, dynamic: boolean) => {
        const status = opts.accept!(name, flags, dynamic);
        if (status.status === 'ok' || status.status === 'ok_simultaneous' || status.status === 'alive') {
          conn.peerName = name;
          let set = this.accepting.get(name);
          if (set === undefined) this.accepting.set(name, (set = new Set()));
          set.add(conn);
        }
        return status;
      },
    };
    // The callbacks above run only once bytes arrive, after `conn` is set.
    const conn: Connection = this.wire(
      (events) => this.transport.accept(raw, events),
      'acceptor',
      handshake,
      peer,
    );
    this.admitted.set(conn, source);
  }

  /** An incoming connection left the handshake phase: its slot is free. */
  private leaveHandshake(conn: Connection): void {
    const source = this.admitted.get(conn);
    if (source === undefined) return;
    this.admitted.delete(conn);
    this.handshakeLimiter.release(source);
  }

  /** Forgets the incoming handshake `conn` for `node`; whether it was there. */
  private forgetAccepting(node: string, conn: Connection): boolean {
    const set = this.accepting.get(node);
    if (set === undefined || !set.delete(conn)) return false;
    if (set.size === 0) this.accepting.delete(node);
    return true;
  }

  private dial(node: string): void {
    const attempt: Dial = {};
    this.dialing.set(node, attempt);
    this.options.resolver.resolve(node).then(
      ({ host, port }) => {
        // Stopped, or an incoming connection came up while we resolved.
        if (this.stopped || this.dialing.get(node) !== attempt) return;
        const nodeHost = splitNodeName(node)?.host ?? host;
        attempt.conn = this.wire(
          (events) => this.transport.dial(host, port, nodeHost, events),
          'initiator',
          this.handshakeOptions(node),
          `${host}:${port}`,
        );
      },
      (err: unknown) => {
        if (this.dialing.get(node) !== attempt) return;
        this.dialing.delete(node);
        const error =
          err instanceof EidError
            ? err
            : new DistError('DIST_RESOLVE', `cannot resolve ${node}: ${String(err)}`, { node, cause: err });
        this.failWaiters(node, error);
      },
    );
  }

  /**
   * A connection over the socket `open` gives: the initiator starts the handshake once the
   * transport is ready (connected; TLS verified), the acceptor waits for the peer's name.
   */
  private wire(
    open: (events: TransportEvents) => Socket,
    role: 'initiator' | 'acceptor',
    handshake: HandshakeOptions,
    peer: string,
  ): Connection {
    let ready = false;
    const pollMicros = this.options.busyPollMicros;
    // Only in an exchange: between the reads of a one-way stream (1 MB binaries from a BEAM
    // node) a spinning loop takes the CPU the sender needs (docs/performance.md, Distribution).
    const poll = () => {
      if (conn.takeSentSinceRead()) busyPoll.touch(pollMicros);
    };
    // Failures, reads and an initiator's `ready` come only after this returns: `conn` is set by then.
    const socket = open({
      ready: () => {
        ready = true;
        if (role === 'initiator') conn.start();
      },
      fail: (error) => conn.close(error.code, error),
      reads: {
        // Asked first while the socket is set up, before `conn` is.
        target: () => (ready ? conn.readTarget() : undefined),
        read: (into, n) => {
          poll();
          conn.feedRead(into, n);
        },
      },
    });
    this.sockets.add(socket);
    const conn = new Connection(
      socket,
      {
        role,
        handshake,
        tickTimeMs: this.options.tickTimeMs,
        setupTimeMs: this.options.connectTimeoutMs,
        handshakePrefix: this.transport.handshakePrefix,
        closedHint: this.transport.closedHint,
        stalled: (ms) => (ready ? undefined : this.transport.stalled(peer, ms)),
        peer,
        logger: this.options.logger,
        handshakeFailures: this.options.handshakeFailures,
        ...this.options.limits,
      },
      {
        up: (c, result) => this.onUp(c, result),
        signal: (c, s) => {
          try {
            this.handlers.signal(c, s);
          } catch (err) {
            c.close(
              'bad_signal',
              err instanceof DistError ? err : new DistError('DIST_INTERNAL', String(err), { cause: err }),
            );
          }
        },
        down: (c, reason, error) => this.onDown(c, reason, error),
        drain: (c) => {
          if (this.established.get(c.peerName) === c) this.handlers.drain(c.peerName);
        },
      },
    );
    // A transport that reads with `onread` emits no 'data'.
    socket.on('data', (chunk: Buffer) => {
      poll();
      conn.feed(chunk);
    });
    socket.on('error', (err) => conn.transportClosed(err));
    socket.on('close', () => {
      this.sockets.delete(socket);
      conn.transportClosed();
    });
    if (role === 'acceptor') conn.start();
    return conn;
  }

  private onUp(conn: Connection, result: HandshakeResult): void {
    const node = result.peerName;
    let dial: Connection | undefined;
    if (conn.role === 'initiator') {
      if (this.dialing.get(node)?.conn === conn) this.dialing.delete(node);
    } else {
      this.leaveHandshake(conn);
      this.forgetAccepting(node, conn);
      dial = this.dialing.get(node)?.conn;
      this.dialing.delete(node);
    }
    // This peer has proved the cookie: now, and only now, the connection it replaces goes
    // (OTP's wait_pending), and so do the unproven handshakes claiming its name.
    const old = this.established.get(node);
    if (old !== undefined && old !== conn) old.close('connection_replaced');
    const others = this.accepting.get(node);
    this.accepting.delete(node);
    this.established.set(node, conn);
    const w = this.waiters.get(node);
    if (w !== undefined) {
      this.waiters.delete(node);
      clearTimeout(w.timer);
      for (const resolve of w.resolve) resolve(conn);
    }
    for (const other of others ?? []) other.close('superseded');
    // Our own attempt lost the simultaneous connect (OTP kills it as `remarked`).
    dial?.close('remarked');
    this.handlers.up(node, { hidden: !hasFlag(result.peerFlags, DistFlags.PUBLISHED) });
  }

  private onDown(conn: Connection, reason: string, error: DistError | undefined): void {
    const node = conn.peerName;
    if (!conn.isUpOnce) {
      // A failed handshake. An outgoing one that lost a simultaneous connect waits for the incoming one.
      if (conn.role === 'initiator') {
        const target = conn.dialled;
        if (this.dialing.get(target)?.conn !== conn) return;
        this.dialing.delete(target);
        if (
          this.established.has(target) ||
          (error?.code === 'DIST_HANDSHAKE_NOK' && this.accepting.has(target))
        )
          return;
        this.failWaiters(
          target,
          error ??
            new DistError('DIST_CONNECT_FAILED', `cannot connect to ${target}: ${reason}`, { node: target }),
        );
      } else {
        this.leaveHandshake(conn);
        // Waiters fail only when nothing else is still trying to reach the node.
        if (
          node !== '' &&
          this.forgetAccepting(node, conn) &&
          !this.dialing.has(node) &&
          !this.accepting.has(node)
        )
          this.failWaiters(
            node,
            error ?? new DistError('DIST_CONNECT_FAILED', `connection from ${node} failed`, { node }),
          );
      }
      return;
    }
    if (this.established.get(node) !== conn) return;
    this.established.delete(node);
    this.handlers.down(node, reason);
  }

  private failWaiters(node: string, error: Error): void {
    const w = this.waiters.get(node);
    if (w === undefined) return;
    this.waiters.delete(node);
    clearTimeout(w.timer);
    for (const reject of w.reject) reject(error);
  }
}
