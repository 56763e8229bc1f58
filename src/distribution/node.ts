/**
 * A TypeScript Erlang node: the public face of the parts that do the work. It listens,
 * registers with EPMD, and wires together its connections (connections.ts), its processes and
 * their link/monitor rules (process-table.ts), signal routing (router.ts), the answers OTP
 * expects of a node (services.ts, exposed.ts) and the calls it makes (calls.ts).
 */
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:net';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomInt } from 'node:crypto';
import { DistError, EpmdError } from '../errors.ts';
import { epmdRegister, type EpmdRegisterOptions } from '../epmd/client.ts';
import { KeptRegistration } from './kept-registration.ts';
import { EpmdNodeType } from '../epmd/protocol.ts';
import { formatTerm } from '../etf/format.ts';
import { toJS, type TermsMode } from '../etf/js.ts';
import { atom, type Atom, Pid, type Reference, tuple, type Term } from '../etf/terms.ts';
import { LogSummary, silentLogger, type Logger } from '../log.ts';
import { DEFAULT_NODE_PORT, nodePortFromEnv } from '../ports.ts';
import { DEFAULT_BUSY_POLL_MICROS, isBusyPollWindow, MAX_BUSY_POLL_MICROS } from './busy-poll.ts';
import { Caller } from './calls.ts';
import { DEFAULT_SETUP_MS, type Connection } from './connection.ts';
import { Connections, MAX_CREATION } from './connections.ts';
import { ProcessExit } from './errors.ts';
import { ExposedModules, type ExposedModule } from './exposed.ts';
import { GlobalServer } from './global.ts';
import { InboundBudget } from './inbound-budget.ts';
import { IoServer, type IoServerOptions, type IoTerminal } from './io-server.ts';
import { splitNodeName } from './handshake.ts';
import { ProcessTable } from './process-table.ts';
import { PgScope, type ScopeHost } from './pg.ts';
import { PubSub, type PubSubOptions } from './pubsub.ts';
import {
  ATOM_NORMAL,
  DEFAULT_CALL_TIMEOUT_MS,
  errorReason,
  isAtom,
  Process,
  type Destination,
  type From,
  type ProcessHost,
} from './process.ts';
import { EpmdResolver, type Resolver } from './resolver.ts';
import { Router } from './router.ts';
import { SYSTEM_NAMES, SystemServices, type ServicesHost } from './services.ts';
import { DistributionTls } from './tls.ts';
import type { DistributionTlsOptions } from './tls-optfile.ts';

