/**
 * A TypeScript Erlang node: listens, registers with EPMD, connects on demand, routes signals
 * between JavaScript processes and remote ones, and answers what OTP expects of a node
 * (net_kernel's is_auth, rex and erpc calls into exposed functions, gen_server-style calls).
 */
import { EventEmitter } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomInt } from 'node:crypto';
import { DistError, EidError, EpmdError } from '../errors.ts';
import { register, type Registration } from '../epmd/client.ts';
import { EpmdNodeType } from '../epmd/protocol.ts';
import { atom, Atom, ImproperList, Pid, Reference, Tuple, tuple, type Term } from '../etf/terms.ts';
import { silentLogger, type Logger } from '../log.ts';
import { DEFAULT_NODE_PORT, nodePortFromEnv } from '../ports.ts';
import { Connection, DEFAULT_SETUP_MS } from './connection.ts';
import { AltActFlag, SpawnReplyFlag, type Signal } from './control.ts';
import { DEFAULT_FLAGS, DistFlags, hasFlag } from './flags.ts';
import { splitNodeName, type AcceptStatus, type HandshakeResult } from './handshake.ts';
import {
  ATOM_KILL,
  ATOM_KILLED,
  ATOM_NORMAL,
  DEFAULT_CALL_TIMEOUT_MS,
  describe,
  pidKey,
  Process,
  ProcessExit,
  ReceiveTimeout,
  refKey,
  type Destination,
  type From,
  type ProcessHost,
} from './process.ts';
import { EpmdResolver, type Resolver } from './resolver.ts';
import { GlobalServer } from './global.ts';

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
  /** Creation when not registering with EPMD (default random). */
  creation?: number;
  /** Per-connection bounds on what a peer may make us hold. */
  limits?: {
    /** Largest frame once connected (default 128 MiB). */
    maxFrame?: number;
    /** Bytes held for unfinished fragmented messages (default 256 MiB). */
    maxReassemblyBytes?: number;
    /** Fragmented messages in flight (default 64). */
    maxSequences?: number;
  };
  logger?: Logger;
}

export type ExposedFunction = (...args: Term[]) => Term | Promise<Term>;
export type ExposedModule = Record<string, ExposedFunction>;

/** A remote call failed the way rpc:call reports `{badrpc, Reason}`. */
export class BadRpcError extends DistError {
  constructor(
    readonly reason: Term,
    node: string,
  ) {
    super('DIST_BADRPC', `rpc to ${node} failed: {badrpc,${describe(reason)}}`, { node });
  }
}

/** A gen_server-style call failed: the callee exited, or `timeout`/`noconnection`. */
export class CallError extends DistError {
  constructor(
    readonly reason: Term,
    message: string,
  ) {
    super('DIST_CALL_FAILED', message);
  }
}

export interface NodeEvents {
  nodeup: [node: string, info: { hidden: boolean }];
  nodedown: [node: string, info: { reason: string }];
}

const A = {
  alias: atom('alias'),
  badrpc: atom('badrpc'),
  call: atom('call'),
  cast: atom('cast'),
  DOWN: atom('DOWN'),
  EXIT: atom('EXIT'),
  erpc: atom('erpc'),
  error: atom('error'),
  exit: atom('exit'),
  execute_call: atom('execute_call'),
  execute_cast: atom('execute_cast'),
  features_reply: atom('features_reply'),
  features_request: atom('features_request'),
  gen_call: atom('$gen_call'),
  gen_cast: atom('$gen_cast'),
  is_auth: atom('is_auth'),
  js_error: atom('js_error'),
  link: atom('link'),
  monitor: atom('monitor'),
  net_kernel: atom('net_kernel'),
  noconnection: atom('noconnection'),
  nodedown: atom('nodedown'),
  noproc: atom('noproc'),
  ok: atom('ok'),
  process: atom('process'),
  return: atom('return'),
  rex: atom('rex'),
  spawn_reply: atom('spawn_reply'),
  throw: atom('throw'),
  timeout: atom('timeout'),
  undef: atom('undef'),
  yes: atom('yes'),
} as const;

const MAX_PID_NUMBER = 0x0fffffff;
/** Creations (and dynamic names) we pick ourselves are random positive 31-bit numbers. */
const MAX_CREATION = 0x7fffffff;
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

/** Names this node answers itself, like the kernel processes of an OTP node. */
const SYSTEM_NAMES = new Set(['net_kernel', 'rex', 'global_name_server']);

function isAtom(t: Term | undefined, name: string): boolean {
  return (t instanceof Atom && t.name === name) || (typeof t === 'boolean' && String(t) === name);
}

function sameRef(a: Term | undefined, b: Reference): boolean {
  return a instanceof Reference && refKey(a) === refKey(b);
}

function errorReason(err: unknown): Term {
  if (err instanceof ProcessExit) return err.reason;
  return tuple(A.js_error, err instanceof Error ? err.message : String(err));
}

function toAtom(name: Atom | string): Atom {
  return typeof name === 'string' ? atom(name) : name;
}

type ExposedOutcome = { kind: 'return' | 'exit' | 'error'; value: Term; stack?: Term };

/** The exit reason of a process that ran an exposed function: normal, its exit, or {Error, Stack}. */
function exitReason(r: ExposedOutcome): Term {
  if (r.kind === 'return') return ATOM_NORMAL;
  return r.kind === 'exit' ? r.value : tuple(r.value, r.stack ?? []);
}

interface Waiters {
  resolve: ((c: Connection) => void)[];
  reject: ((e: Error) => void)[];
  timer: NodeJS.Timeout;
}

