/**
 * Just enough of OTP's `global` name server for a visible TS node to be a well-behaved member
 * of a cluster running `global` (global_name_server on every visible node, OTP 25+ protocol
 * version 8): it answers the connect handshake (init_connect, lock_set, exchange, resolved) as
 * a node that registers no global names, grants and releases locks, accepts name registrations
 * made by others, and honours `remove_connection` (prevent_overlapping_partitions). Without
 * this, global:sync/0 and global:register_name/2 on OTP nodes would wait forever for us.
 */
import { atom, Atom, Pid, Tuple, tuple, type Term } from '../etf/terms.ts';
import { LogSummary, type Logger } from '../log.ts';
import { termKey as key } from './term-key.ts';

/** The protocol version of global since OTP 23 (init_connect with {8, Tag}). */
const GLOBAL_PROTOCOL = 8;

/** Bounds on what peers can make `global` hold (OTP has none; docs/node.md, "Limits"). */
export interface GlobalLimits {
  /** Global names recorded (default 20 000). */
  names?: number;
  /** Locked resources (default 10 000). */
  locks?: number;
}

export const DEFAULT_GLOBAL_NAMES = 20_000;
export const DEFAULT_GLOBAL_LOCKS = 10_000;
/** Processes sharing one lock under one requester id (OTP's PidRefs list). */
const MAX_PIDS_PER_LOCK = 256;
/** Refused requests of one kind are summarised in one log line per this many ms. */
const REFUSED_SUMMARY_MS = 10_000;

export interface GlobalHost {
  readonly nodeAtom: Atom;
  /** A pid of this node standing for our locker process. */
  readonly lockerPid: Pid;
  /** gen_server:cast({global_name_server, Node}, Msg). */
  castGlobal(node: string, message: Term): void;
  reply(from: Tuple, reply: Term): void;
  disconnect(node: string): void;
  logger: Logger;
}

const A = {
  gen_call: '$gen_call',
  gen_cast: '$gen_cast',
  init_connect: atom('init_connect'),
  locker: atom('locker'),
  no_longer_a_pid: atom('no_longer_a_pid'),
  lock_set: atom('lock_set'),
  exchange: atom('exchange'),
  resolved: atom('resolved'),
  unused: atom('unused'),
  in_sync: atom('in_sync'),
  yes: atom('yes'),
  no: atom('no'),
  ok: atom('ok'),
  error: atom('error'),
  not_allowed: atom('not_allowed'),
} as const;

function is(t: Term | undefined, name: string): boolean {
  return t instanceof Atom && t.name === name;
}

export class GlobalServer {
  /** Our sync tag toward each node, and theirs. */
  private readonly myTags = new Map<string, number>();
  private readonly hisTags = new Map<string, Term>();
  private nextTag = 1;
  /** ResourceId → the requester holding it and the pids that set it. */
  private readonly locks = new Map<string, { requester: string; pids: Map<string, Pid> }>();
  /** Names registered by other nodes (kept so whereis works and unregister is harmless). */
  readonly names = new Map<string, Pid>();
  private readonly maxNames: number;
  private readonly maxLocks: number;
  /** What was refused: the first of each kind logged at once, the repeats summarised. */
  private readonly refused: LogSummary;

  constructor(
    private readonly host: GlobalHost,
    limits: GlobalLimits = {},
  ) {
    this.maxNames = limits.names ?? DEFAULT_GLOBAL_NAMES;
    this.maxLocks = limits.locks ?? DEFAULT_GLOBAL_LOCKS;
    this.refused = new LogSummary(host.logger, 'global: requests refused', {
      intervalMs: REFUSED_SUMMARY_MS,
      firstMsg: 'global: request refused',
    });
  }

  /** Logs what was refused and not yet summarised (the node is stopping). */
  flush(): void {
    this.refused.flush();
  }

  handle(message: Term): void {
    if (!(message instanceof Tuple)) return;
    const [kind, a, b] = message.elements;
    if (is(kind, A.gen_cast) && a instanceof Tuple) {
      this.cast(a);
    } else if (is(kind, A.gen_call) && a instanceof Tuple && message.length === 3) {
      this.host.reply(a, this.call(b as Term, a));
    } else if (is(kind, 'remove_connection') && a instanceof Atom) {
      // prevent_overlapping_partitions: the sender lost a node we still see and wants us gone.
      this.host.logger.info('global asked to remove the connection', { node: a.name });
      this.host.disconnect(a.name);
    }
  }

  /** A node went down: forget its tags and the locks its processes held. */
  nodeDown(node: string): void {
    this.myTags.delete(node);
    this.hisTags.delete(node);
    for (const [resource, lock] of this.locks) {
      for (const [pk, pid] of lock.pids) if (pid.node.name === node) lock.pids.delete(pk);
      if (lock.pids.size === 0) this.locks.delete(resource);
    }
    for (const [name, pid] of this.names) if (pid.node.name === node) this.names.delete(name);
  }

  private tagFor(node: string): number {
    let tag = this.myTags.get(node);
    if (tag === undefined) {
      tag = this.nextTag++;
      this.myTags.set(node, tag);
    }
    return tag;
  }