export interface NodeOptions {
  /** `name@host`, or a short `name` (the host becomes this machine's short host name). */
  name: string;
  cookie: string;
  /** A hidden node: OTP nodes do not list it in nodes() nor pass it on to others. */
  hidden?: boolean;
  /** Port to listen on; default any free one, or the node port (12345) inside a container. */
  port?: number;
  /** Address to listen on (default all interfaces). */
  listenHost?: string;
  /** How to find other nodes (default: their host's EPMD). */
  resolver?: Resolver;
  epmd?: {
    /**
     * Register with the local EPMD (default true; inside a container, a refused registration is
     * skipped unless this is set explicitly, since no EPMD need run there).
     */
    register?: boolean;
    /** EPMD port (default ERL_EPMD_PORT, else 4369). */
    port?: number;
    host?: string;
    timeoutMs?: number;
  };
  /** net_ticktime in seconds (default 60, as OTP). */
  netTicktime?: number;
  /** Connection setup timeout in ms (default 7000, OTP's net_setuptime). */
  connectTimeoutMs?: number;
  /**
   * After a read from a node this node has sent to since its previous read (an exchange), keep
   * the event loop polling for this many microseconds instead of sleeping in epoll_wait, as BEAM's
   * schedulers spin before they sleep (`+sbwt`): a reply that comes back within the window is
   * read without waking the loop. An integer from 0 (never) to 1000; default 20 (docs/node.md,
   * "Busy polling").
   */
  busyPollMicros?: number;
  /**
   * TLS distribution (OTP's `-proto_dist inet_tls`): every connection, dialled or accepted, runs
   * inside TLS with these certificates and checks (docs/tls.md). Not the Docker resolver's `tls`.
   */
  distributionTls?: DistributionTlsOptions;
  /** Creation when not registering with EPMD (default random). */
  creation?: number;
  /** Bounds on what peers may make us hold (docs/node.md, "Limits"). */
  limits?: {
    /** Largest frame once connected, per connection (default 64 MiB). */
    maxFrame?: number;
    /** Bytes held for unfinished fragmented messages, per connection (default 64 MiB). */
    maxReassemblyBytes?: number;
    /** Fragmented messages in flight, per connection (default 64). */
    maxSequences?: number;
    /** Incoming connections in the handshake at once; more are closed at once (default 128). */
    maxHandshakes?: number;
    /** The same, per source address (an IPv6 /64 counts as one; default 16). */
    maxHandshakesPerAddress?: number;
    /** Bytes of frames still arriving and unfinished fragmented messages, all connections together (default 256 MiB). */
    maxInboundBytes?: number;
    /** Names other nodes register in `global` that this node records (default 20 000). */
    globalNames?: number;
    /** Resources other nodes lock through this node's `global` (default 10 000). */
    globalLocks?: number;
    /** Bytes waiting to be sent to a node above which `sendAsync` waits and `drain` is due (default 8 MiB). */
    sendHighWater?: number;
    /** Bytes waiting to be sent to a node at which `send` throws SendQueueFullError (default 64 MiB). */
    maxSendQueue?: number;
    /** Members on other nodes one `pg` scope records (default 100 000). */
    pgRemoteMembers?: number;
  };
  logger?: Logger;
  /**
   * `'js'`: what arrives from other nodes (messages to processes spawned here, `call` and `rpc`
   * results, exposed functions' arguments) is in the JS-friendly mapping (docs/etf.md). Default
   * `'erlang'`, the exact term model.
   */
  terms?: TermsMode;
}

export interface NodeEvents {
  nodeup: [node: string, info: { hidden: boolean }];
  nodedown: [node: string, info: { reason: string }];
  /** The bytes waiting to go to `node` fell back below `limits.sendHighWater` after passing it. */
  drain: [node: string];
}

const A = {
  gen_cast: atom('$gen_cast'),
  global_name_server: atom('global_name_server'),
  is_auth: atom('is_auth'),
  net_kernel: atom('net_kernel'),
  shutdown: atom('shutdown'),
} as const;

/** Repeated handshake failures of one kind are summarised in one log line per this many ms. */
const HANDSHAKE_FAILURE_SUMMARY_MS = 10_000;

/** OTP's default net_ticktime. */
const DEFAULT_NET_TICKTIME_S = 60;

/** Docker puts this file in every container. */
const inContainer = (): boolean => existsSync('/.dockerenv');

/**
 * Inside a container a node listens on the node port `eid daemon` looks for (EID_NODE_PORT or
 * EID_ERLANG_PORT, else 12345), so `ContainerID@HostIP` finds it; elsewhere on any free port.
 */
function defaultListenPort(): number {
  if (!inContainer()) return 0;
  return nodePortFromEnv() ?? DEFAULT_NODE_PORT;
}

