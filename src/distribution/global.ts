/**
 * Just enough of OTP's `global` name server for a visible TS node to be a well-behaved member
 * of a cluster running `global` (global_name_server on every visible node, OTP 25+ protocol
 * version 8): it answers the connect handshake (init_connect, lock_set, exchange, resolved) as
 * a node that registers no global names, tells the nodes it knew about a node it synced with
 * (new_nodes), grants and releases locks, accepts name registrations made by others, and
 * honours `remove_connection` (prevent_overlapping_partitions). Without
 * this, global:sync/0 and global:register_name/2 on OTP nodes would wait forever for us.
 */
import { compareTerms } from '../etf/order.ts';
import { atom, Atom, ExportFun, Pid, Reference, Tuple, tuple, type Term } from '../etf/terms.ts';
import { DistError } from '../errors.ts';
import { pidKey, sameRef, type Process } from './process.ts';
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
  /**
   * A process of this node standing for our locker: peers' lockers talk to its pid, and it holds
   * the monitors on registered names' pids (their 'DOWN's remove the names).
   */
  readonly locker: Process;
  /** gen_server:cast({global_name_server, Node}, Msg). */
  castGlobal(node: string, message: Term): void;
  reply(from: Tuple, reply: Term): void;
  disconnect(node: string): void;
  /** A fresh process of this node (a registrar for one transaction). */
  spawn(): Process;
  /** gen_server:call({global_name_server, Node}, Request) from `from`. */
  callGlobal(from: Process, node: string, request: Term): Promise<Term>;
  /** erpc-style call of Module:Function(Args) on `node` (global:resolve_it on a clash). */
  rpc(node: string, module: string, fn: string, args: Term[]): Promise<Term>;
  /** exit(Pid, Reason) from the node. */
  exit(pid: Pid, reason: Term): void;
  logger: Logger;
}

/** A registered name: its pid, the clash resolver given at registration, our monitor. */
interface NameEntry {
  pid: Pid;
  method: Term;
  ref: Reference | undefined;
}

/** global's default resolver, `fun global:random_exit_name/3`, as register_name/2 passes it. */
export const DEFAULT_RESOLVER = new ExportFun(atom('global'), atom('random_exit_name'), 3);
/** Attempts of one transaction before it fails (OTP retries forever, sleeping longer each time). */
const MAX_LOCK_ATTEMPTS = 40;

