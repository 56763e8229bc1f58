/**
 * A `pg` scope on the TypeScript node, speaking OTP's scope protocol (kernel's pg.erl, OTP 23+;
 * the same on the wire in OTP 25, 27 and 29):
 *
 * - A scope is a process registered locally under the scope's name. When it starts, and on each
 *   nodeup, it sends `{discover, ScopePid}` to `{Scope, Node}`.
 * - A scope that receives `{discover, Peer}` (OTP 26+ also accepts `{discover, Peer, Vsn}`; OTP 25
 *   crashes on it, so we only ever send the 2-tuple) answers with a gen_server cast
 *   `{sync, ScopePid, [{Group, [Pid]}]}` listing its local members, and, if Peer is new to it,
 *   monitors Peer and sends `{discover, ScopePid}` back to the Peer pid.
 * - A sync replaces everything known about that peer's members (it monitors Peer if new).
 * - Joins and leaves of local processes go to every known peer scope as plain messages:
 *   `{join, ScopePid, Group, PidOrPids}` and `{leave, ScopePid, PidOrPids, [Group]}`. A local
 *   member's exit is sent as a leave of all its groups. Messages from unknown peers are ignored.
 * - A peer scope's 'DOWN' (its exit, or noconnection at nodedown) drops all of its members.
 *
 * Everything from a peer is hostile: shapes OTP would crash on are ignored, pids must belong to the
 * sending scope's node, each node has at most one peer scope, and remote members are bounded.
 */
import { atom, Pid, Reference, Tuple, tuple, type Term } from '../etf/terms.ts';
import { formatTerm } from '../etf/format.ts';
import { LogSummary, type Logger } from '../log.ts';
import { isAtom, pidKey, sameRef, type Destination, type Process } from './process.ts';
import { termKey } from './term-key.ts';

/** What a scope needs from its node. */
export interface ScopeHost {
  /** This node's name. */
  readonly name: string;
  /** A new process of this node (not running any body). */
  spawn(): Process;
  register(name: string, proc: Process): void;
  send(dest: Destination, message: Term, from: Pid): void;
  /** Connected nodes (visible and hidden). */
  connectedNodes(): string[];
  logger: Logger;
}

/** A change in membership: `pids` joined or left `group`. */
export interface GroupChange {
  action: 'join' | 'leave';
  group: Term;
  pids: Pid[];
}

export type GroupListener = (change: GroupChange) => void;

/** Remote memberships one scope records (default 100 000): past it, further joins are dropped and logged. */
export const DEFAULT_PG_REMOTE_MEMBERS = 100_000;

const A = {
  DOWN: 'DOWN',
  discover: atom('discover'),
  gen_cast: atom('$gen_cast'),
  join: atom('join'),
  leave: atom('leave'),
  sync: atom('sync'),
} as const;

/** Refused peer input is summarised in one log line per this many ms. */
const REFUSED_SUMMARY_MS = 10_000;

interface GroupEntry {
  group: Term;
  /** Every member, newest first (as OTP's ETS row). */
  all: Pid[];
  local: Pid[];
}

interface LocalMember {
  pid: Pid;
  ref: Reference;
  /** Group keys, once per join (a process may join a group more than once). */
  groups: string[];
}

interface PeerScope {
  pid: Pid;
  ref: Reference;
  /** Group key → that peer's members in it. */
  groups: Map<string, { group: Term; pids: Pid[] }>;
}

function removeOnce(list: Pid[], pid: Pid): boolean {
  const k = pidKey(pid);
  const i = list.findIndex((p) => pidKey(p) === k);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}

/** `a` without `b`, as multisets (a pid joined twice is listed twice). */
function minus(a: Pid[], b: Pid[]): Pid[] {
  const rest = [...b];
  return a.filter((p) => !removeOnce(rest, p));
}

/** `pid`, or every pid of a list: what a peer's PidOrPids holds, or undefined if it is malformed. */
function pidsOf(t: Term | undefined): Pid[] | undefined {
  if (t instanceof Pid) return [t];
  if (!Array.isArray(t) || !t.every((p) => p instanceof Pid)) return undefined;
  return t as Pid[];
}