export class Node extends EventEmitter<NodeEvents> implements ProcessHost {
  readonly name: string;
  readonly nodeAtom: Atom;
  readonly creation: number;
  readonly port: number;
  readonly hidden: boolean;
  /** The model terms from other nodes arrive in (NodeOptions.terms). */
  readonly terms: TermsMode;
  private readonly connectTimeoutMs: number;
  private readonly logger: Logger;
  private readonly registration: KeptRegistration | undefined;
  private readonly connections: Connections;
  /** Bytes held for messages not yet whole, all connections together. */
  private readonly inbound: InboundBudget;
  /** Our side of OTP's `global` (visible nodes only). */
  private readonly global: GlobalServer | undefined;
  /** Failed handshakes: the first of each kind logged, the repeats summarised per interval. */
  private readonly handshakeFailures: LogSummary;
  private readonly table: ProcessTable;
  private readonly router: Router;
  private readonly services: SystemServices;
  private readonly exposed = new ExposedModules();
  private readonly caller: Caller;
  /** Running `pg` scopes by name. */
  private readonly scopes = new Map<string, PgScope>();
  private readonly maxPgRemoteMembers: number | undefined;
  private readonly pubsubs = new Map<string, PubSub>();
  /** Sender of signals the node itself originates (replies of net_kernel/rex, node.send). */
  private readonly system: Process;
  private readonly tls: DistributionTls | undefined;
  private stopped = false;

  private constructor(init: {
    name: string;
    cookie: string;
    creation: number;
    port: number;
    hidden: boolean;
    resolver: Resolver;
    tickTimeMs: number;
    connectTimeoutMs: number;
    busyPollMicros: number;
    logger: Logger;
    server: Server;
    registration: KeptRegistration | undefined;
    limits: NodeOptions['limits'];
    tls: DistributionTls | undefined;
    terms: TermsMode;
  }) {
    super();
    this.name = init.name;
    this.nodeAtom = atom(init.name);
    this.creation = init.creation;
    this.port = init.port;
    this.hidden = init.hidden;
    this.terms = init.terms;
    this.exposed.terms = init.terms;
    this.connectTimeoutMs = init.connectTimeoutMs;
    this.logger = init.logger;
    this.registration = init.registration;
    this.tls = init.tls;
    const { maxInboundBytes, globalNames, globalLocks, pgRemoteMembers, ...perConnection } =
      init.limits ?? {};
    this.maxPgRemoteMembers = pgRemoteMembers;
    this.inbound = new InboundBudget(maxInboundBytes);
    this.handshakeFailures = new LogSummary(this.logger, 'distribution handshakes failed', {
      intervalMs: HANDSHAKE_FAILURE_SUMMARY_MS,
      firstMsg: 'distribution handshake failed',
    });
    this.connections = new Connections(
      {
        ...init,
        limits: { ...perConnection, budget: this.inbound },
        handshakeFailures: this.handshakeFailures,
        ...(init.tls === undefined ? {} : { transport: init.tls }),
      },
      {
        signal: (conn, signal) => this.router.onSignal(conn, signal),
        up: (node, info) => {
          this.logger.info('nodeup', { node, hidden: info.hidden });
          for (const scope of this.scopes.values()) scope.nodeUp(node);
          this.emit('nodeup', node, info);
        },
        down: (node, reason) => {
          this.table.nodeDown(node);
          this.services.nodeDown(node);
          this.logger.info('nodedown', { node, reason });
          this.emit('nodedown', node, { reason });
        },
        drain: (node) => this.emit('drain', node),
      },
    );
    const peers = this.connections;
    this.table = new ProcessTable({
      nodeAtom: this.nodeAtom,
      creation: this.creation,
      host: this,
      peers,
      reserved: SYSTEM_NAMES,
    });
    this.system = this.table.spawn();
    // Visible nodes only: hidden ones are outside global.
    this.global = this.hidden
      ? undefined
      : new GlobalServer(
          {
            nodeAtom: this.nodeAtom,
            locker: this.table.spawn(),
            castGlobal: (node, message) =>
              this.router.sendToName(A.global_name_server, node, tuple(A.gen_cast, message), this.system.pid),
            reply: (from, reply) => this.reply(from, reply),
            disconnect: (node) => this.disconnect(node),
            spawn: () => this.table.spawn(),
            callGlobal: (from, node, request) =>
              this.caller.callFrom(
                from,
                tuple(A.global_name_server, atom(node)),
                request,
                DEFAULT_CALL_TIMEOUT_MS,
              ),
            rpc: (node, module, fn, args) => this.rpc(node, module, fn, args, DEFAULT_CALL_TIMEOUT_MS),
            exit: (pid, reason) => this.exit(pid, reason),
            logger: this.logger,
          },
          { names: globalNames, locks: globalLocks },
        );
    const servicesHost: ServicesHost = {
      nodeAtom: this.nodeAtom,
      reply: (from, reply) => this.reply(from, reply),
      send: (to, message) => this.router.sendToPid(to, message, this.system.pid),
      spawnFor: (...request) => this.table.spawnFor(...request),
      warn: (msg, fields) => this.logger.warn(msg, fields),
    };
    this.services = new SystemServices(servicesHost, this.exposed, this.global);
    this.router = new Router({ table: this.table, peers, services: this.services, logger: this.logger });
    const connect = (node: string) => this.connect(node);
    this.caller = new Caller({
      table: this.table,
      router: this.router,
      peers,
      connect,
      exposed: this.exposed,
    });
  }