  private cast(m: Tuple): void {
    const [kind, a, b, c, d] = m.elements;
    if (is(kind, 'init_connect') && b instanceof Atom) {
      // {init_connect, {Vsn, HisTag}, Node, {locker, _, HisKnown, HisLocker}}
      const node = b.name;
      if (a instanceof Tuple) this.hisTags.set(node, a.elements[1] as Term);
      const mine = tuple(GLOBAL_PROTOCOL, this.tagFor(node));
      const locker = tuple(A.locker, A.no_longer_a_pid, [], this.host.lockerPid);
      this.host.castGlobal(node, tuple(A.init_connect, mine, this.host.nodeAtom, locker));
      return;
    }
    if (is(kind, 'lock_set') && a instanceof Pid && b === true) {
      // Their locker locked both sides: agree, and send our (empty) name list.
      const node = a.node.name;
      const hisTag = this.hisTags.get(node) ?? d ?? 0;
      this.host.castGlobal(node, tuple(A.lock_set, this.host.lockerPid, true, [], hisTag as Term));
      this.host.castGlobal(node, tuple(A.exchange, this.host.nodeAtom, [], [], hisTag as Term));
      return;
    }
    if (is(kind, 'exchange') && a instanceof Atom) {
      // Their names (a list of {Name, Pid, Method}); we have none to conflict with.
      const node = a.name;
      if (Array.isArray(b)) for (const entry of b) this.remember(entry);
      const hisTag = this.hisTags.get(node) ?? 0;
      this.host.castGlobal(node, tuple(A.resolved, this.host.nodeAtom, [], [], A.unused, [], hisTag as Term));
      return;
    }
    if (is(kind, 'resolved') && Array.isArray(c)) {
      // {resolved, Node, HisResolved, HisKnown, unused, NamesExt, Tag}: sync with the nodes it knows.
      if (Array.isArray(b)) for (const op of b) this.remember(op);
      this.syncOthers(c);
      return;
    }
    if (is(kind, 'new_nodes') && Array.isArray(d)) {
      // {new_nodes, Node, Ops, NamesExt, Nodes, ExtraInfo}: a node synced with others.
      if (Array.isArray(b)) for (const op of b) this.remember(op);
      this.syncOthers(d);
    }
  }

  /** global's sync_others: tell each node (connecting if needed) that we are in sync with it. */
  private syncOthers(nodes: Term[]): void {
    for (const entry of nodes) {
      const n = entry instanceof Tuple ? entry.elements[0] : entry;
      if (n instanceof Atom && n.name !== this.host.nodeAtom.name) {
        this.host.castGlobal(n.name, tuple(A.in_sync, this.host.nodeAtom, true));
      }
    }
  }

  /** Records a name, unless the table is full: true when recorded. */
  private store(name: string, pid: Pid): boolean {
    if (this.names.size >= this.maxNames && !this.names.has(name)) {
      this.refused.count('name table full', { name, node: pid.node.name, limit: this.maxNames });
      return false;
    }
    this.names.set(name, pid);
    return true;
  }

  private remember(entry: Term): void {
    if (entry instanceof Tuple && entry.elements[0] instanceof Atom && entry.elements[1] instanceof Pid) {
      this.store(entry.elements[0].name, entry.elements[1]);
    }
    if (entry instanceof Tuple && is(entry.elements[0], 'insert') && entry.elements[1] instanceof Tuple)
      this.remember(entry.elements[1]);
  }

  private call(request: Term, from: Tuple): Term {
    if (!(request instanceof Tuple)) return A.ok;
    const [kind, a, b] = request.elements;
    const caller = from.elements[0];
    if (is(kind, 'set_lock') && a instanceof Tuple && caller instanceof Pid) {
      const [resource, requester] = a.elements;
      const rk = key(resource as Term);
      const lock = this.locks.get(rk);
      const req = key(requester as Term);
      if (lock !== undefined && lock.requester !== req) return false;
      const pk = key(caller);
      const full =
        lock === undefined
          ? this.locks.size >= this.maxLocks && 'lock table full'
          : lock.pids.size >= MAX_PIDS_PER_LOCK && !lock.pids.has(pk) && 'too many processes on one lock';
      if (full !== false) {
        // As a lock held by someone else: the requester may retry.
        this.refused.count(full, { node: caller.node.name, limit: this.maxLocks });
        return false;
      }
      const entry = lock ?? { requester: req, pids: new Map<string, Pid>() };
      entry.pids.set(pk, caller);
      this.locks.set(rk, entry);
      return true;
    }
    if (is(kind, 'del_lock') && a instanceof Tuple && caller instanceof Pid) {
      const rk = key(a.elements[0] as Term);
      const lock = this.locks.get(rk);
      if (lock !== undefined && lock.requester === key(a.elements[1] as Term)) {
        lock.pids.delete(key(caller));
        if (lock.pids.size === 0) this.locks.delete(rk);
      }
      return true;
    }
    if ((is(kind, 'register') || is(kind, 'register_ext')) && a instanceof Atom && b instanceof Pid) {
      // OTP answers yes whatever happens (the registering node ignores the answer).
      return this.store(a.name, b) ? A.yes : A.no;
    }
    if (is(kind, 'registrar')) {
      // {registrar, Fun} runs Fun in OTP's registrar: arbitrary code. OTP only sends it to its
      // own node's server, so from a peer it is refused and never run.
      this.refused.count('registrar', { node: caller instanceof Pid ? caller.node.name : undefined });
      return tuple(A.error, A.not_allowed);
    }
    if (is(kind, 'unregister') && a instanceof Atom) {
      this.names.delete(a.name);
      return A.ok;
    }
    if (is(kind, 'get_known') || is(kind, 'get_synced')) return [];
    if (is(kind, 'get_protocol_version')) return GLOBAL_PROTOCOL;
    return A.ok;
  }
}
