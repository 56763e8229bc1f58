/**
 * The processes of one node and Erlang's rules between them: pids, registered names, aliases,
 * links (with UNLINK_ID), monitors and exit signals, from local processes and from peers, and
 * what a lost connection does to them. Signals for other nodes leave through {@link Peers}; the
 * table never touches a socket, so its rules are testable with a fake.
 */
import { randomInt } from 'node:crypto';
import { DistError } from '../errors.ts';
import { formatTerm } from '../etf/format.ts';
import { atom, Atom, Pid, Reference, Tuple, tuple, type Term } from '../etf/terms.ts';
import type { Connection } from './connection.ts';
import { SpawnReplyFlag, type Signal, type SignalOf } from './control.ts';
import {
  ATOM_KILL,
  ATOM_KILLED,
  isAtom,
  pidKey,
  Process,
  refKey,
  sendableReason,
  type Destination,
  type ProcessHost,
} from './process.ts';

/** How signals reach other nodes (the node's connections). */
export interface Peers {
  /** Sends over the connection to `node`; without one, connects first unless `autoConnect` is false. */
  send(node: string, signal: Signal, autoConnect?: boolean): void;
  /** Sends over the connection to `node`, connecting first; `unreachable` runs if that fails. */
  sendOrElse(node: string, signal: Signal, unreachable: () => void): void;
}

/** The connection a signal came in on: its peer's name, and a way to answer. */
export type PeerConnection = Pick<Connection, 'peerName' | 'send'>;

export interface ProcessTableOptions {
  nodeAtom: Atom;
  creation: number;
  /** What the processes of this table ask their node for. */
  host: ProcessHost;
  peers: Peers;
  /** Names the node's own services answer: nobody registers them, and monitoring one never fires. */
  reserved: ReadonlySet<string>;
}

const A = {
  DOWN: atom('DOWN'),
  EXIT: atom('EXIT'),
  error: atom('error'),
  noconnection: atom('noconnection'),
  noproc: atom('noproc'),
  ok: atom('ok'),
  process: atom('process'),
  spawn_reply: atom('spawn_reply'),
} as const;

const MAX_PID_NUMBER = 0x0fffffff;

function toAtom(name: Atom | string): Atom {
  return typeof name === 'string' ? atom(name) : name;
}

export class ProcessTable {
  readonly name: string;
  readonly nodeAtom: Atom;
  readonly creation: number;
  private readonly host: ProcessHost;
  private readonly peers: Peers;
  private readonly reserved: ReadonlySet<string>;
  private readonly processes = new Map<number, Process>();
  private readonly names = new Map<string, Process>();
  private readonly aliases = new Map<string, Process>();
  private nextPid = 1;
  private pidSerial = 0;
  private refCounter = 0;
  private unlinkCounter = 0n;

  constructor(options: ProcessTableOptions) {
    this.nodeAtom = options.nodeAtom;
    this.name = options.nodeAtom.name;
    this.creation = options.creation;
    this.host = options.host;
    this.peers = options.peers;
    this.reserved = options.reserved;
  }

  /** A new process with the next free pid. */
  spawn(): Process {
    // Pid numbers are 28 bits in OTP; past that the serial goes up, as in the emulator.
    let id = this.nextPid;
    while (this.processes.has(id)) id = id >= MAX_PID_NUMBER ? 1 : id + 1;
    this.nextPid = id >= MAX_PID_NUMBER ? 1 : id + 1;
    if (this.nextPid === 1) this.pidSerial = (this.pidSerial + 1) >>> 0;
    const proc = new Process(new Pid(this.nodeAtom, id, this.pidSerial, this.creation), this.host);
    this.processes.set(id, proc);
    return proc;
  }