  /** Starts a node: listens, registers with EPMD (unless told not to), and is ready to connect. */
  static async start(options: NodeOptions): Promise<Node> {
    const name = options.name.includes('@')
      ? options.name
      : `${options.name}@${hostname().split('.')[0] ?? 'localhost'}`;
    const parts = splitNodeName(name);
    if (parts === undefined)
      throw new DistError('DIST_BAD_NODE_NAME', `'${options.name}' is not a valid node name`);
    const busyPollMicros = options.busyPollMicros ?? DEFAULT_BUSY_POLL_MICROS;
    if (!isBusyPollWindow(busyPollMicros))
      throw new DistError(
        'DIST_BADARG',
        `busyPollMicros must be an integer from 0 to ${MAX_BUSY_POLL_MICROS}, not ${busyPollMicros}`,
      );
    const logger = options.logger ?? silentLogger;
    // Bad TLS options fail here, before anything listens.
    const tls =
      options.distributionTls === undefined
        ? undefined
        : new DistributionTls(options.distributionTls, logger);
    const server = createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? defaultListenPort(), options.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    let registration: KeptRegistration | undefined;
    let creation = options.creation ?? randomInt(1, MAX_CREATION);
    const hidden = options.hidden ?? false;
    const registerOption = options.epmd?.register;
    if (registerOption !== false) {
      try {
        const epmdOpts: EpmdRegisterOptions = {
          nodeType: hidden ? EpmdNodeType.HIDDEN : EpmdNodeType.NORMAL,
        };
        if (options.epmd?.port !== undefined) epmdOpts.epmdPort = options.epmd.port;
        if (options.epmd?.host !== undefined) epmdOpts.host = options.epmd.host;
        if (options.epmd?.timeoutMs !== undefined) epmdOpts.timeoutMs = options.epmd.timeoutMs;
        const first = await epmdRegister(parts.alive, port, epmdOpts);
        creation = first.creation;
        registration = new KeptRegistration(first, parts.alive, port, epmdOpts, logger);
      } catch (err) {
        // A container usually runs no EPMD, and needs none: the host's eid daemon finds the node
        // through Docker. Only a registration asked for explicitly must then succeed.
        const optional =
          registerOption === undefined &&
          inContainer() &&
          err instanceof EpmdError &&
          err.code === 'EPMD_REFUSED';
        if (!optional) {
          server.close();
          throw err;
        }
      }
    }
    const epmdCall: { epmdPort?: number; timeoutMs?: number } = {};
    if (options.epmd?.port !== undefined) epmdCall.epmdPort = options.epmd.port;
    if (options.epmd?.timeoutMs !== undefined) epmdCall.timeoutMs = options.epmd.timeoutMs;
    const node = new Node({
      name,
      cookie: options.cookie,
      creation,
      port,
      hidden,
      resolver: options.resolver ?? new EpmdResolver(epmdCall),
      tickTimeMs: (options.netTicktime ?? DEFAULT_NET_TICKTIME_S) * 1000,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_SETUP_MS,
      busyPollMicros,
      logger,
      server,
      registration,
      limits: options.limits,
      tls,
      terms: options.terms ?? 'erlang',
    });
    logger.info('node started', { node: name, port, creation, tls: tls !== undefined });
    return node;
  }