export class Node extends EventEmitter<NodeEvents> implements ProcessHost {
  readonly name: string;
  readonly nodeAtom: Atom;
  readonly creation: number;
  readonly port: number;
  readonly hidden: boolean;
  private readonly cookie: string;
  private readonly flags: bigint;
  private readonly resolver: Resolver;
  private readonly tickTimeMs: number;
  private readonly connectTimeoutMs: number;
  private readonly logger: Logger;
  private readonly server: Server;
  private readonly registration: Registration | undefined;
  private readonly limits: NonNullable<NodeOptions['limits']>;
  private readonly processes = new Map<number, Process>();
  private readonly names = new Map<string, Process>();
  private readonly aliases = new Map<string, Process>();
  private readonly modules = new Map<string, ExposedModule>();
  /** Connections that completed the handshake, by peer name. */
  private readonly connections = new Map<string, Connection>();
  /** Incoming handshakes past send_name, by peer name. */
  private readonly accepting = new Map<string, Connection>();
  private readonly dialing = new Set<string>();
  private readonly waiters = new Map<string, Waiters>();
  private readonly sockets = new Set<Socket>();
  private readonly received = new Map<string, number>();
  private nextPid = 1;
  private pidSerial = 0;
  private refCounter = 0;
  private unlinkCounter = 0n;
  private stopped = false;
  /** Sender of signals the node itself originates (replies of net_kernel/rex, node.send). */
  private readonly system: Process;
  /** Our side of OTP's `global` (visible nodes only: hidden ones are outside global). */
  private readonly global: GlobalServer | undefined;

  private constructor(init: {
    name: string;
    cookie: string;
    creation: number;
    port: number;
    hidden: boolean;
    resolver: Resolver;
    tickTimeMs: number;
    connectTimeoutMs: number;
    logger: Logger;
    server: Server;
    registration: Registration | undefined;
    limits: NodeOptions['limits'];
  }) {
    super();
    this.name = init.name;
    this.nodeAtom = atom(init.name);
    this.cookie = init.cookie;
    this.creation = init.creation;
    this.port = init.port;
    this.hidden = init.hidden;
    this.flags = init.hidden ? DEFAULT_FLAGS : DEFAULT_FLAGS | DistFlags.PUBLISHED;
    this.resolver = init.resolver;
    this.tickTimeMs = init.tickTimeMs;
    this.connectTimeoutMs = init.connectTimeoutMs;
    this.logger = init.logger;
    this.server = init.server;
    this.registration = init.registration;
    this.limits = init.limits ?? {};
    this.system = this.newProcess();
    this.global = this.hidden
      ? undefined
      : new GlobalServer({
          nodeAtom: this.nodeAtom,
          lockerPid: this.newProcess().pid,
          castGlobal: (node, message) =>
            this.sendToName(atom('global_name_server'), node, tuple(A.gen_cast, message), this.system.pid),
          reply: (from, reply) => this.reply(from, reply),
          disconnect: (node) => this.disconnect(node),
          log: (msg, fields) => this.logger.info(msg, fields),
        });
    this.server.on('connection', (socket) => this.accept(socket));
  }

  /** Starts a node: listens, registers with EPMD (unless told not to), and is ready to connect. */
  static async start(options: NodeOptions): Promise<Node> {
    const name = options.name.includes('@')
      ? options.name
      : `${options.name}@${hostname().split('.')[0] ?? 'localhost'}`;
    const parts = splitNodeName(name);
    if (parts === undefined)
      throw new DistError('DIST_BAD_NODE_NAME', `'${options.name}' is not a valid node name`);
    const logger = options.logger ?? silentLogger;
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
    let registration: Registration | undefined;
    let creation = options.creation ?? randomInt(1, MAX_CREATION);
    const hidden = options.hidden ?? false;
    const registerOption = options.epmd?.register;
    if (registerOption !== false) {
      try {
        const epmdOpts: Parameters<typeof register>[2] = {
          nodeType: hidden ? EpmdNodeType.HIDDEN : EpmdNodeType.NORMAL,
        };
        if (options.epmd?.port !== undefined) epmdOpts.epmdPort = options.epmd.port;
        if (options.epmd?.host !== undefined) epmdOpts.host = options.epmd.host;
        if (options.epmd?.timeoutMs !== undefined) epmdOpts.timeoutMs = options.epmd.timeoutMs;
        registration = await register(parts.alive, port, epmdOpts);
        creation = registration.creation;
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
      logger,
      server,
      registration,
      limits: options.limits,
    });
    logger.info('node started', { node: name, port, creation });
    return node;
  }

  // Public API ------------------------------------------------------------------------------

  /** Connected nodes: visible ones (default), hidden ones, or all. */
  nodes(which: 'visible' | 'hidden' | 'connected' = 'visible'): string[] {
    const out: string[] = [];
    for (const [name, conn] of this.connections) {
      const visible = hasFlag(conn.flags, DistFlags.PUBLISHED) && !this.hidden;
      if (which === 'connected' || (which === 'visible') === visible) out.push(name);
    }
    return out;
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
    if (this.stopped)
      return Promise.reject(new DistError('DIST_STOPPED', 'node is stopped', { node: this.name }));
    if (splitNodeName(node) === undefined) {
      return Promise.reject(
        new DistError('DIST_BAD_NODE_NAME', `'${node}' is not a node name (name@host)`, { node }),
      );
    }
    if (node === this.name)
      return Promise.reject(new DistError('DIST_BADARG', 'a node does not connect to itself', { node }));
    const up = this.connections.get(node);
    if (up !== undefined) return Promise.resolve(up);
    const promise = new Promise<Connection>((resolve, reject) => {
      let w = this.waiters.get(node);
      if (w === undefined) {
        const timer = setTimeout(
          () =>
            this.failWaiters(
              node,
              new DistError('DIST_CONNECT_TIMEOUT', `connection setup to ${node} timed out`, { node }),
            ),
          this.connectTimeoutMs,
        );
        w = { resolve: [], reject: [], timer };
        this.waiters.set(node, w);
      }
      w.resolve.push(resolve);
      w.reject.push(reject);
    });
    if (!this.dialing.has(node) && !this.accepting.has(node)) this.dial(node);
    return promise;
  }

  /** Closes the connection to `node` (erlang:disconnect_node). */
  disconnect(node: string): boolean {
    const conn = this.connections.get(node);
    if (conn === undefined) return false;
    conn.close('disconnect');
    return true;
  }

