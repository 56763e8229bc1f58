/**
 * A drop-in EPMD server with the semantics of OTP's epmd (epmd_srv.c): stock nodes register with
 * it, stock clients look names up in it. Names it does not know are asked of an optional
 * NameSource (the daemon plugs the Docker catalog in there); the server itself knows nothing of
 * where those come from.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { EpmdError } from '../errors.ts';
import { LogSummary, silentLogger } from '../log.ts';
import type { Logger } from '../log.ts';
import {
  EpmdDistVersion,
  EpmdLimits,
  EpmdResult,
  EpmdKillReply,
  EPMD_REFUSED_CREATION,
  RequestFramer,
  EpmdStopReply,
  decodeRequest,
  encodeAlive2Reply,
  encodeNamesReply,
  encodePort2Reply,
  encodePortPrefix,
} from './protocol.ts';
import type { Alive2Request, EpmdRequest } from './protocol.ts';
import type { NameSource, NodeEntry } from './types.ts';
import { epmdAddressesFromEnv, epmdPortFromEnv, relaxedCommandCheckFromEnv } from './env.ts';
import { isLocalPeer, listenSpecs, peerText, addressGroup } from './address.ts';
import { NodeRegistry, type RegisteredNode, type Registration } from './registry.ts';

// Part of this module's API since its first version (the daemon imports it from here).
export { DEFAULT_EPMD_PORT } from './env.ts';
// Public API through epmd/index.ts, which re-exports this module (they were defined here before).
export { isLocalPeer } from './address.ts';
export type { RegisteredNode } from './registry.ts';

export interface EpmdServerOptions {
  /** Default: ERL_EPMD_PORT, else 4369. */
  port?: number;
  /**
   * Addresses to listen on. Default: ERL_EPMD_ADDRESS (comma or space separated, like epmd), else
   * all interfaces (IPv4 and IPv6 where available). As with epmd, a given list always gets the
   * loopback addresses added.
   */
  addresses?: string[];
  /** Consulted for names not registered locally (local registrations win). */
  source?: NameSource;
  logger?: Logger;
  /** Open connections at most (registered nodes included); more are closed at once. Default 1024. */
  maxConnections?: number;
  /**
   * Open connections at most from one source (an IPv4 address, an IPv6 /64), registered nodes not
   * counted; more are closed at once, so one address cannot take the slots other hosts need. Default 64.
   */
  maxConnectionsPerSource?: number;
  /** A connection that has sent nothing for this long before its request is whole is closed. Default 60 s, like epmd. */
  packetTimeoutMs?: number;
  /**
   * A connection that is not a registration is closed this long after it was accepted, however
   * steadily it trickles bytes. Default 10 s.
   */
  requestTimeoutMs?: number;
  /** Largest request body accepted. Default (and maximum useful) is epmd's: 3057 bytes. */
  maxRequestSize?: number;
  /** Allow KILL with live nodes and STOP (epmd -relaxed_command_check). Default: ERL_EPMD_RELAXED_COMMAND_CHECK set. */
  relaxedCommandCheck?: boolean;
  /**
   * Listening sockets inherited as file descriptors (systemd socket activation), served instead of
   * binding `port` on `addresses`.
   */
  listenFds?: readonly number[];
  /** Called after each PORT_PLEASE2 reply: who answered, and seconds from accepting the connection. */
  onLookup?: (outcome: LookupOutcome, seconds: number) => void;
}

/** Who answered a lookup: a node registered here, the name source, or nobody. */
export type LookupOutcome = 'registered' | 'source' | 'unknown';

/** The bounds on what peers can hold, as `eid epmd` and `eid daemon` set them from flags. */
export type EpmdConnectionLimits = Pick<
  EpmdServerOptions,
  'maxConnections' | 'maxConnectionsPerSource' | 'packetTimeoutMs' | 'requestTimeoutMs'
>;

interface Connection {
  socket: net.Socket;
  /** Only allocated when a request arrives in pieces. */
  framer: RequestFramer | undefined;
  lastActivity: number;
  readonly acceptedAt: number;
  /** performance.now() at accept, for the lookup latency (0 without an onLookup hook). */
  readonly acceptedHr: number;
  /** The per-source group this connection is counted in; undefined once it no longer counts. */
  source: string | undefined;
  /** The one request of this connection has been read. */
  answered: boolean;
  registration?: Registration<net.Socket> | undefined;
}