  // Public API ------------------------------------------------------------------------------

  /** Connected nodes: visible ones (default), hidden ones, or all. */
  nodes(which: 'visible' | 'hidden' | 'connected' = 'visible'): string[] {
    return this.connections.nodes(which);
  }

  /** net_adm:ping: connects and asks the peer's net_kernel; true for pong. */
  async ping(node: string, timeoutMs = this.connectTimeoutMs): Promise<boolean> {
    if (node === this.name) return true;
    try {
      await this.connect(node);
      const reply = await this.call(
        tuple(A.net_kernel, atom(node)),
        tuple(A.is_auth, this.nodeAtom),
        timeoutMs,
      );
      return isAtom(reply, 'yes');
    } catch (err) {
      this.logger.debug('ping failed', { node, error: err instanceof Error ? err.message : String(err) });
      return false;
    }
  }

  /** Connects to `node` (resolving its address) unless already connected. */
  connect(node: string): Promise<Connection> {
    return this.connections.connect(node);
  }

  /**
   * Re-reads the TLS distribution certificates (and ssl_dist_optfile) now, for new connections;
   * they are also re-read when the files change. Throws {@link TlsError} and keeps the old ones
   * when the new files cannot serve, or DIST_BADARG when the node does not use TLS.
   */
  reloadTls(): void {
    if (this.tls === undefined)
      throw new DistError('DIST_BADARG', 'this node does not use TLS distribution', { node: this.name });
    this.tls.reload();
  }

  /** Closes the connection to `node` (erlang:disconnect_node). */
  disconnect(node: string): boolean {
    return this.connections.disconnect(node);
  }

  /**
   * Starts a JavaScript process running `body`; its result ends it with reason normal. Its
   * messages arrive in the node's `terms` model unless `terms` says otherwise.
   */
  spawn(
    body: (self: Process) => Promise<unknown> | unknown,
    options: { link?: Pid; trapExit?: boolean; terms?: TermsMode } = {},
  ): Process {
    const proc = this.table.spawn();
    proc.terms = options.terms ?? this.terms;
    if (options.trapExit === true) proc.trapExit = true;
    if (options.link !== undefined) this.link(proc, options.link);
    queueMicrotask(() => {
      Promise.resolve()
        .then(() => body(proc))
        .then(
          () => proc.terminate(ATOM_NORMAL),
          (err: unknown) => {
            if (!(err instanceof ProcessExit)) {
              this.logger.warn('process crashed', {
                pid: formatTerm(proc.pid),
                error: err instanceof Error ? err.message : String(err),
              });
            }
            proc.terminate(errorReason(err));
          },
        );
    });
    return proc;
  }

  /** Registers a local process under `name` (erlang:register). */
  register(name: string, proc: Process): void {
    this.table.register(name, proc);
  }

  unregister(name: string): boolean {
    return this.table.unregister(name);
  }

  whereis(name: string): Pid | undefined {
    return this.table.named(name)?.pid;
  }

  /**
   * The `pg` scope `scope` (OTP's default scope is `pg`), started on first use as pg:start/1
   * does: a process registered as `scope` that finds the same scope on every connected node.
   */
  pg(scope = 'pg'): PgScope {
    let s = this.scopes.get(scope);
    if (s === undefined || !s.process.alive) {
      const host: ScopeHost = {
        name: this.name,
        spawn: () => this.table.spawn(),
        register: (name, proc) => this.table.register(name, proc),
        send: (dest, message, from) => this.router.send(dest, message, from),
        connectedNodes: () => this.connections.nodes('connected'),
        logger: this.logger,
      };
      s = new PgScope(host, scope, { maxRemoteMembers: this.maxPgRemoteMembers });
      this.scopes.set(scope, s);
    }
    return s;
  }