  /** Starts a JavaScript process running `body`; its result ends it with reason normal. */
  spawn(
    body: (self: Process) => Promise<unknown> | unknown,
    options: { link?: Pid; trapExit?: boolean } = {},
  ): Process {
    const proc = this.newProcess();
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
                pid: describe(proc.pid),
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
    if (this.names.has(name) || SYSTEM_NAMES.has(name))
      throw new DistError('DIST_NAME_TAKEN', `'${name}' is already registered`);
    if (!proc.alive) throw new DistError('DIST_NOPROC', 'cannot register a dead process');
    this.names.set(name, proc);
  }

  unregister(name: string): boolean {
    return this.names.delete(name);
  }

  whereis(name: string): Pid | undefined {
    return this.names.get(name)?.pid;
  }

  /** Exposes JavaScript functions as Erlang module `module`: rpc/erpc calls from Erlang land here. */
  expose(module: string, functions: ExposedModule): void {
    this.modules.set(module, { ...functions });
  }

  /**
   * Sends `message` (from the node's system process unless `from` is given). Large binaries in
   * it go to the socket by reference: do not modify them after sending (binaries are immutable).
   */
  send(dest: Destination, message: Term, from: Pid = this.system.pid): void {
    if (dest instanceof Pid) return this.sendToPid(dest, message, from);
    if (dest instanceof Reference) return this.sendToAlias(dest, message, from);
    if (typeof dest === 'string' || dest instanceof Atom)
      return this.sendToName(toAtom(dest), this.name, message, from);
    const [name, node] = dest.elements;
    if (!(name instanceof Atom) || !(node instanceof Atom) || dest.length !== 2) {
      throw new DistError('DIST_BADARG', `bad destination ${describe(dest)}`);
    }
    this.sendToName(name, node.name, message, from);
  }

  /** gen_server:cast. */
  cast(dest: Destination, request: Term): void {
    this.send(dest, tuple(A.gen_cast, request));
  }