const DEFAULT_MAX_CONNECTIONS = 1024;
const DEFAULT_MAX_CONNECTIONS_PER_SOURCE = 64;
const DEFAULT_PACKET_TIMEOUT_MS = 60_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

const peerOf = (socket: net.Socket) => peerText(socket.remoteAddress, socket.remotePort);

export class EpmdServer {
  private readonly options: EpmdServerOptions;
  private readonly logger: Logger;
  private readonly maxConnections: number;
  private readonly maxConnectionsPerSource: number;
  private readonly packetTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxRequestSize: number;
  private readonly relaxed: boolean;
  private listeners: net.Server[] = [];
  private readonly connections = new Map<net.Socket, Connection>();
  /** Counted connections per source group (see maxConnectionsPerSource). */
  private readonly perSource = new Map<string, number>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly nodes = new NodeRegistry<net.Socket>(Date.now, (n) => !!this.options.source?.claims?.(n));
  /** Connections closed without an answer since the last summary, by reason (logged once per sweep). */
  private readonly rejected: LogSummary;
  private state: 'new' | 'listening' | 'closed' = 'new';
  private resolveClosed!: () => void;
  /** Resolves once the server has stopped: by close() or by a KILL request. */
  readonly closed: Promise<void>;
  /** The port listened on (known after listen() when 0 was asked for). */
  port: number;