  /**
   * The Phoenix.PubSub `name` (as the Elixir app names it, 'MyApp.PubSub'), served on this node
   * as phoenix_pubsub 2.x's PG2 adapter does: started on first use with `options`.
   */
  pubsub(name: string, options: PubSubOptions = {}): PubSub {
    let p = this.pubsubs.get(name);
    if (p === undefined) {
      p = new PubSub(
        {
          name: this.name,
          systemPid: this.system.pid,
          spawn: () => this.table.spawn(),
          register: (n, proc) => this.table.register(n, proc),
          send: (dest, message, from) => this.router.send(dest, message, from),
          scope: (scope) => this.pg(scope),
          logger: this.logger,
        },
        name,
        options,
      );
      this.pubsubs.set(name, p);
    }
    return p;
  }

  /**
   * global:register_name/2 for `pid` (default resolver): under global's cluster lock, on every
   * node this node's `global` is in sync with. False if the name or the pid is registered already.
   */
  registerGlobal(name: string, pid: Pid | Process): Promise<boolean> {
    return this.visibleGlobal().register(name, pid instanceof Pid ? pid : pid.pid);
  }

  /** global:unregister_name/1. */
  unregisterGlobal(name: string): Promise<void> {
    return this.visibleGlobal().unregister(name);
  }

  /** global:whereis_name/1: the pid registered as `name` in the cluster, if any. */
  whereisGlobal(name: string): Pid | undefined {
    return this.global?.whereis(name);
  }

  private visibleGlobal(): GlobalServer {
    if (this.global === undefined)
      throw new DistError('DIST_BADARG', 'a hidden node is outside global', { node: this.name });
    return this.global;
  }

  /** Exposes JavaScript functions as Erlang module `module`: rpc/erpc calls from Erlang land here. */
  expose(module: string, functions: ExposedModule): void {
    this.exposed.expose(module, functions);
  }

  /**
   * Sends `message` (from the node's system process unless `from` is given). Large binaries in
   * it go to the socket by reference: do not modify them after sending (binaries are immutable).
   * Never waits; throws SendQueueFullError when the connection already holds
   * `limits.maxSendQueue` bytes (docs/node.md, "Backpressure").
   */
  send(dest: Destination, message: Term, from: Pid = this.system.pid): void {
    this.router.send(dest, message, from);
  }

  // Backpressure (docs/node.md) ---------------------------------------------------------------

  /**
   * Sends `message` once the connection to `dest`'s node (connecting first) holds less than
   * `limits.sendHighWater` bytes: a producer that awaits each send never holds more than that
   * plus one message. Rejects with the connection's DistError when the node cannot be reached.
   */
  async sendAsync(dest: Destination, message: Term, from: Pid = this.system.pid): Promise<void> {
    const node = this.router.nodeOf(dest);
    if (node !== this.name) {
      const conn = await this.connect(node);
      await conn.writable();
    }
    this.router.send(dest, message, from);
  }

  /** Bytes waiting to go to `node`: handed to its connection, not yet to the system (0 when not connected). */
  queuedBytes(node: string): number {
    return this.connections.queuedBytes(node);
  }

  // -------------------------------------------------------------------------------------------

  /** gen_server:cast. */
  cast(dest: Destination, request: Term): void {
    this.send(dest, tuple(A.gen_cast, request));
  }