  /** Every process not yet ended. */
  all(): Process[] {
    return [...this.processes.values()];
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

  isLocal(pid: Pid): boolean {
    return pid.node.name === this.name && pid.creation === this.creation;
  }

  /** The live process of this node `pid` names, if any. */
  localProcess(pid: Pid): Process | undefined {
    if (!this.isLocal(pid)) return undefined;
    const p = this.processOf(pid);
    return p?.alive === true ? p : undefined;
  }

  /** The process `pid` names in this table (by number and serial), if any. */
  private processOf(pid: Pid): Process | undefined {
    const p = this.processes.get(pid.id);
    return p !== undefined && p.pid.serial === pid.serial ? p : undefined;
  }

  // Names and aliases -------------------------------------------------------------------------

  /** erlang:register. */
  register(name: string, proc: Process): void {
    if (this.names.has(name) || this.reserved.has(name))
      throw new DistError('DIST_NAME_TAKEN', `'${name}' is already registered`, { node: this.name });
    if (!proc.alive)
      throw new DistError('DIST_NOPROC', 'cannot register a dead process', { node: this.name });
    this.names.set(name, proc);
  }

  unregister(name: string): boolean {
    return this.names.delete(name);
  }

  /** The process registered as `name`, if any. */
  named(name: string): Process | undefined {
    return this.names.get(name);
  }

  /** Makes `ref` an alias of `proc`: messages to it reach `proc` until it is demonitored. */
  addAlias(proc: Process, ref: Reference): void {
    const key = refKey(ref);
    proc.aliases.add(key);
    this.aliases.set(key, proc);
  }

  /** The process `alias` (a reference of this node) stands for, if active. */
  aliasOwner(alias: Reference): Process | undefined {
    return this.aliases.get(refKey(alias));
  }

  // Links, monitors and exits of local processes ----------------------------------------------

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
    // As in OTP: linking to a pid on a node we cannot reach breaks the link with noconnection.
    this.peers.sendOrElse(other.node.name, { kind: 'link', from: self.pid, to: other }, () =>
      this.deliverExit(self, other, A.noconnection, true),
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
    this.peers.send(other.node.name, { kind: 'unlink_id', id, from: self.pid, to: other });
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
      throw new DistError('DIST_BADARG', `cannot monitor ${formatTerm(target as Term)}`, { node: this.name });
    }
    const monitored: Pid | Tuple = pid ?? tuple(name!, atom(node));
    self.monitoring.set(refKey(ref), { ref, target: monitored, node });
    if (node !== this.name) {
      // OTP: monitoring an unreachable node gives an immediate DOWN noconnection.
      this.peers.sendOrElse(node, { kind: 'monitor', from: self.pid, to: pid ?? name!, ref }, () =>
        this.fireDown(self, ref, A.noconnection),
      );
      return ref;
    }
    if (name !== undefined && this.reserved.has(name.name)) return ref;
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
      this.peers.send(m.node, { kind: 'demonitor', from: self.pid, to, ref });
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
    this.peers.send(to.node.name, { kind: 'exit2', from, to, reason });
  }

  /** A process of this table ended: forget it, and tell its links and monitors. */
  processDied(proc: Process, reason: Term): void {
    // Other nodes get a reason they can decode: one with no Erlang term becomes {js_error, Why}.
    let remote: Term | undefined;
    const remoteReason = (): Term => (remote ??= sendableReason(reason));
    this.processes.delete(proc.pid.id);
    for (const [name, p] of this.names) if (p === proc) this.names.delete(name);
    for (const key of proc.aliases) this.aliases.delete(key);
    for (const link of proc.links.values()) {
      if (this.isLocal(link.pid)) {
        const other = this.processOf(link.pid);
        if (other !== undefined) this.deliverExit(other, proc.pid, reason, true);
      } else if (link.unlinking === undefined) {
        const signal: Signal = { kind: 'exit', from: proc.pid, to: link.pid, reason: remoteReason() };
        this.peers.send(link.pid.node.name, signal, false);
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
        const signal: Signal = {
          kind: 'monitor_exit',
          from,
          to: m.watcher,
          ref: m.ref,
          reason: remoteReason(),
        };
        this.peers.send(m.watcher.node.name, signal, false);
      }
    }
    proc.monitoredBy.clear();
    for (const [key, m] of proc.monitoring) {
      const to = m.target instanceof Pid ? m.target : (m.target.elements[0] as Atom);
      if (m.node !== this.name) {
        this.peers.send(m.node, { kind: 'demonitor', from: proc.pid, to, ref: m.ref }, false);
      } else {
        (to instanceof Pid ? this.processOf(to) : this.names.get(to.name))?.monitoredBy.delete(key);
      }
    }
    proc.monitoring.clear();
  }