const A = {
  gen_call: '$gen_call',
  gen_cast: '$gen_cast',
  init_connect: atom('init_connect'),
  locker: atom('locker'),
  no_longer_a_pid: atom('no_longer_a_pid'),
  lock_set: atom('lock_set'),
  exchange: atom('exchange'),
  resolved: atom('resolved'),
  new_nodes: atom('new_nodes'),
  global: atom('global'),
  vsn: atom('vsn'),
  lock: atom('lock'),
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

/**
 * The well-formed entries of a known-nodes list: `{Node, Vsn}` (Vsn when positive) or a bare
 * `Node`; anything else is skipped.
 */
function* knownEntries(entries: Term[]): Generator<{ node: Atom; vsn: number | undefined }> {
  for (const entry of entries) {
    const [node, vsn] = entry instanceof Tuple ? entry.elements : [entry];
    if (node instanceof Atom) yield { node, vsn: typeof vsn === 'number' && vsn > 0 ? vsn : undefined };
  }
}

export class GlobalServer {
  /** Our sync tag toward each node, and theirs. */
  private readonly myTags = new Map<string, number>();
  private readonly hisTags = new Map<string, Term>();
  private nextTag = 1;
  /** ResourceId → the requester holding it and the pids that set it. */
  private readonly locks = new Map<string, { requester: string; pids: Map<string, Pid> }>();
  /** Every global name this node knows, its own registrations included. */
  readonly names = new Map<string, NameEntry>();
  /** Nodes this node's `global` is in sync with (OTP's known map), with their protocol versions. */
  private readonly known = new Map<string, number>();
  /** Peers' protocol versions (from init_connect), until they are known. */
  private readonly hisVersions = new Map<string, number>();
  /** The lock id a connecting peer's locker set ({global, sorted lockers}), for new_nodes. */
  private readonly lockIds = new Map<string, Term>();
  /** The ops our exchange_names made for a connecting peer (resolved waits for them). */
  private readonly exchanges = new Map<string, Promise<Tuple[]>>();
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
    void this.watch();
  }

  /** The locker's mailbox: 'DOWN's of registered pids remove their names; the rest is dropped. */
  private async watch(): Promise<void> {
    for (;;) {
      let m: Term;
      try {
        m = await this.host.locker.receive();
      } catch {
        return; // the node stopped
      }
      if (
        m instanceof Tuple &&
        m.length === 5 &&
        is(m.elements[0], 'DOWN') &&
        m.elements[1] instanceof Reference
      )
        this.down(m.elements[1]);
    }
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
    this.hisVersions.delete(node);
    this.lockIds.delete(node);
    this.exchanges.delete(node);
    for (const [resource, lock] of this.locks) {
      for (const [pk, pid] of lock.pids) if (pid.node.name === node) lock.pids.delete(pk);
      if (lock.pids.size === 0) this.locks.delete(resource);
    }
    for (const [name, e] of this.names) if (e.pid.node.name === node) this.names.delete(name);
    this.known.delete(node);
  }

  /** global:whereis_name/1. */
  whereis(name: string): Pid | undefined {
    return this.names.get(name)?.pid;
  }

  /** A registered process ended: its name goes (each node's `global` monitors every name's pid). */
  down(ref: Reference): void {
    for (const [name, e] of this.names)
      if (e.ref !== undefined && sameRef(ref, e.ref)) this.names.delete(name);
  }

  /**
   * global:register_name/2 with the default resolver: under the lock {global, Registrar} on the
   * boss (the greatest node name) and then on every known node, a {register, Name, Pid, Method}
   * call to each. The lock is set and the call made by the same registrar process, since each
   * node keeps the name only if that pid holds the `global` lock (lock_still_set).
   */
  async register(name: string, pid: Pid): Promise<boolean> {
    return this.transAllKnown(async (nodes, registrar) => {
      const taken =
        this.names.has(name) || [...this.names.values()].some((e) => pidKey(e.pid) === pidKey(pid));
      if (taken) return false;
      const request = tuple(atom('register'), atom(name), pid, DEFAULT_RESOLVER);
      for (const n of nodes) await this.host.callGlobal(registrar, n, request).catch(() => undefined);
      this.insert(name, pid, DEFAULT_RESOLVER);
      return true;
    });
  }

  /** global:unregister_name/1. */
  async unregister(name: string): Promise<void> {
    if (!this.names.has(name)) return;
    await this.transAllKnown(async (nodes, registrar) => {
      const request = tuple(atom('unregister'), atom(name));
      for (const n of nodes) await this.host.callGlobal(registrar, n, request).catch(() => undefined);
      this.remove(name);
    });
  }

  private insert(name: string, pid: Pid, method: Term): boolean {
    if (this.names.size >= this.maxNames && !this.names.has(name)) {
      this.refused.count('name table full', { name, node: pid.node.name, limit: this.maxNames });
      return false;
    }
    this.remove(name);
    this.names.set(name, { pid, method, ref: this.host.locker.monitor(pid) });
    return true;
  }

  private remove(name: string): void {
    const e = this.names.get(name);
    if (e === undefined) return;
    if (e.ref !== undefined) this.host.locker.demonitor(e.ref);
    this.names.delete(name);
  }

  /** trans_all_known: runs `fn` on the known nodes while holding {global, Registrar} on them all. */
  private async transAllKnown<T>(fn: (nodes: string[], registrar: Process) => Promise<T>): Promise<T> {
    const registrar = this.host.spawn();
    const id = tuple(atom('global'), registrar.pid);
    const self = this.host.nodeAtom.name;
    try {
      for (let attempt = 0; attempt < MAX_LOCK_ATTEMPTS; attempt++) {
        const known = [...this.known.keys()];
        const nodes = [self, ...known];
        const boss = nodes.reduce((a, b) => (compareTerms(atom(a), atom(b)) >= 0 ? a : b));
        if (await this.lockOn(id, [boss], registrar)) {
          const all = await this.lockOn(id, nodes, registrar);
          if (all && [...this.known.keys()].every((n) => known.includes(n))) {
            try {
              return await fn(known, registrar);
            } finally {
              await this.delLock(id, nodes, registrar);
            }
          }
          if (all) await this.delLock(id, nodes, registrar);
          else await this.delLock(id, [boss], registrar);
        }
        // random_sleep: up to a second and more each round.
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 250 * Math.min(attempt + 1, 8))));
      }
      throw new DistError('DIST_CALL_FAILED', 'global: could not lock the known nodes', { node: self });
    } finally {
      registrar.stop();
    }
  }

  /** set_lock_on_nodes: true when every node granted it; else releases the grants and is false. */
  private async lockOn(id: Tuple, nodes: string[], registrar: Process): Promise<boolean> {
    // One call at a time: the registrar is one process with one receive.
    const granted: string[] = [];
    let ok = true;
    for (const n of nodes) {
      const reply = await this.setLockOn(n, id, registrar).catch(() => false);
      if (reply !== true) {
        ok = false;
        break;
      }
      granted.push(n);
    }
    if (!ok) await this.delLock(id, granted, registrar);
    return ok;
  }

  private async setLockOn(node: string, id: Tuple, registrar: Process): Promise<Term> {
    const request = tuple(atom('set_lock'), id);
    if (node === this.host.nodeAtom.name) return this.call(request, tuple(registrar.pid, atom('local')));
    return this.host.callGlobal(registrar, node, request);
  }

  private async delLock(id: Tuple, nodes: string[], registrar: Process): Promise<void> {
    const request = tuple(atom('del_lock'), id);
    for (const n of nodes) {
      if (n === this.host.nodeAtom.name) this.call(request, tuple(registrar.pid, atom('local')));
      else await this.host.callGlobal(registrar, n, request).catch(() => undefined);
    }
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
      if (!this.hisTags.has(node) && this.hisTags.size >= this.maxNames) {
        // Each connecting node costs a few entries until it is known or down: bounded as names are.
        this.refused.count('too many connecting nodes', { node, limit: this.maxNames });
        return;
      }
      if (a instanceof Tuple) {
        this.hisTags.set(node, a.elements[1] as Term);
        const vsn = a.elements[0];
        if (typeof vsn === 'number') this.hisVersions.set(node, vsn);
      }
      const mine = tuple(GLOBAL_PROTOCOL, this.tagFor(node));
      const locker = tuple(A.locker, A.no_longer_a_pid, [], this.host.locker.pid);
      this.host.castGlobal(node, tuple(A.init_connect, mine, this.host.nodeAtom, locker));
      return;
    }
    if (is(kind, 'lock_set') && a instanceof Pid && b === true && this.hisTags.has(a.node.name)) {
      // Their locker locked both sides (only ever after their init_connect, which our reply to it
      // set off): agree, and send our names ({Name, Pid, Method}).
      const node = a.node.name;
      const hisTag = this.hisTags.get(node) ?? d ?? 0;
      // OTP's locker_lock_id: both lockers lock their partitions under this one id.
      const lockers = [a, this.host.locker.pid].sort(compareTerms);
      this.lockIds.set(node, tuple(A.global, lockers));
      this.host.castGlobal(node, tuple(A.lock_set, this.host.locker.pid, true, [], hisTag as Term));
      const ours = [...this.names].map(([name, e]) => tuple(atom(name), e.pid, e.method));
      this.host.castGlobal(node, tuple(A.exchange, this.host.nodeAtom, ours, [], hisTag as Term));
      return;
    }
    if (is(kind, 'exchange') && a instanceof Atom && Array.isArray(b) && this.hisTags.has(a.name)) {
      // Their names: exchange_names, then our resolved (the ops they must apply).
      const node = a.name;
      const ops = this.exchange(node, b);
      this.exchanges.set(node, ops);
      ops.catch((err: unknown) =>
        this.host.logger.warn('global: name exchange failed', { node, error: String(err) }),
      );
      return;
    }
    if (is(kind, 'resolved') && a instanceof Atom && Array.isArray(c)) {
      // {resolved, Node, HisResolved, HisKnown, unused, NamesExt, Tag}
      this.resolved(a, Array.isArray(b) ? b : [], c).catch((err: unknown) =>
        this.host.logger.warn('global: resolved failed', { node: a.name, error: String(err) }),
      );
      return;
    }
    if (is(kind, 'new_nodes') && Array.isArray(d)) {
      // {new_nodes, Node, Ops, NamesExt, Nodes, ExtraInfo}: a node synced with others.
      if (Array.isArray(b)) this.doOps(b);
      // As OTP: in_sync only to the nodes new to us (one to a node already in sync with us
      // would cancel a session it may have going with us).
      this.syncOthers(this.addKnown(d));
    }
  }

  /**
   * resolved: the peer's ops applied, in sync with the nodes it knows; and, as the node that
   * took the peer in, new_nodes to every node we knew before, naming the peer and its known
   * nodes. The peer already took our known nodes as its own (from our resolved) and told them
   * in_sync, which ends their own sessions with it: without new_nodes from us they would never
   * know it, and global:sync/0 on the peer would wait for them forever.
   */
  private async resolved(peer: Atom, hisResolved: Term[], hisKnown: Term[]): Promise<void> {
    const node = peer.name;
    const ours = (await this.exchanges.get(node)?.catch(() => [])) ?? [];
    this.exchanges.delete(node);
    // One new_nodes per session its locker set up with ours (not one per resolved sent to us).
    const lockId = this.lockIds.get(node);
    this.lockIds.delete(node);
    const theirs = this.doOps(hisResolved);
    const before = [...this.known.keys()].filter((n) => n !== node);
    this.syncOthers(hisKnown);
    const newNodes = [peer, ...hisKnown];
    this.addKnown(newNodes);
    const vsn = Math.min(this.hisVersions.get(node) ?? GLOBAL_PROTOCOL, GLOBAL_PROTOCOL);
    if (lockId === undefined) return;
    const extraInfo = [tuple(A.vsn, vsn), tuple(A.lock, lockId)];
    const message = tuple(
      A.new_nodes,
      this.host.nodeAtom,
      [...ours, ...theirs],
      [],
      this.versioned(newNodes),
      extraInfo,
    );
    for (const n of before) this.host.castGlobal(n, message);
  }

  /** global's sync_others: tell each node (connecting if needed) that we are in sync with it. */
  private syncOthers(nodes: Term[]): void {
    for (const { node: n } of knownEntries(nodes)) {
      if (n.name !== this.host.nodeAtom.name)
        this.host.castGlobal(n.name, tuple(A.in_sync, this.host.nodeAtom, true));
    }
  }

  /** add_to_known: the nodes ({Node, Vsn} or Node) that were not known yet, now known. */
  private addKnown(nodes: Term[]): Atom[] {
    const added: Atom[] = [];
    for (const { node: n, vsn } of knownEntries(nodes)) {
      if (n.name === this.host.nodeAtom.name || this.known.has(n.name)) continue;
      if (this.known.size >= this.maxNames) break;
      this.known.set(n.name, vsn ?? this.hisVersions.get(n.name) ?? 0);
      added.push(n);
    }
    return added;
  }

  /** make_node_vsn_list: [{Node, Vsn}], the versions as we know them (0: unknown). */
  private versioned(nodes: Term[]): Tuple[] {
    return [...knownEntries(nodes)].map(({ node: n, vsn }) =>
      tuple(n, vsn ?? this.known.get(n.name) ?? this.hisVersions.get(n.name) ?? 0),
    );
  }

  /** do_ops: {insert, {Name, Pid, Method}} and {delete, Name}; returns the well-formed ops, the only ones passed on in new_nodes. */
  private doOps(ops: Term[]): Tuple[] {
    const done: Tuple[] = [];
    for (const op of ops) {
      if (!(op instanceof Tuple) || op.length !== 2) continue;
      const [kind, what] = op.elements;
      if (is(kind, 'insert') && what instanceof Tuple && what.length === 3) {
        const [name, pid, method] = what.elements as [Term, Term, Term];
        if (!(name instanceof Atom) || !(pid instanceof Pid)) continue;
        this.insert(name.name, pid, method);
        done.push(op);
      } else if (is(kind, 'delete') && what instanceof Atom) {
        this.remove(what.name);
        done.push(op);
      }
    }
    return done;
  }

  /**
   * exchange_names: their names against ours. A name only they have is inserted here. On a clash
   * (same name, other pid) the node with the smaller name resolves it: global:resolve_it with the
   * resolver our registration was made with, run on the node of our pid (here, for our own pids:
   * the default resolver keeps the pid on the smaller node name and kills the other). The winner
   * goes into our ops (theirs won) or theirs (ours won); the larger node waits for those ops.
   */
  private async exchange(node: string, theirs: Term[]): Promise<Tuple[]> {
    const ops: Tuple[] = [];
    const res: Tuple[] = [];
    const insert = (name: Term, pid: Term, method: Term) => tuple(atom('insert'), tuple(name, pid, method));
    const weResolve = compareTerms(this.host.nodeAtom, atom(node)) < 0;
    for (const entry of theirs) {
      if (!(entry instanceof Tuple) || entry.length !== 3) continue;
      const [name, pid, method] = entry.elements as [Term, Term, Term];
      if (!(name instanceof Atom) || !(pid instanceof Pid)) continue;
      const mine = this.names.get(name.name);
      if (mine === undefined) ops.push(insert(name, pid, method));
      else if (pidKey(mine.pid) === pidKey(pid) || !weResolve) continue;
      else {
        const winner = await this.resolve(mine, name, pid);
        if (winner instanceof Pid && pidKey(winner) === pidKey(pid)) ops.push(insert(name, pid, method));
        else if (winner instanceof Pid && pidKey(winner) === pidKey(mine.pid))
          res.push(insert(name, mine.pid, mine.method));
        else {
          const del = tuple(atom('delete'), name);
          ops.push(del);
          res.push(del);
        }
      }
    }
    this.doOps(ops);
    const hisTag = this.hisTags.get(node) ?? 0;
    const known = [...this.known].map(([n, vsn]) => tuple(atom(n), vsn));
    this.host.castGlobal(
      node,
      tuple(A.resolved, this.host.nodeAtom, res, known, A.unused, [], hisTag as Term),
    );
    return ops;
  }

  /** resolve_it(Method, Name, TheirPid, OurPid) on the node of our pid. */
  private async resolve(mine: NameEntry, name: Atom, theirs: Pid): Promise<Term> {
    const isDefault =
      mine.method instanceof ExportFun &&
      mine.method.module.name === 'global' &&
      mine.method.name.name === 'random_exit_name';
    if (mine.pid.node.name === this.host.nodeAtom.name && isDefault) {
      // random_exit_name: keep the pid on the smaller node name, kill the other.
      const [min, max] =
        compareTerms(theirs.node, mine.pid.node) < 0 ? [theirs, mine.pid] : [mine.pid, theirs];
      this.host.logger.info('global: name conflict terminating', { name: name.name, node: max.node.name });
      this.host.exit(max, atom('kill'));
      return min;
    }
    if (mine.pid.node.name === this.host.nodeAtom.name) return atom('none'); // a resolver we cannot run here
    return this.host
      .rpc(mine.pid.node.name, 'global', 'resolve_it', [mine.method, name, theirs, mine.pid])
      .catch(() => tuple(atom('badrpc'), atom('failed')));
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
      return this.insert(a.name, b, request.elements[3] ?? DEFAULT_RESOLVER) ? A.yes : A.no;
    }
    if (is(kind, 'registrar')) {
      // {registrar, Fun} runs Fun in OTP's registrar: arbitrary code. OTP only sends it to its
      // own node's server, so from a peer it is refused and never run.
      this.refused.count('registrar', { node: caller instanceof Pid ? caller.node.name : undefined });
      return tuple(A.error, A.not_allowed);
    }
    if (is(kind, 'unregister') && a instanceof Atom) {
      this.remove(a.name);
      return A.ok;
    }
    if (is(kind, 'get_known') || is(kind, 'get_synced')) return [];
    if (is(kind, 'get_protocol_version')) return GLOBAL_PROTOCOL;
    return A.ok;
  }
}