export class PgScope {
  readonly name: string;
  /** The scope's registered process. */
  readonly process: Process;
  private readonly groups = new Map<string, GroupEntry>();
  private readonly local = new Map<string, LocalMember>();
  /** Peer scopes by node name: one per node, so a peer cannot grow this past the connected nodes. */
  private readonly peers = new Map<string, PeerScope>();
  private readonly scopeListeners = new Set<GroupListener>();
  private readonly groupListeners = new Map<string, Set<GroupListener>>();
  private remoteMembers = 0;
  private readonly maxRemoteMembers: number;
  private readonly refused: LogSummary;

  constructor(
    private readonly host: ScopeHost,
    name: string,
    options: { maxRemoteMembers?: number } = {},
  ) {
    this.name = name;
    this.maxRemoteMembers = options.maxRemoteMembers ?? DEFAULT_PG_REMOTE_MEMBERS;
    this.refused = new LogSummary(host.logger, 'pg: peer messages ignored', {
      intervalMs: REFUSED_SUMMARY_MS,
      firstMsg: 'pg: peer message ignored',
    });
    this.process = host.spawn();
    host.register(name, this.process);
    void this.loop();
    // pg:init/1 discovers every node already connected.
    for (const node of host.connectedNodes()) this.nodeUp(node);
  }

  // Public API --------------------------------------------------------------------------------

  /** pg:join/3: `pids` (processes of this node) join `group`; a process may join more than once. */
  join(group: Term, pids: Pid | Process | (Pid | Process)[]): void {
    const list = this.localPids(pids);
    if (list.length === 0) return;
    const gk = termKey(group);
    for (const pid of list) {
      const k = pidKey(pid);
      let member = this.local.get(k);
      if (member === undefined) {
        member = { pid, ref: this.process.monitor(pid), groups: [] };
        this.local.set(k, member);
      }
      member.groups.push(gk);
    }
    const entry = this.entry(gk, group);
    entry.all.unshift(...list);
    entry.local.unshift(...list);
    this.notify('join', gk, group, list);
    this.broadcast(tuple(A.join, this.process.pid, group, list.length === 1 ? list[0]! : list));
  }

  /** pg:leave/3: false (OTP's not_joined) when none of `pids` was in `group`. */
  leave(group: Term, pids: Pid | Process | (Pid | Process)[]): boolean {
    const gk = termKey(group);
    const left: Pid[] = [];
    for (const pid of this.localPids(pids)) {
      const member = this.local.get(pidKey(pid));
      if (member === undefined) continue;
      const i = member.groups.indexOf(gk);
      if (i < 0) continue;
      member.groups.splice(i, 1);
      if (member.groups.length === 0) {
        this.process.demonitor(member.ref);
        this.local.delete(pidKey(pid));
      }
      left.push(pid);
    }
    if (left.length === 0) return false;
    this.dropLocal(gk, left);
    this.broadcast(
      tuple(A.leave, this.process.pid, left.length === 1 ? left[0]! : left, [this.groupTerm(gk, group)]),
    );
    return true;
  }

  /** pg:get_members/2: every member of `group` on every node of the scope. */
  getMembers(group: Term): Pid[] {
    return [...(this.groups.get(termKey(group))?.all ?? [])];
  }

  /** pg:get_local_members/2: the members on this node. */
  getLocalMembers(group: Term): Pid[] {
    return [...(this.groups.get(termKey(group))?.local ?? [])];
  }

  /** pg:which_groups/1: groups with at least one member. */
  whichGroups(): Term[] {
    return [...this.groups.values()].map((e) => e.group);
  }

  /**
   * pg:monitor/2: the members of `group` now, and `listener` called on each later join and leave
   * until `cancel()`.
   */
  monitor(group: Term, listener: GroupListener): { members: Pid[]; cancel: () => void } {
    const gk = termKey(group);
    let set = this.groupListeners.get(gk);
    if (set === undefined) this.groupListeners.set(gk, (set = new Set()));
    const mine = set;
    const wrapped: GroupListener = (c) => listener(c);
    mine.add(wrapped);
    return {
      members: this.getMembers(group),
      cancel: () => {
        mine.delete(wrapped);
        if (mine.size === 0 && this.groupListeners.get(gk) === mine) this.groupListeners.delete(gk);
      },
    };
  }