  /** An exit signal reaches a local process: Erlang's rules for links, kill, normal and trap_exit. */
  deliverExit(proc: Process, from: Pid, reason: Term, viaLink: boolean): void {
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

  // Spawn requests ----------------------------------------------------------------------------

  /** Our SPAWN_REQUEST `reqId` to `node` is also a monitor of what it spawns, by `target` until then. */
  watchSpawn(proc: Process, reqId: Reference, target: Tuple, node: string): void {
    proc.monitoring.set(refKey(reqId), { ref: reqId, target, node });
  }

  /** A process for a peer's SPAWN_REQUEST, linked to and/or monitored by the requester. */
  spawnFor(requester: Pid, reqId: Reference, link: boolean, monitor: boolean): Process {
    const proc = this.spawn();
    if (link) proc.links.set(pidKey(requester), { pid: requester, unlinking: undefined });
    if (monitor) proc.monitoredBy.set(refKey(reqId), { ref: reqId, watcher: requester, byName: undefined });
    return proc;
  }

  // Signals from peers ------------------------------------------------------------------------

  peerLink(conn: PeerConnection, s: SignalOf<'link'>): void {
    const proc = this.localProcess(s.to);
    if (proc === undefined) {
      conn.send({ kind: 'exit', from: s.to, to: s.from, reason: A.noproc });
      return;
    }
    const existing = proc.links.get(pidKey(s.from));
    if (existing === undefined) proc.links.set(pidKey(s.from), { pid: s.from, unlinking: undefined });
  }

  peerUnlink(s: SignalOf<'unlink'>): void {
    this.localProcess(s.to)?.links.delete(pidKey(s.from));
  }

  peerUnlinkId(conn: PeerConnection, s: SignalOf<'unlink_id'>): void {
    const proc = this.localProcess(s.to);
    const link = proc?.links.get(pidKey(s.from));
    // Our own unlink in flight wins; otherwise the link goes. Always acknowledge.
    if (proc !== undefined && link !== undefined && link.unlinking === undefined)
      proc.links.delete(pidKey(s.from));
    conn.send({ kind: 'unlink_id_ack', id: s.id, from: s.to, to: s.from });
  }

  peerUnlinkIdAck(s: SignalOf<'unlink_id_ack'>): void {
    const proc = this.localProcess(s.to);
    const link = proc?.links.get(pidKey(s.from));
    if (proc !== undefined && link !== undefined && link.unlinking === s.id)
      proc.links.delete(pidKey(s.from));
  }

  /** EXIT (a link broke) or EXIT2 (erlang:exit/2) from a peer. */
  peerExit(s: SignalOf<'exit' | 'exit2'>): void {
    const proc = this.localProcess(s.to);
    if (proc !== undefined) this.deliverExit(proc, s.from, s.reason, s.kind === 'exit');
  }

  peerMonitor(conn: PeerConnection, s: SignalOf<'monitor'>): void {
    const { from, to, ref } = s;
    if (to instanceof Atom && this.reserved.has(to.name) && !this.names.has(to.name)) return;
    const proc = to instanceof Pid ? this.localProcess(to) : this.names.get(to.name);
    if (proc === undefined || !proc.alive) {
      conn.send({ kind: 'monitor_exit', from: to, to: from, ref, reason: A.noproc });
      return;
    }
    proc.monitoredBy.set(refKey(ref), { ref, watcher: from, byName: to instanceof Atom ? to : undefined });
  }

  peerDemonitor(s: SignalOf<'demonitor'>): void {
    const proc = s.to instanceof Pid ? this.localProcess(s.to) : this.names.get(s.to.name);
    proc?.monitoredBy.delete(refKey(s.ref));
  }

  peerMonitorExit(conn: PeerConnection, s: SignalOf<'monitor_exit'>): void {
    const proc = this.localProcess(s.to);
    if (proc === undefined) return;
    const m = proc.monitoring.get(refKey(s.ref));
    if (m === undefined) return;
    proc.monitoring.delete(refKey(s.ref));
    const who = s.from instanceof Atom ? tuple(s.from, atom(conn.peerName)) : s.from;
    proc.deliver(tuple(A.DOWN, s.ref, A.process, who, s.reason));
  }

  /** The answer to our SPAWN_REQUEST: the monitor follows the new pid, or ends with the error. */
  peerSpawnReply(s: SignalOf<'spawn_reply'>): void {
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
  }

  /** The connection to `node` is gone: links to it break with noconnection, monitors fire DOWN. */
  nodeDown(node: string): void {
    for (const proc of this.all()) {
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
}