  /** gen_server:call from a short-lived process; rejects with {@link CallError}. */
  async call(dest: Destination, request: Term, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<Term> {
    const proc = this.newProcess();
    try {
      return await this.callFrom(proc, dest, request, timeoutMs);
    } finally {
      proc.terminate(ATOM_NORMAL);
    }
  }

  /** rpc:call: runs Module:Function(Args) on `node` via erpc; rejects with {@link BadRpcError}. */
  async rpc(
    node: string,
    module: string,
    fn: string,
    args: Term[] = [],
    timeoutMs = Infinity,
  ): Promise<Term> {
    if (node === this.name) return this.rpcLocal(module, fn, args);
    const proc = this.newProcess();
    try {
      try {
        await this.connect(node);
      } catch {
        throw new BadRpcError(A.nodedown, node);
      }
      const resultRef = this.makeRef();
      const reqId = this.spawnRequest(proc, node, A.erpc, A.execute_call, [
        resultRef,
        atom(module),
        atom(fn),
        args,
      ]);
      const isMine = (m: Term): boolean =>
        m instanceof Tuple &&
        ((m.length === 4 &&
          isAtom(m.elements[0], 'spawn_reply') &&
          sameRef(m.elements[1], reqId) &&
          isAtom(m.elements[2], 'error')) ||
          (m.length === 5 && isAtom(m.elements[0], 'DOWN') && sameRef(m.elements[1], reqId)));
      let msg: Term;
      try {
        msg = await proc.receive(isMine, timeoutMs);
      } catch (err) {
        if (err instanceof ReceiveTimeout) {
          this.demonitor(proc, reqId);
          throw new BadRpcError(A.timeout, node);
        }
        throw err;
      }
      const m = msg as Tuple;
      if (m.length === 4)
        throw new BadRpcError(
          isAtom(m.elements[3], 'noconnection') ? A.nodedown : (m.elements[3] as Term),
          node,
        );
      return this.erpcResult(m.elements[4] as Term, resultRef, node);
    } finally {
      proc.terminate(ATOM_NORMAL);
    }
  }

  /** Link between a local process and any pid (Process.link). */
  link(self: Process, other: Pid): void {
    if (!self.alive) return;
    const key = pidKey(other);
    const existing = self.links.get(key);
    if (existing !== undefined) {
      existing.unlinking = undefined;
    } else {
      self.links.set(key, { pid: other, unlinking: undefined });
    }
    if (this.isLocal(other)) {
      const target = this.processOf(other);
      if (target === undefined || !target.alive) {
        self.links.delete(key);
        this.deliverExit(self, other, A.noproc, false);
        return;
      }
      target.links.set(pidKey(self.pid), { pid: self.pid, unlinking: undefined });
      return;
    }
    const node = other.node.name;
    if (this.connections.has(node)) {
      this.toNode(node, { kind: 'link', from: self.pid, to: other });
      return;
    }
    // As in OTP: linking to a pid on a node we cannot reach breaks the link with noconnection.
    this.connect(node).then(
      (c) => c.send({ kind: 'link', from: self.pid, to: other }),
      () => this.deliverExit(self, other, A.noconnection, true),
    );
  }

  unlink(self: Process, other: Pid): void {
    const key = pidKey(other);
    const state = self.links.get(key);
    if (state === undefined) return;
    if (this.isLocal(other)) {
      self.links.delete(key);
      this.processOf(other)?.links.delete(pidKey(self.pid));
      return;
    }
    // UNLINK_ID: the link stays (ignoring exits) until the peer acknowledges this id.
    const id = ++this.unlinkCounter;
    state.unlinking = id;
    this.toNode(other.node.name, { kind: 'unlink_id', id, from: self.pid, to: other });
  }

  monitor(self: Process, target: Destination): Reference {
    const ref = this.makeRef();
    let pid: Pid | undefined;
    let name: Atom | undefined;
    let node = this.name;
    if (target instanceof Pid) {
      pid = target;
      node = target.node.name;
    } else if (typeof target === 'string' || target instanceof Atom) {
      name = toAtom(target);
    } else if (
      target instanceof Tuple &&
      target.length === 2 &&
      target.elements[0] instanceof Atom &&
      target.elements[1] instanceof Atom
    ) {
      name = target.elements[0];
      node = target.elements[1].name;
    } else {
      throw new DistError('DIST_BADARG', `cannot monitor ${describe(target as Term)}`);
    }
    const monitored: Pid | Tuple = pid ?? tuple(name!, atom(node));
    self.monitoring.set(refKey(ref), { ref, target: monitored, node });
    if (node !== this.name) {
      if (!this.connections.has(node)) {
        // OTP: monitoring an unreachable node gives an immediate DOWN noconnection.
        this.connect(node)
          .then((c) => c.send({ kind: 'monitor', from: self.pid, to: pid ?? name!, ref }))
          .catch(() => this.fireDown(self, ref, A.noconnection));
        return ref;
      }
      this.toNode(node, { kind: 'monitor', from: self.pid, to: pid ?? name!, ref });
      return ref;
    }
    if (name !== undefined && SYSTEM_NAMES.has(name.name)) return ref;
    const local = pid !== undefined ? this.processOf(pid) : this.names.get(name!.name);
    if (local === undefined || !local.alive || (pid !== undefined && !this.isLocal(pid))) {
      queueMicrotask(() => this.fireDown(self, ref, A.noproc));
      return ref;
    }
    local.monitoredBy.set(refKey(ref), { ref, watcher: self.pid, byName: name });
    return ref;
  }

  demonitor(self: Process, ref: Reference): void {
    const key = refKey(ref);
    const m = self.monitoring.get(key);
    if (m === undefined) return;
    self.monitoring.delete(key);
    self.aliases.delete(key);
    this.aliases.delete(key);
    if (m.node !== this.name) {
      const to = m.target instanceof Pid ? m.target : (m.target.elements[0] as Atom);
      this.toNode(m.node, { kind: 'demonitor', from: self.pid, to, ref });
      return;
    }
    const target =
      m.target instanceof Pid
        ? this.processOf(m.target)
        : this.names.get((m.target.elements[0] as Atom).name);
    target?.monitoredBy.delete(key);
  }

  /** erlang:exit(To, Reason) from `from`. */
  exitSignal(from: Pid, to: Pid, reason: Term): void {
    if (this.isLocal(to)) {
      const target = this.processOf(to);
      if (target !== undefined) this.deliverExit(target, from, reason, false);
      return;
    }
    this.toNode(to.node.name, { kind: 'exit2', from, to, reason });
  }

  /** Sends an exit signal from the node (erlang:exit/2 from outside any process). */
  exit(to: Pid, reason: Term): void {
    this.exitSignal(this.system.pid, to, reason);
  }

  /** gen:reply. */
  reply(from: From, reply: Term, sender: Pid = this.system.pid): void {
    const [to, tag] = from.elements;
    if (
      tag instanceof ImproperList &&
      tag.elements.length === 1 &&
      isAtom(tag.elements[0], 'alias') &&
      tag.tail instanceof Reference
    ) {
      this.sendToAlias(tag.tail, tuple(tag, reply), sender);
      return;
    }
    if (to instanceof Pid) this.sendToPid(to, tuple(tag as Term, reply), sender);
  }

  makeRef(): Reference {
    this.refCounter = (this.refCounter + 1) >>> 0;
    // The first word stays within 18 bits, as in OTP's own references.
    return new Reference(this.nodeAtom, this.creation, [
      this.refCounter & 0x3ffff,
      randomInt(0, 0xffffffff),
      this.refCounter >>> 18,
    ]);
  }

  /** Stops every process, closes every connection and the listener, unregisters from EPMD. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const proc of [...this.processes.values()]) proc.terminate(atom('shutdown'));
    for (const conn of [...this.connections.values(), ...this.accepting.values()]) conn.close('shutdown');
    for (const socket of this.sockets) socket.destroy();
    for (const node of [...this.waiters.keys()])
      this.failWaiters(node, new DistError('DIST_STOPPED', 'node stopped', { node }));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.registration?.close();
    this.logger.info('node stopped', { node: this.name });
  }

  // Processes -------------------------------------------------------------------------------

  private newProcess(): Process {
    // Pid numbers are 28 bits in OTP; past that the serial goes up, as in the emulator.
    let id = this.nextPid;
    while (this.processes.has(id)) id = id >= MAX_PID_NUMBER ? 1 : id + 1;
    this.nextPid = id >= MAX_PID_NUMBER ? 1 : id + 1;
    if (this.nextPid === 1) this.pidSerial = (this.pidSerial + 1) >>> 0;
    const proc = new Process(new Pid(this.nodeAtom, id, this.pidSerial, this.creation), this);
    this.processes.set(id, proc);
    return proc;
  }

  /** The live local process `pid` names, if any. */
  private processOf(pid: Pid): Process | undefined {
    const p = this.processes.get(pid.id);
    return p !== undefined && p.pid.serial === pid.serial ? p : undefined;
  }

  /** ProcessHost: a local process ended; tell its links and monitors. */
  processDied(proc: Process, reason: Term): void {
    this.processes.delete(proc.pid.id);
    for (const [name, p] of this.names) if (p === proc) this.names.delete(name);
    for (const key of proc.aliases) this.aliases.delete(key);
    for (const link of proc.links.values()) {
      if (this.isLocal(link.pid)) {
        const other = this.processOf(link.pid);
        if (other !== undefined) this.deliverExit(other, proc.pid, reason, true);
      } else if (link.unlinking === undefined) {
        this.toNode(link.pid.node.name, { kind: 'exit', from: proc.pid, to: link.pid, reason }, false);
      }
    }
    proc.links.clear();
    for (const m of proc.monitoredBy.values()) {
      const from: Pid | Atom = m.byName ?? proc.pid;
      if (this.isLocal(m.watcher)) {
        const watcher = this.processOf(m.watcher);
        if (watcher !== undefined) {
          const who = m.byName !== undefined ? tuple(m.byName, this.nodeAtom) : proc.pid;
          if (watcher.monitoring.delete(refKey(m.ref)))
            watcher.deliver(tuple(A.DOWN, m.ref, A.process, who, reason));
        }
      } else {
        this.toNode(
          m.watcher.node.name,
          { kind: 'monitor_exit', from, to: m.watcher, ref: m.ref, reason },
          false,
        );
      }
    }
    proc.monitoredBy.clear();
    for (const [key, m] of proc.monitoring) {
      const to = m.target instanceof Pid ? m.target : (m.target.elements[0] as Atom);
      if (m.node !== this.name) {
        this.toNode(m.node, { kind: 'demonitor', from: proc.pid, to, ref: m.ref }, false);
      } else {
        (to instanceof Pid ? this.processOf(to) : this.names.get(to.name))?.monitoredBy.delete(key);
      }
    }
    proc.monitoring.clear();
  }

  /** An exit signal reaches a local process: Erlang's rules for links, kill, normal and trap_exit. */
  private deliverExit(proc: Process, from: Pid, reason: Term, viaLink: boolean): void {
    if (!proc.alive) return;
    if (viaLink) {
      const key = pidKey(from);
      const link = proc.links.get(key);
      // No link, or our unlink is in flight: the signal predates the unlink and is dropped.
      if (link === undefined || link.unlinking !== undefined) return;
      proc.links.delete(key);
    }
    if (!viaLink && isAtom(reason, 'kill')) {
      proc.terminate(ATOM_KILLED);
      return;
    }
    if (proc.trapExit) {
      proc.deliver(tuple(A.EXIT, from, reason));
      return;
    }
    if (isAtom(reason, 'normal') && pidKey(from) !== pidKey(proc.pid)) return;
    proc.terminate(reason === ATOM_KILL && viaLink ? ATOM_KILL : reason);
  }

  private fireDown(proc: Process, ref: Reference, reason: Term): void {
    const m = proc.monitoring.get(refKey(ref));
    if (m === undefined) return;
    proc.monitoring.delete(refKey(ref));
    proc.deliver(tuple(A.DOWN, ref, A.process, m.target, reason));
  }

  private isLocal(pid: Pid): boolean {
    return pid.node.name === this.name && pid.creation === this.creation;
  }

  // Sending ---------------------------------------------------------------------------------

  private sendToPid(to: Pid, message: Term, from: Pid): void {
    if (to.node.name === this.name) {
      if (to.creation === this.creation) this.processOf(to)?.deliver(message);
      return;
    }
    this.toNode(to.node.name, { kind: 'send', from, to, message });
  }

  private sendToName(name: Atom, node: string, message: Term, from: Pid): void {
    if (node === this.name) {
      this.deliverToName(name, message, from);
      return;
    }
    this.toNode(node, { kind: 'reg_send', from, to: name, message });
  }

  private sendToAlias(alias: Reference, message: Term, from: Pid): void {
    if (alias.node.name === this.name) {
      this.aliases.get(refKey(alias))?.deliver(message);
      return;
    }
    this.toNode(alias.node.name, { kind: 'alias_send', from, alias, message });
  }

  /** Sends over the connection to `node`, connecting first when needed (Erlang's auto-connect). */
  private toNode(node: string, signal: Signal, autoConnect = true): void {
    const conn = this.connections.get(node);
    if (conn !== undefined) {
      conn.send(signal);
      return;
    }
    if (!autoConnect || this.stopped) return;
    this.connect(node).then(
      (c) => c.send(signal),
      (err: unknown) =>
        this.logger.debug('dropping signal to unreachable node', {
          node,
          kind: signal.kind,
          error: String(err),
        }),
    );
  }

  // gen calls, rpc ----------------------------------------------------------------------------

  /** ProcessHost.call: gen:call with a monitor that doubles as the reply alias (OTP 24+). */
  async callFrom(proc: Process, dest: Destination, request: Term, timeoutMs: number): Promise<Term> {
    const target: Destination = typeof dest === 'string' ? atom(dest) : dest;
    const mref = this.monitor(proc, target);
    const key = refKey(mref);
    proc.aliases.add(key);
    this.aliases.set(key, proc);
    const tag = new ImproperList([A.alias], mref);
    try {
      this.send(target, tuple(A.gen_call, tuple(proc.pid, tag), request), proc.pid);
      const msg = (await proc.receive(
        (m) =>
          m instanceof Tuple &&
          ((m.length === 2 && m.elements[0] instanceof ImproperList && sameRef(m.elements[0].tail, mref)) ||
            (m.length === 5 && isAtom(m.elements[0], 'DOWN') && sameRef(m.elements[1], mref))),
        timeoutMs,
      )) as Tuple;
      if (msg.length === 2) return msg.elements[1] as Term;
      const reason = msg.elements[4] as Term;
      throw new CallError(reason, `call to ${describe(target as Term)} failed: ${describe(reason)}`);
    } catch (err) {
      if (err instanceof ReceiveTimeout)
        throw new CallError(A.timeout, `call to ${describe(target as Term)} timed out after ${timeoutMs} ms`);
      throw err;
    } finally {
      this.demonitor(proc, mref);
    }
  }

  /** Sends SPAWN_REQUEST for M:F(Args) on `node`, monitored; returns the request id (= monitor ref). */
  private spawnRequest(proc: Process, node: string, module: Atom, fn: Atom, args: Term[]): Reference {
    const reqId = this.makeRef();
    proc.monitoring.set(refKey(reqId), { ref: reqId, target: tuple(module, atom(node)), node });
    this.toNode(node, {
      kind: 'spawn_request',
      reqId,
      from: proc.pid,
      groupLeader: proc.pid,
      module,
      function: fn,
      arity: args.length,
      options: [A.monitor],
      args,
    });
    return reqId;
  }

  /** Maps erpc:execute_call's exit reason to rpc:call's result. */
  private erpcResult(reason: Term, resultRef: Reference, node: string): Term {
    if (reason instanceof Tuple && reason.length >= 3 && sameRef(reason.elements[0], resultRef)) {
      const [, kind, value] = reason.elements;
      if (isAtom(kind, 'return') || isAtom(kind, 'throw')) return value as Term;
      if (isAtom(kind, 'exit')) throw new BadRpcError(tuple(A.EXIT, value as Term), node);
      if (isAtom(kind, 'error')) {
        const stack = reason.elements[3];
        throw new BadRpcError(
          tuple(A.EXIT, stack === undefined ? (value as Term) : tuple(value as Term, stack)),
          node,
        );
      }
    }
    if (isAtom(reason, 'noconnection')) throw new BadRpcError(A.nodedown, node);
    throw new BadRpcError(tuple(A.EXIT, reason), node);
  }

  private async rpcLocal(module: string, fn: string, args: Term[]): Promise<Term> {
    const f = this.modules.get(module)?.[fn];
    if (f === undefined)
      throw new BadRpcError(
        tuple(A.EXIT, tuple(A.undef, [tuple(atom(module), atom(fn), args, [])])),
        this.name,
      );
    try {
      return await f(...args);
    } catch (err) {
      throw new BadRpcError(tuple(A.EXIT, errorReason(err)), this.name);
    }
  }

  /** Runs an exposed function; the outcome in erpc:execute_call's terms. */
  private async runExposed(module: Atom, fn: Atom, args: Term[]): Promise<ExposedOutcome> {
    const f = this.modules.get(module.name)?.[fn.name];
    if (f === undefined) return { kind: 'error', value: A.undef, stack: [tuple(module, fn, args, [])] };
    try {
      return { kind: 'return', value: await f(...args) };
    } catch (err) {
      if (err instanceof ProcessExit) return { kind: 'exit', value: err.reason };
      return { kind: 'error', value: errorReason(err), stack: [] };
    }
  }

  // Incoming signals ------------------------------------------------------------------------

  /** How many signals of each kind arrived from other nodes (for metrics and tests). */
  signalCounts(): Record<string, number> {
    return Object.fromEntries(this.received);
  }

  private onSignal(conn: Connection, s: Signal): void {
    this.received.set(s.kind, (this.received.get(s.kind) ?? 0) + 1);
    switch (s.kind) {
      case 'send':
        this.deliverFromPeer(s.to, s.message);
        return;
      case 'reg_send':
        this.deliverToName(s.to, s.message, s.from);
        return;
      case 'alias_send':
        this.deliverFromPeer(s.alias, s.message);
        return;
      case 'altact_sig':
        this.onAltAct(s.target, s.payload, s.from, s.flags);
        return;
      case 'link': {
        const proc = this.localProcess(s.to);
        if (proc === undefined) {
          conn.send({ kind: 'exit', from: s.to, to: s.from, reason: A.noproc });
          return;
        }
        const existing = proc.links.get(pidKey(s.from));
        if (existing === undefined) proc.links.set(pidKey(s.from), { pid: s.from, unlinking: undefined });
        return;
      }
      case 'unlink':
        this.localProcess(s.to)?.links.delete(pidKey(s.from));
        return;
      case 'unlink_id': {
        const proc = this.localProcess(s.to);
        const link = proc?.links.get(pidKey(s.from));
        // Our own unlink in flight wins; otherwise the link goes. Always acknowledge.
        if (proc !== undefined && link !== undefined && link.unlinking === undefined)
          proc.links.delete(pidKey(s.from));
        conn.send({ kind: 'unlink_id_ack', id: s.id, from: s.to, to: s.from });
        return;
      }
      case 'unlink_id_ack': {
        const proc = this.localProcess(s.to);
        const link = proc?.links.get(pidKey(s.from));
        if (proc !== undefined && link !== undefined && link.unlinking === s.id)
          proc.links.delete(pidKey(s.from));
        return;
      }
      case 'exit':
      case 'exit2': {
        const proc = this.localProcess(s.to);
        if (proc !== undefined) this.deliverExit(proc, s.from, s.reason, s.kind === 'exit');
        return;
      }
      case 'monitor':
        this.onMonitor(conn, s.from, s.to, s.ref);
        return;
      case 'demonitor': {
        const proc = s.to instanceof Pid ? this.localProcess(s.to) : this.names.get(s.to.name);
        proc?.monitoredBy.delete(refKey(s.ref));
        return;
      }
      case 'monitor_exit': {
        const proc = this.localProcess(s.to);
        if (proc === undefined) return;
        const m = proc.monitoring.get(refKey(s.ref));
        if (m === undefined) return;
        proc.monitoring.delete(refKey(s.ref));
        const who = s.from instanceof Atom ? tuple(s.from, atom(conn.peerName)) : s.from;
        proc.deliver(tuple(A.DOWN, s.ref, A.process, who, s.reason));
        return;
      }
      case 'spawn_request':
        this.onSpawnRequest(conn, s);
        return;
      case 'spawn_reply': {
        const proc = this.localProcess(s.to);
        if (proc === undefined) return;
        if (s.result instanceof Pid) {
          const child = s.result;
          if ((s.flags & SpawnReplyFlag.LINK) !== 0)
            proc.links.set(pidKey(child), { pid: child, unlinking: undefined });
          const m = proc.monitoring.get(refKey(s.reqId));
          if (m !== undefined) {
            if ((s.flags & SpawnReplyFlag.MONITOR) !== 0) m.target = child;
            else proc.monitoring.delete(refKey(s.reqId));
          }
          proc.deliver(tuple(A.spawn_reply, s.reqId, A.ok, child));
        } else {
          proc.monitoring.delete(refKey(s.reqId));
          proc.deliver(tuple(A.spawn_reply, s.reqId, A.error, s.result));
        }
        return;
      }
      case 'group_leader':
        return;
    }
  }

  private onAltAct(target: Term, payload: Term, from: Pid, flags: number): void {
    // EXIT flag: an exit signal to an alias; otherwise a message to a pid, alias or name.
    if ((flags & AltActFlag.EXIT) !== 0) {
      if (target instanceof Reference) {
        const proc = this.aliases.get(refKey(target));
        if (proc !== undefined) this.deliverExit(proc, from, payload, false);
      }
      return;
    }
    if (target instanceof Reference || target instanceof Pid) this.deliverFromPeer(target, payload);
    else if (target instanceof Atom) this.deliverToName(target, payload, from);
  }

  /** A message from a peer reaches a process of this node or nobody: a node never relays for its peers. */
  private deliverFromPeer(to: Pid | Reference, message: Term): void {
    if (to instanceof Pid) this.localProcess(to)?.deliver(message);
    else if (to.node.name === this.name) this.aliases.get(refKey(to))?.deliver(message);
  }

  private localProcess(pid: Pid): Process | undefined {
    if (!this.isLocal(pid)) return undefined;
    const p = this.processOf(pid);
    return p?.alive === true ? p : undefined;
  }

  private deliverToName(name: Atom, message: Term, from: Pid): void {
    const proc = this.names.get(name.name);
    if (proc !== undefined) {
      proc.deliver(message);
      return;
    }
    if (name.name === 'net_kernel') this.netKernel(message);
    else if (name.name === 'rex') this.rex(message);
    else if (name.name === 'global_name_server' && this.global !== undefined) this.global.handle(message);
    else this.logger.debug('message to unregistered name dropped', { name: name.name, from: describe(from) });
  }

  private onMonitor(conn: Connection, from: Pid, to: Pid | Atom, ref: Reference): void {
    if (to instanceof Atom && SYSTEM_NAMES.has(to.name) && !this.names.has(to.name)) return;
    const proc = to instanceof Pid ? this.localProcess(to) : this.names.get(to.name);
    if (proc === undefined || !proc.alive) {
      conn.send({ kind: 'monitor_exit', from: to, to: from, ref, reason: A.noproc });
      return;
    }
    proc.monitoredBy.set(refKey(ref), { ref, watcher: from, byName: to instanceof Atom ? to : undefined });
  }

  /** net_kernel's side of net_adm:ping: `{'$gen_call', From, {is_auth, Node}}` → yes. */
  private netKernel(message: Term): void {
    if (!(message instanceof Tuple) || message.length !== 3 || !isAtom(message.elements[0], '$gen_call'))
      return;
    const from = message.elements[1];
    const request = message.elements[2];
    if (!(from instanceof Tuple) || from.length !== 2) return;
    if (request instanceof Tuple && isAtom(request.elements[0], 'is_auth')) this.reply(from, A.yes);
  }

  /** The rex server: rpc's legacy `{call, M, F, A, GL}` form, casts, and the erpc feature probe. */
  private rex(message: Term): void {
    if (!(message instanceof Tuple)) return;
    const [first, second] = message.elements;
    if (message.length === 2 && first instanceof Pid && isAtom(second, 'features_request')) {
      this.sendToPid(first, tuple(A.features_reply, this.nodeAtom, [A.erpc]), this.system.pid);
      return;
    }
    if (
      message.length === 2 &&
      isAtom(first, '$gen_cast') &&
      second instanceof Tuple &&
      isAtom(second.elements[0], 'cast')
    ) {
      const [, m, f, a] = second.elements;
      if (m instanceof Atom && f instanceof Atom && Array.isArray(a)) void this.runExposed(m, f, a);
      return;
    }
    // {'$gen_call', From, {call, M, F, A, GL}} or the old {From, {call, M, F, A, GL}}.
    let reply: ((r: Term) => void) | undefined;
    let request: Term | undefined;
    if (message.length === 3 && isAtom(first, '$gen_call') && second instanceof Tuple) {
      const from = second;
      reply = (r) => this.reply(from, r);
      request = message.elements[2];
    } else if (message.length === 2 && first instanceof Pid) {
      const to = first;
      reply = (r) => this.sendToPid(to, tuple(A.rex, r), this.system.pid);
      request = second;
    }
    if (
      reply === undefined ||
      !(request instanceof Tuple) ||
      !(isAtom(request.elements[0], 'call') || isAtom(request.elements[0], 'block_call'))
    ) {
      return;
    }
    const [, m, f, a] = request.elements;
    if (!(m instanceof Atom) || !(f instanceof Atom) || !Array.isArray(a)) return;
    const send = reply;
    void this.runExposed(m, f, a).then((r) =>
      send(r.kind === 'return' ? r.value : tuple(A.badrpc, tuple(A.EXIT, exitReason(r)))),
    );
  }

  /** SPAWN_REQUEST: erpc:execute_call/4, erpc:execute_cast/3, or an exposed function directly. */
  private onSpawnRequest(conn: Connection, s: Extract<Signal, { kind: 'spawn_request' }>): void {
    const link = s.options.some((o) => isAtom(o, 'link'));
    const monitor = s.options.some((o) => isAtom(o, 'monitor'));
    const proc = this.newProcess();
    if (link) proc.links.set(pidKey(s.from), { pid: s.from, unlinking: undefined });
    if (monitor) proc.monitoredBy.set(refKey(s.reqId), { ref: s.reqId, watcher: s.from, byName: undefined });
    conn.send({
      kind: 'spawn_reply',
      reqId: s.reqId,
      to: s.from,
      flags: (link ? SpawnReplyFlag.LINK : 0) | (monitor ? SpawnReplyFlag.MONITOR : 0),
      result: proc.pid,
    });
    void this.runSpawned(proc, s).then((reason) => proc.terminate(reason));
  }

  private async runSpawned(proc: Process, s: Extract<Signal, { kind: 'spawn_request' }>): Promise<Term> {
    const args = s.args;
    if (s.module.name === 'erpc' && s.function.name === 'execute_call' && args.length === 4) {
      const [resultRef, m, f, a] = args;
      if (m instanceof Atom && f instanceof Atom && Array.isArray(a)) {
        const r = await this.runExposed(m, f, a);
        if (r.kind === 'error' && r.stack !== undefined)
          return tuple(resultRef as Term, A.error, r.value, r.stack);
        return tuple(resultRef as Term, atom(r.kind), r.value);
      }
    }
    if (s.module.name === 'erpc' && s.function.name === 'execute_cast' && args.length === 3) {
      const [m, f, a] = args;
      if (m instanceof Atom && f instanceof Atom && Array.isArray(a)) {
        return exitReason(await this.runExposed(m, f, a));
      }
    }
    const r = await this.runExposed(s.module, s.function, args);
    return proc.alive ? exitReason(r) : ATOM_NORMAL;
  }

  // Connections -------------------------------------------------------------------------------

  private handshakeOptions(peerName?: string) {
    const opts = {
      thisName: this.name,
      cookie: this.cookie,
      flags: this.flags,
      creation: this.creation,
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
    if (this.connections.has(peer)) return { status: 'alive' };
    if (this.accepting.has(peer)) return { status: 'nok' };
    // Simultaneous connect: the node with the greater name keeps its own attempt.
    if (this.dialing.has(peer)) return this.name > peer ? { status: 'nok' } : { status: 'ok_simultaneous' };
    return { status: 'ok' };
  }

  private accept(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const opts = this.handshakeOptions();
    const handshake = {
      ...opts,
      accept: (name: string, flags: bigint, dynamic: boolean) => {
        const status = opts.accept(name, flags, dynamic);
        if (status.status === 'ok' || status.status === 'ok_simultaneous' || status.status === 'alive') {
          conn.peerName = name;
          this.accepting.set(name, conn);
        }
        return status;
      },
      onAliveReply: (replace: boolean) => {
        if (!replace) return;
        // The peer restarted: its old connection is dead.
        const old = this.connections.get(conn.peerName || '');
        old?.close('connection_replaced');
      },
    };
    // The callbacks above run only once bytes arrive, after `conn` is set.
    const conn: Connection = this.wire(socket, 'acceptor', handshake, peer);
  }

  private dial(node: string): void {
    this.dialing.add(node);
    this.resolver.resolve(node).then(
      ({ host, port }) => {
        if (this.stopped) return;
        const socket = netConnect({ host, port, noDelay: true });
        socket.once('connect', () => conn.start());
        const conn = this.wire(socket, 'initiator', this.handshakeOptions(node), `${host}:${port}`);
      },
      (err: unknown) => {
        this.dialing.delete(node);
        const error =
          err instanceof EidError
            ? err
            : new DistError('DIST_RESOLVE', `cannot resolve ${node}: ${String(err)}`, { node, cause: err });
        this.failWaiters(node, error);
      },
    );
  }

  private wire(
    socket: Socket,
    role: 'initiator' | 'acceptor',
    handshake: ReturnType<Node['handshakeOptions']>,
    peer: string,
  ): Connection {
    this.sockets.add(socket);
    const conn = new Connection(
      socket,
      {
        role,
        handshake,
        tickTimeMs: this.tickTimeMs,
        setupTimeMs: this.connectTimeoutMs,
        peer,
        logger: this.logger,
        ...this.limits,
      },
      {
        up: (c, result) => this.onUp(c, result),
        signal: (c, s) => {
          try {
            this.onSignal(c, s);
          } catch (err) {
            c.close(
              'bad_signal',
              err instanceof DistError ? err : new DistError('DIST_INTERNAL', String(err), { cause: err }),
            );
          }
        },
        down: (c, reason, error) => this.onDown(c, reason, error),
      },
    );
    socket.on('data', (chunk: Buffer) => conn.feed(chunk));
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
    if (conn.role === 'initiator') this.dialing.delete(node);
    else this.accepting.delete(node);
    const old = this.connections.get(node);
    if (old !== undefined && old !== conn) old.close('connection_replaced');
    this.connections.set(node, conn);
    const w = this.waiters.get(node);
    if (w !== undefined) {
      this.waiters.delete(node);
      clearTimeout(w.timer);
      for (const resolve of w.resolve) resolve(conn);
    }
    const hidden = !hasFlag(result.peerFlags, DistFlags.PUBLISHED);
    this.logger.info('nodeup', { node, hidden });
    this.emit('nodeup', node, { hidden });
  }

  private onDown(conn: Connection, reason: string, error: DistError | undefined): void {
    const node = conn.peerName;
    if (!conn.isUpOnce) {
      // A failed handshake. An outgoing one that lost a simultaneous connect waits for the incoming one.
      if (conn.role === 'initiator') {
        const target = conn.dialled;
        this.dialing.delete(target);
        if (
          error?.code === 'DIST_HANDSHAKE_NOK' &&
          (this.accepting.has(target) || this.connections.has(target))
        )
          return;
        this.failWaiters(
          target,
          error ??
            new DistError('DIST_CONNECT_FAILED', `cannot connect to ${target}: ${reason}`, { node: target }),
        );
      } else if (node !== '' && this.accepting.get(node) === conn) {
        this.accepting.delete(node);
        if (!this.dialing.has(node))
          this.failWaiters(
            node,
            error ?? new DistError('DIST_CONNECT_FAILED', `connection from ${node} failed`, { node }),
          );
      }
      return;
    }
    if (this.connections.get(node) !== conn) return;
    this.connections.delete(node);
    this.nodeDown(node);
    this.global?.nodeDown(node);
    this.logger.info('nodedown', { node, reason });
    this.emit('nodedown', node, { reason });
  }

  /** Links to the node's processes break with noconnection; monitors fire DOWN noconnection. */
  private nodeDown(node: string): void {
    for (const proc of [...this.processes.values()]) {
      for (const [key, link] of proc.links) {
        if (link.pid.node.name !== node) continue;
        if (link.unlinking !== undefined) {
          proc.links.delete(key);
          continue;
        }
        this.deliverExit(proc, link.pid, A.noconnection, true);
      }
      for (const [key, m] of proc.monitoring) {
        if (m.node === node) {
          proc.monitoring.delete(key);
          proc.deliver(tuple(A.DOWN, m.ref, A.process, m.target, A.noconnection));
        }
      }
      for (const [key, m] of proc.monitoredBy) if (m.watcher.node.name === node) proc.monitoredBy.delete(key);
    }
  }

  private failWaiters(node: string, error: Error): void {
    const w = this.waiters.get(node);
    if (w === undefined) return;
    this.waiters.delete(node);
    clearTimeout(w.timer);
    for (const reject of w.reject) reject(error);
  }
}