  /** pg:monitor_scope/1: every group and its members now, and `listener` called on every change. */
  monitorScope(listener: GroupListener): { groups: Map<Term, Pid[]>; cancel: () => void } {
    const wrapped: GroupListener = (c) => listener(c);
    this.scopeListeners.add(wrapped);
    const groups = new Map<Term, Pid[]>();
    for (const e of this.groups.values()) groups.set(e.group, [...e.all]);
    return { groups, cancel: () => this.scopeListeners.delete(wrapped) };
  }

  /** The scope processes of other nodes this scope is in sync with, by node. */
  peerNodes(): string[] {
    return [...this.peers.keys()];
  }

  // From the node -----------------------------------------------------------------------------

  /** pg's nodeup: discover whether `node` runs this scope. */
  nodeUp(node: string): void {
    if (node === this.host.name || !this.process.alive) return;
    this.host.send(tuple(atom(this.name), atom(node)), tuple(A.discover, this.process.pid), this.process.pid);
  }

  /** The scope's process ended (node stopping): the log summary is flushed. */
  flush(): void {
    this.refused.flush();
  }

  // The scope process -------------------------------------------------------------------------

  private async loop(): Promise<void> {
    for (;;) {
      let message: Term;
      try {
        message = await this.process.receive();
      } catch {
        return; // the scope's process ended (the node stopped)
      }
      try {
        this.handle(message);
      } catch (err) {
        // Defensive: a handler bug must not end the scope; OTP would restart it, we keep going.
        this.host.logger.warn('pg: message handling failed', {
          scope: this.name,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }

  /** @internal one message to the scope process (exposed for the fuzz tests). */
  handle(message: Term): void {
    if (!(message instanceof Tuple)) return this.ignore('not a tuple', message);
    const [tag, a, b, c] = message.elements;
    const n = message.length;
    if (isAtom(tag, 'discover') && (n === 2 || n === 3) && a instanceof Pid) return this.discover(a);
    if (
      isAtom(tag, '$gen_cast') &&
      n === 2 &&
      a instanceof Tuple &&
      isAtom(a.elements[0], 'sync') &&
      a.length === 3
    ) {
      const [, peer, groups] = a.elements;
      if (peer instanceof Pid && Array.isArray(groups)) return this.sync(peer, groups);
    } else if (isAtom(tag, 'join') && n === 4 && a instanceof Pid) {
      return this.remoteJoin(a, b as Term, pidsOf(c));
    } else if (isAtom(tag, 'leave') && n === 4 && a instanceof Pid && Array.isArray(c)) {
      return this.remoteLeave(a, pidsOf(b), c);
    } else if (isAtom(tag, A.DOWN) && n === 5 && a instanceof Reference && c instanceof Pid) {
      return this.down(a, c);
    }
    this.ignore('unexpected message', message);
  }

  private ignore(why: string, message: Term): void {
    this.refused.count(why, { scope: this.name, message: formatTerm(message).slice(0, 200) });
  }

  /** A peer scope is usable if its node is another node we are connected to. */
  private acceptablePeer(peer: Pid): boolean {
    const node = peer.node.name;
    return node !== this.host.name && this.host.connectedNodes().includes(node);
  }

  private discover(peer: Pid): void {
    if (!this.acceptablePeer(peer)) return this.ignore('discover from an unconnected node', peer);
    this.host.send(
      peer,
      tuple(A.gen_cast, tuple(A.sync, this.process.pid, this.allLocal())),
      this.process.pid,
    );
    if (this.knownPeer(peer) === undefined) {
      this.addPeer(peer);
      this.host.send(peer, tuple(A.discover, this.process.pid), this.process.pid);
    }
  }

  /** The peer record for exactly this scope pid, if known. */
  private knownPeer(peer: Pid): PeerScope | undefined {
    const p = this.peers.get(peer.node.name);
    return p !== undefined && pidKey(p.pid) === pidKey(peer) ? p : undefined;
  }

  private addPeer(peer: Pid): PeerScope {
    // One scope per node: a new scope pid there means the old one is gone (restarted).
    const old = this.peers.get(peer.node.name);
    if (old !== undefined) this.dropPeer(old);
    const p: PeerScope = { pid: peer, ref: this.process.monitor(peer), groups: new Map() };
    this.peers.set(peer.node.name, p);
    return p;
  }

  private dropPeer(p: PeerScope): void {
    this.process.demonitor(p.ref);
    this.peers.delete(p.pid.node.name);
    for (const [gk, { group, pids }] of p.groups) this.dropRemote(gk, group, pids);
    p.groups.clear();
  }

  /** A peer's full list of its members: replaces what we knew of it. */
  private sync(peer: Pid, groups: Term[]): void {
    if (!this.acceptablePeer(peer)) return this.ignore('sync from an unconnected node', peer);
    const p = this.knownPeer(peer) ?? this.addPeer(peer);
    const fresh = new Map<string, { group: Term; pids: Pid[] }>();
    for (const g of groups) {
      if (!(g instanceof Tuple) || g.length !== 2) return this.ignore('malformed sync entry', g);
      const pids = pidsOf(g.elements[1]);
      if (pids === undefined || !Array.isArray(g.elements[1]) || !this.fromPeer(peer, pids)) return;
      const group = g.elements[0] as Term;
      const gk = termKey(group);
      const prev = fresh.get(gk);
      fresh.set(gk, { group, pids: prev === undefined ? [...pids] : [...pids, ...prev.pids] });
    }
    for (const [gk, old] of p.groups) {
      if (!fresh.has(gk)) this.dropRemote(gk, old.group, old.pids);
    }
    for (const [gk, next] of fresh) {
      const old = p.groups.get(gk)?.pids ?? [];
      const gone = minus(old, next.pids);
      const added = minus(next.pids, old);
      if (gone.length > 0) this.dropRemote(gk, next.group, gone);
      const kept = this.addRemote(gk, next.group, added);
      next.pids = next.pids.filter((x) => !added.includes(x) || kept.includes(x));
    }
    p.groups = fresh;
  }

  private remoteJoin(peer: Pid, group: Term, pids: Pid[] | undefined): void {
    const p = this.knownPeer(peer);
    // As OTP: joins from a scope we are not in sync with (a late message, or a stranger) are ignored.
    if (p === undefined) return;
    if (pids === undefined || !this.fromPeer(peer, pids)) return;
    const gk = termKey(group);
    const kept = this.addRemote(gk, group, pids);
    const mine = p.groups.get(gk);
    if (mine === undefined) p.groups.set(gk, { group, pids: [...kept] });
    else mine.pids.unshift(...kept);
  }

  private remoteLeave(peer: Pid, pids: Pid[] | undefined, groups: Term[]): void {
    const p = this.knownPeer(peer);
    if (p === undefined || pids === undefined) return;
    for (const group of groups) {
      const gk = termKey(group);
      const mine = p.groups.get(gk);
      if (mine === undefined) continue;
      const removed = pids.filter((pid) => removeOnce(mine.pids, pid));
      if (mine.pids.length === 0) p.groups.delete(gk);
      this.dropRemote(gk, mine.group, removed);
    }
  }

  /** A 'DOWN': a local member ended, or a peer scope (or its node) went away. */
  private down(ref: Reference, pid: Pid): void {
    // Only our own monitors count: anyone can send a 'DOWN'-shaped message to a registered name.
    const member = this.local.get(pidKey(pid));
    if (member !== undefined && sameRef(ref, member.ref)) {
      this.local.delete(pidKey(pid));
      const groups: Term[] = [];
      for (const gk of new Set(member.groups)) {
        const times = member.groups.filter((g) => g === gk).length;
        const entry = this.groups.get(gk);
        if (entry === undefined) continue;
        // Once per join, as OTP lists them: a peer removes the pid once per listed group.
        for (let i = 0; i < times; i++) groups.push(entry.group);
        this.dropLocal(gk, Array<Pid>(times).fill(pid));
      }
      this.broadcast(tuple(A.leave, this.process.pid, pid, groups));
      return;
    }
    const p = this.knownPeer(pid);
    if (p !== undefined && sameRef(ref, p.ref)) this.dropPeer(p);
  }

  /** Pids a peer scope may speak for: only its own node's (OTP's pg joins local pids only). */
  private fromPeer(peer: Pid, pids: Pid[]): boolean {
    if (pids.every((p) => p.node.name === peer.node.name)) return true;
    this.ignore('member of another node', peer);
    return false;
  }

  // Membership table --------------------------------------------------------------------------

  private entry(gk: string, group: Term): GroupEntry {
    let e = this.groups.get(gk);
    if (e === undefined) this.groups.set(gk, (e = { group, all: [], local: [] }));
    return e;
  }

  private groupTerm(gk: string, fallback: Term): Term {
    return this.groups.get(gk)?.group ?? fallback;
  }

  /** Adds remote members within the bound; returns the ones added. */
  private addRemote(gk: string, group: Term, pids: Pid[]): Pid[] {
    const room = Math.max(0, this.maxRemoteMembers - this.remoteMembers);
    const kept = pids.length <= room ? pids : pids.slice(0, room);
    if (kept.length < pids.length)
      this.refused.count('remote member limit reached', { scope: this.name, limit: this.maxRemoteMembers });
    if (kept.length === 0) return kept;
    this.remoteMembers += kept.length;
    this.entry(gk, group).all.unshift(...kept);
    this.notify('join', gk, group, kept);
    return kept;
  }

  private dropRemote(gk: string, group: Term, pids: Pid[]): void {
    const e = this.groups.get(gk);
    if (e === undefined || pids.length === 0) return;
    const removed = pids.filter((pid) => removeOnce(e.all, pid));
    this.remoteMembers -= removed.length;
    if (e.all.length === 0) this.groups.delete(gk);
    if (removed.length > 0) this.notify('leave', gk, e.group ?? group, removed);
  }

  private dropLocal(gk: string, pids: Pid[]): void {
    const e = this.groups.get(gk);
    if (e === undefined) return;
    for (const pid of pids) {
      removeOnce(e.all, pid);
      removeOnce(e.local, pid);
    }
    if (e.all.length === 0) this.groups.delete(gk);
    this.notify('leave', gk, e.group, pids);
  }

  /** What a sync lists: each group with this node's members in it (a pid once per join). */
  private allLocal(): Tuple[] {
    const byGroup = new Map<string, Pid[]>();
    for (const m of this.local.values()) {
      for (const gk of m.groups) {
        const list = byGroup.get(gk);
        if (list === undefined) byGroup.set(gk, [m.pid]);
        else list.unshift(m.pid);
      }
    }
    const out: Tuple[] = [];
    for (const [gk, pids] of byGroup) {
      const e = this.groups.get(gk);
      if (e !== undefined) out.push(tuple(e.group, pids));
    }
    return out;
  }

  private localPids(pids: Pid | Process | (Pid | Process)[]): Pid[] {
    const list = (Array.isArray(pids) ? pids : [pids]).map((p) => (p instanceof Pid ? p : p.pid));
    for (const p of list) {
      if (p.node.name !== this.host.name)
        throw new TypeError(`pg: only processes of this node can join or leave (${formatTerm(p)})`);
    }
    return list;
  }

  private broadcast(message: Term): void {
    for (const p of this.peers.values()) this.host.send(p.pid, message, this.process.pid);
  }

  private notify(action: 'join' | 'leave', gk: string, group: Term, pids: Pid[]): void {
    if (pids.length === 0) return;
    const change: GroupChange = { action, group, pids: [...pids] };
    const call = (l: GroupListener) => {
      try {
        l(change);
      } catch (err) {
        this.host.logger.warn('pg: a monitor listener threw', {
          scope: this.name,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    };
    for (const l of this.scopeListeners) call(l);
    for (const l of this.groupListeners.get(gk) ?? []) call(l);
  }
}