  /**
   * gen_server:call from a short-lived process; rejects with {@link CallError}. `call<T>()`
   * asserts the reply's type; `check(guard, reply)` checks it.
   */
  async call<T = Term>(dest: Destination, request: Term, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<T> {
    return this.arrived(await this.caller.call(dest, request, timeoutMs)) as T;
  }

  /**
   * rpc:call: runs Module:Function(Args) on `node` via erpc; rejects with {@link BadRpcError}.
   * `groupLeader` becomes the group leader of the process it runs in, and of the processes that
   * one spawns: their I/O goes there (an {@link IoServer}'s pid, for example).
   * `rpc<T>()` asserts the result's type; `check(guard, result)` checks it.
   */
  async rpc<T = Term>(
    node: string,
    module: string,
    fn: string,
    args: Term[] = [],
    timeoutMs = Infinity,
    options: { groupLeader?: Pid } = {},
  ): Promise<T> {
    return this.arrived(await this.caller.rpc(node, module, fn, args, timeoutMs, options.groupLeader)) as T;
  }

  /** A term from another node in the node's `terms` model. */
  private arrived(t: Term): Term {
    return this.terms === 'js' ? toJS(t) : t;
  }

  /**
   * Starts a group leader serving Erlang's I/O protocol for `terminal`: processes whose group
   * leader is its pid print there and read from there (docs/node.md, "Group leaders"). It speaks
   * exact terms whatever the node's `terms` model.
   */
  ioServer(terminal: IoTerminal, options: IoServerOptions = {}): IoServer {
    const host = {
      rpc: (node: string, module: string, fn: string, args: Term[]) =>
        this.caller.rpc(node, module, fn, args, Infinity),
      send: (to: Pid, message: Term, from: Pid) => this.send(to, message, from),
    };
    return new IoServer(this.table.spawn(), host, terminal, options);
  }

  /** Link between a local process and any pid (Process.link). */
  link(self: Process, other: Pid): void {
    this.table.link(self, other);
  }

  unlink(self: Process, other: Pid): void {
    this.table.unlink(self, other);
  }

  monitor(self: Process, target: Destination): Reference {
    return this.table.monitor(self, target);
  }

  demonitor(self: Process, ref: Reference): void {
    this.table.demonitor(self, ref);
  }

  /** erlang:exit(To, Reason) from `from`. */
  exitSignal(from: Pid, to: Pid, reason: Term): void {
    this.table.exitSignal(from, to, reason);
  }

  /** Sends an exit signal from the node (erlang:exit/2 from outside any process). */
  exit(to: Pid, reason: Term): void {
    this.exitSignal(this.system.pid, to, reason);
  }

  /** gen:reply. */
  reply(from: From, reply: Term, sender: Pid = this.system.pid): void {
    this.router.reply(from, reply, sender);
  }

  makeRef(): Reference {
    return this.table.makeRef();
  }

  /** ProcessHost: a local process ended; tell its links and monitors. */
  processDied(proc: Process, reason: Term): void {
    this.table.processDied(proc, reason);
  }

  /** ProcessHost.call: gen:call from `proc`, the reply in its `terms` model. */
  async callFrom(proc: Process, dest: Destination, request: Term, timeoutMs: number): Promise<Term> {
    const reply = await this.caller.callFrom(proc, dest, request, timeoutMs);
    return proc.terms === 'js' ? toJS(reply) : reply;
  }

  /** How many signals of each kind arrived from other nodes (for metrics and tests). */
  signalCounts(): Record<string, number> {
    return this.router.signalCounts();
  }

  /** Bytes held now for messages not yet whole (frames arriving, fragments), all connections together. */
  get inboundBytes(): number {
    return this.inbound.heldBytes;
  }

  /** Stops every process, closes every connection and the listener, unregisters from EPMD. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const proc of this.table.all()) proc.terminate(A.shutdown);
    await this.connections.stop();
    this.handshakeFailures.flush();
    this.global?.flush();
    for (const scope of this.scopes.values()) scope.flush();
    await this.registration?.close();
    this.logger.info('node stopped', { node: this.name });
  }
}