  constructor(options: EpmdServerOptions = {}) {
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.rejected = new LogSummary(this.logger, 'epmd: closed connections without a reply');
    this.port = options.port ?? epmdPortFromEnv();
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.maxConnectionsPerSource = options.maxConnectionsPerSource ?? DEFAULT_MAX_CONNECTIONS_PER_SOURCE;
    this.packetTimeoutMs = options.packetTimeoutMs ?? DEFAULT_PACKET_TIMEOUT_MS;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.maxRequestSize = Math.min(
      options.maxRequestSize ?? EpmdLimits.MAX_REQUEST_LENGTH,
      EpmdLimits.MAX_REQUEST_LENGTH,
    );
    this.relaxed = options.relaxedCommandCheck ?? relaxedCommandCheckFromEnv();
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** Binds every address; rejects with EPMD_ADDRESS_IN_USE or EPMD_LISTEN when a required one fails. */
  async listen(): Promise<void> {
    if (this.state !== 'new') throw new EpmdError('EPMD_STATE', `cannot listen: server is ${this.state}`);
    this.state = 'listening';
    const fds = this.options.listenFds;
    const specs = fds === undefined ? listenSpecs(this.options.addresses ?? epmdAddressesFromEnv()) : [];
    try {
      for (const fd of fds ?? []) await this.listenOnFd(fd);
      for (const spec of specs) {
        const server = net.createServer((socket) => this.accept(socket));
        try {
          await new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen({ host: spec.host, port: this.port, ipv6Only: net.isIPv6(spec.host) }, () => {
              server.off('error', reject);
              resolve();
            });
          });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (spec.optional && code !== 'EADDRINUSE') {
            this.logger.debug('epmd: address not available, skipped', { address: spec.host, error: code });
            continue;
          }
          throw new EpmdError(
            code === 'EADDRINUSE' ? 'EPMD_ADDRESS_IN_USE' : 'EPMD_LISTEN',
            code === 'EADDRINUSE'
              ? `there is already an epmd running at port ${this.port} on ${spec.host}`
              : `cannot listen on ${spec.host}:${this.port}: ${(err as Error).message}`,
            { peer: `${spec.host}:${this.port}`, cause: err },
          );
        }
        server.on('error', (err) => this.logger.error('epmd: listener error', { error: err }));
        this.listeners.push(server);
        // Port 0: every further address listens on the port the first one got.
        if (this.port === 0) this.port = (server.address() as net.AddressInfo).port;
      }
      if (this.listeners.length === 0) throw new EpmdError('EPMD_LISTEN', 'unable to bind any address');
      // One timer for all connections rather than one per socket: lookups stay cheap.
      const shortest = Math.min(this.packetTimeoutMs, this.requestTimeoutMs);
      this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(10, shortest / 4)));
      this.sweeper.unref();
    } catch (err) {
      await this.close();
      throw err;
    }
    this.logger.info('epmd: listening', {
      port: this.port,
      addresses: this.addresses().map((a) => a.address),
      relaxedCommandCheck: this.relaxed,
    });
  }

  private async listenOnFd(fd: number): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      throw new EpmdError('EPMD_LISTEN', `cannot serve inherited socket ${fd}: ${(err as Error).message}`, {
        cause: err,
      });
    });
    server.on('error', (err) => this.logger.error('epmd: listener error', { error: err }));
    this.listeners.push(server);
    this.port = (server.address() as net.AddressInfo).port;
  }

  /** Bound addresses and ports. */
  addresses(): net.AddressInfo[] {
    return this.listeners.map((s) => s.address() as net.AddressInfo);
  }

  /** Open client connections, registrations included. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Locally registered nodes, newest first (epmd's order). */
  registered(): RegisteredNode[] {
    return this.nodes.registered();
  }

  /** What a PORT_PLEASE2 for `name` answers: a local registration, else the source's entry. */
  lookup(name: string, localAddress?: string): NodeEntry | undefined {
    const local = this.nodes.get(name);
    if (local !== undefined) return local.entry;
    if (this.options.source === undefined) return undefined;
    try {
      return this.options.source.lookup(name, localAddress);
    } catch (err) {
      this.logger.error('epmd: name source failed on lookup', { name, error: err });
      return undefined;
    }
  }

  /** What a NAMES request lists: local registrations, then the source's names not registered here. */
  names(): { name: string; port: number }[] {
    const out = this.registered().map(({ name, port }) => ({ name, port }));
    if (this.options.source === undefined) return out;
    try {
      for (const n of this.options.source.names()) {
        // A newline or NUL would corrupt the line-based reply for every client.
        if (!this.nodes.has(n.name) && !/[\n\0]/.test(n.name)) out.push(n);
      }
    } catch (err) {
      this.logger.error('epmd: name source failed on names', { error: err });
    }
    return out;
  }

  /**
   * Stops listening and closes every connection (which unregisters every node). With `drainMs`,
   * lookups already accepted get that long to be answered first: with an inherited socket, the
   * connections not yet accepted wait in the kernel for the next process, so a restart fails none.
   */
  async close(drainMs = 0): Promise<void> {
    if (this.state === 'closed') return this.closed;
    this.state = 'closed';
    const listeners = this.listeners;
    this.listeners = [];
    clearInterval(this.sweeper);
    // Closing a listener stops accepting at once; its callback waits for its connections.
    const stopped = Promise.all(
      listeners.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    );
    if (drainMs > 0) await this.drain(drainMs);
    for (const socket of this.connections.keys()) socket.destroy();
    this.connections.clear();
    this.perSource.clear();
    this.nodes.clear();
    await stopped;
    this.logger.info('epmd: stopped', { port: this.port });
    this.resolveClosed();
    return this.closed;
  }

  /** Resolves once no connection but registrations is open, or after `ms`. */
  private async drain(ms: number): Promise<void> {
    const until = Date.now() + ms;
    const pending = () => [...this.connections.values()].some((c) => c.registration === undefined);
    while (pending() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  // -------------------------------------------------------------------------------------------

  private accept(socket: net.Socket): void {
    if (this.state !== 'listening' || this.connections.size >= this.maxConnections) {
      this.reject(socket, 'too many open connections');
      return;
    }
    const source = addressGroup(socket.remoteAddress);
    const fromSource = this.perSource.get(source) ?? 0;
    if (fromSource >= this.maxConnectionsPerSource) {
      this.reject(socket, 'too many open connections from one source');
      return;
    }
    this.perSource.set(source, fromSource + 1);
    const now = Date.now();
    const conn: Connection = {
      socket,
      framer: undefined,
      lastActivity: now,
      acceptedAt: now,
      acceptedHr: this.options.onLookup === undefined ? 0 : performance.now(),
      source,
      answered: false,
    };
    this.connections.set(socket, conn);
    socket.on('data', (chunk: Buffer) => this.receive(conn, chunk));
    socket.on('error', (err) =>
      this.logger.debug('epmd: connection error', { peer: peerOf(socket), error: err }),
    );
    socket.on('close', () => {
      this.connections.delete(socket);
      this.uncount(conn);
      if (conn.registration !== undefined) this.unregister(conn.registration, 'connection closed');
    });
  }

  private receive(conn: Connection, chunk: Buffer): void {
    const socket = conn.socket;
    if (conn.answered) {
      // A registered node's connection carries nothing more; epmd drops the node if it does.
      if (conn.registration !== undefined) {
        this.logger.warn('epmd: unexpected data on a registration connection', {
          node: conn.registration.entry.name,
          peer: conn.registration.peer,
        });
      }
      socket.destroy();
      return;
    }
    conn.lastActivity = Date.now();
    let body: Buffer | undefined;
    // Fast path: the whole request in one chunk, as clients send it.
    const declared = conn.framer === undefined && chunk.length >= 2 ? chunk.readUInt16BE(0) : -1;
    if (declared >= 1 && declared <= this.maxRequestSize && chunk.length === declared + 2) {
      body = chunk.subarray(2);
    } else {
      conn.framer ??= new RequestFramer(this.maxRequestSize);
      let bodies: Buffer[];
      try {
        bodies = conn.framer.push(chunk);
      } catch (err) {
        this.reject(socket, 'bad request length', err);
        return;
      }
      body = bodies[0];
      if (body === undefined) return;
      if (bodies.length > 1 || conn.framer.buffered > 0) {
        // Like epmd: more bytes than the request declared means a confused peer.
        this.reject(socket, 'more bytes than the request length');
        return;
      }
    }
    conn.answered = true;
    let request: EpmdRequest;
    try {
      request = decodeRequest(body);
    } catch (err) {
      this.reject(socket, 'malformed request', err);
      return;
    }
    conn.registration = this.handle(socket, request);
    // A registration lives as long as its node: it leaves the per-source count and the deadline.
    if (conn.registration !== undefined) this.uncount(conn);
  }

  private uncount(conn: Connection): void {
    if (conn.source === undefined) return;
    const left = (this.perSource.get(conn.source) ?? 1) - 1;
    if (left > 0) this.perSource.set(conn.source, left);
    else this.perSource.delete(conn.source);
    conn.source = undefined;
  }

  /**
   * Closes connections idle before their request is whole (epmd's sweep), and every connection but
   * a registration once the request deadline has passed: a request trickled byte by byte, or a
   * reply left unread.
   */
  private sweep(): void {
    this.rejected.flush();
    const now = Date.now();
    const idleCutoff = now - this.packetTimeoutMs;
    const deadline = now - this.requestTimeoutMs;
    for (const conn of this.connections.values()) {
      if (conn.registration !== undefined) continue;
      if (!conn.answered && conn.lastActivity <= idleCutoff) {
        this.reject(conn.socket, 'timed out on receive');
      } else if (conn.acceptedAt <= deadline) {
        this.reject(
          conn.socket,
          conn.answered ? 'reply not taken by the deadline' : 'request deadline passed',
        );
      }
    }
  }

  /** Answers one request; returns the registration when the connection now holds one. */
  private handle(socket: net.Socket, request: EpmdRequest): Registration<net.Socket> | undefined {
    // Only asked for requests restricted to local peers: lookups skip the getpeername call.
    const local = () => isLocalPeer(socket.remoteAddress, socket.localAddress);
    switch (request.type) {
      case 'alive2':
        if (!local()) return this.refuseRemote(socket, 'ALIVE2_REQ');
        return this.register(socket, request);
      case 'portPlease2':
        this.reply(socket, this.port2Reply(request.name, socket, this.connections.get(socket)));
        return undefined;
      case 'names':
        this.reply(socket, encodeNamesReply(this.port, this.names()));
        return undefined;
      case 'dump':
        if (!local()) return this.refuseRemote(socket, 'DUMP_REQ');
        this.reply(socket, this.dump());
        return undefined;
      case 'kill':
        if (!local()) return this.refuseRemote(socket, 'KILL_REQ');
        if (!this.relaxed && this.nodes.size > 0) {
          this.logger.warn('epmd: KILL refused: live nodes', { peer: peerOf(socket) });
          this.reply(socket, Buffer.from(EpmdKillReply.NO));
          return undefined;
        }
        this.logger.info('epmd: killed by KILL request', { peer: peerOf(socket) });
        socket.end(Buffer.from(EpmdKillReply.OK), () => void this.close());
        return undefined;
      case 'stop': {
        if (!local()) return this.refuseRemote(socket, 'STOP_REQ');
        if (!this.relaxed) {
          this.reject(socket, 'STOP_REQ without relaxed command check');
          return undefined;
        }
        const target = this.nodes.get(request.name);
        if (target === undefined) {
          this.reply(socket, Buffer.from(EpmdStopReply.NOEXIST));
          return undefined;
        }
        this.unregister(target, `stopped by ${peerOf(socket)}`);
        target.owner.destroy();
        this.reply(socket, Buffer.from(EpmdStopReply.STOPPED));
        return undefined;
      }
    }
  }

  /**
   * The PORT2_RESP for `name`. An entry from the source that the wire cannot carry (a port past
   * 65535, say) is treated like a failing source: logged, and answered as not registered. The
   * socket's local address (a getsockname call) is asked only when the source needs it.
   */
  private port2Reply(name: string, socket: net.Socket, conn: Connection | undefined): Buffer {
    const registered = this.nodes.get(name);
    let reply: Buffer;
    let outcome: LookupOutcome = 'registered';
    if (registered !== undefined) {
      reply = registered.port2Reply;
    } else {
      const entry = this.lookup(name, this.options.source === undefined ? undefined : socket.localAddress);
      outcome = entry === undefined ? 'unknown' : 'source';
      try {
        reply = encodePort2Reply(entry);
      } catch (err) {
        if (!(err instanceof EpmdError)) throw err;
        this.logger.error('epmd: name source gave an entry that cannot be encoded', { name, error: err });
        outcome = 'unknown';
        reply = encodePort2Reply(undefined);
      }
    }
    const onLookup = this.options.onLookup;
    if (onLookup !== undefined && conn !== undefined)
      onLookup(outcome, (performance.now() - conn.acceptedHr) / 1000);
    return reply;
  }

  /**
   * Sends a whole reply and closes the connection (stock clients read until the close). When the
   * system took the reply at once (the usual case) the socket closes in the same turn, as epmd's
   * write-then-close: the kernel sends the reply, then the FIN. `end()` would wait a turn of the
   * event loop for the socket to be writable before its shutdown, which is what the client waits for.
   */
  private reply(socket: net.Socket, bytes: Buffer): void {
    socket.write(bytes);
    if (socket.writableLength === 0) socket.destroy();
    else socket.end(() => socket.destroy());
  }

  private refuseRemote(socket: net.Socket, what: string): undefined {
    this.reject(socket, `${what} from a non-local address`);
    return undefined;
  }

  /**
   * Closes a connection without an answer, as epmd does. Logged at debug level one by one and
   * summarised at warn level once per sweep, so a flood cannot flood the log.
   */
  private reject(socket: net.Socket, reason: string, error?: unknown): void {
    this.logger.debug(`epmd: closing without a reply: ${reason}`, {
      peer: peerOf(socket),
      ...(error === undefined ? {} : { error }),
    });
    this.rejected.count(reason);
    socket.destroy();
  }

  private register(socket: net.Socket, req: Alive2Request): Registration<net.Socket> | undefined {
    const extended = req.highestVersion >= EpmdDistVersion.HIGHEST;
    const peer = peerOf(socket);
    const outcome = this.nodes.register(req, socket, peer);
    if ('refusal' in outcome) {
      this.logger.warn('epmd: registration refused', { node: req.name, peer, reason: outcome.refusal });
      this.reply(
        socket,
        encodeAlive2Reply({ result: EpmdResult.ERROR, creation: EPMD_REFUSED_CREATION, extended }),
      );
      return undefined;
    }
    const { registration } = outcome;
    const { name, port, nodeType, highestVersion, lowestVersion } = registration.entry;
    socket.write(encodeAlive2Reply({ result: EpmdResult.OK, creation: registration.creation, extended }));
    this.logger.info('epmd: registered', {
      node: name,
      port,
      creation: registration.creation,
      type: nodeType,
      versions: `${lowestVersion}-${highestVersion}`,
      peer,
    });
    return registration;
  }

  private unregister(registration: Registration<net.Socket>, reason: string): void {
    if (!this.nodes.unregister(registration)) return;
    const { name, port } = registration.entry;
    this.logger.info('epmd: unregistered', { node: name, port, creation: registration.creation, reason });
  }

  private dump(): Buffer {
    return Buffer.concat([encodePortPrefix(this.port), Buffer.from(this.nodes.dumpText(), 'utf8')]);
  }
}
