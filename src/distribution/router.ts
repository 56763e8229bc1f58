/**
 * Where signals go: messages from local processes to pids, names and aliases here or on other
 * nodes, and each signal a peer sends to the process table or to the node's system services.
 */
import { DistError } from '../errors.ts';
import { formatTerm } from '../etf/format.ts';
import { atom, Atom, ImproperList, Pid, Reference, tuple, type Term } from '../etf/terms.ts';
import type { Logger } from '../log.ts';
import { AltActFlag, type Signal, type SignalOf } from './control.ts';
import type { PeerConnection, Peers, ProcessTable } from './process-table.ts';
import { isAtom, type Destination, type From } from './process.ts';

/** The node's own services (net_kernel, rex, ...), as the router reaches them. */
export interface Services {
  /** Delivers `message` to the service called `name`; false when there is none. */
  deliver(name: string, message: Term): boolean;
  /** A peer asks this node to spawn a process (SPAWN_REQUEST). */
  spawnRequest(conn: PeerConnection, s: SignalOf<'spawn_request'>): void;
}

export interface RouterOptions {
  table: ProcessTable;
  /** `admit` throws when a send from JS to that node must not be queued (backpressure). */
  peers: Peers & { admit(node: string): void };
  services: Services;
  logger: Logger;
}

export class Router {
  private readonly name: string;
  private readonly table: ProcessTable;
  private readonly peers: RouterOptions['peers'];
  private readonly services: Services;
  private readonly logger: Logger;
  private readonly received = new Map<string, number>();

  constructor(options: RouterOptions) {
    this.table = options.table;
    this.name = options.table.name;
    this.peers = options.peers;
    this.services = options.services;
    this.logger = options.logger;
  }

  // From local processes ----------------------------------------------------------------------

  /**
   * Sends `message` from JS code (`from`) to a pid, a name here, `{Name, Node}`, or an alias.
   * Throws SendQueueFullError when the connection to another node is at its send bound.
   */
  send(dest: Destination, message: Term, from: Pid): void {
    const node = this.nodeOf(dest);
    if (node !== this.name) this.peers.admit(node);
    if (dest instanceof Pid) return this.sendToPid(dest, message, from);
    if (dest instanceof Reference) return this.sendToAlias(dest, message, from);
    if (typeof dest === 'string' || dest instanceof Atom)
      return this.sendToName(typeof dest === 'string' ? atom(dest) : dest, this.name, message, from);
    this.sendToName(dest.elements[0] as Atom, node, message, from);
  }

  /** The node `dest` is on; throws DIST_BADARG for a tuple that is not `{Name, Node}`. */
  nodeOf(dest: Destination): string {
    if (dest instanceof Pid || dest instanceof Reference) return dest.node.name;
    if (typeof dest === 'string' || dest instanceof Atom) return this.name;
    const [name, node] = dest.elements;
    if (!(name instanceof Atom) || !(node instanceof Atom) || dest.length !== 2) {
      throw new DistError('DIST_BADARG', `bad destination ${formatTerm(dest)}`, { node: this.name });
    }
    return node.name;
  }

  sendToPid(to: Pid, message: Term, from: Pid): void {
    if (to.node.name === this.name) {
      if (to.creation === this.table.creation) this.table.localProcess(to)?.deliver(message);
      return;
    }
    this.peers.send(to.node.name, { kind: 'send', from, to, message });
  }

  sendToName(name: Atom, node: string, message: Term, from: Pid): void {
    if (node === this.name) {
      this.deliverToName(name, message, from);
      return;
    }
    this.peers.send(node, { kind: 'reg_send', from, to: name, message });
  }

  private sendToAlias(alias: Reference, message: Term, from: Pid): void {
    if (alias.node.name === this.name) {
      this.table.aliasOwner(alias)?.deliver(message);
      return;
    }
    this.peers.send(alias.node.name, { kind: 'alias_send', from, alias, message });
  }

  /** gen:reply: through the caller's alias when it gave one (OTP 24+), else to its pid. */
  reply(from: From, reply: Term, sender: Pid): void {
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

  // From peers --------------------------------------------------------------------------------

  /** How many signals of each kind arrived from other nodes (for metrics and tests). */
  signalCounts(): Record<string, number> {
    return Object.fromEntries(this.received);
  }

  /** A signal from the peer at the other end of `conn`. */
  onSignal(conn: PeerConnection, s: Signal): void {
    this.received.set(s.kind, (this.received.get(s.kind) ?? 0) + 1);
    const table = this.table;
    switch (s.kind) {
      case 'send':
        return this.deliverFromPeer(s.to, s.message);
      case 'reg_send':
        return this.deliverToName(s.to, s.message, s.from);
      case 'alias_send':
        return this.deliverFromPeer(s.alias, s.message);
      case 'altact_sig':
        return this.onAltAct(s);
      case 'link':
        return table.peerLink(conn, s);
      case 'unlink':
        return table.peerUnlink(s);
      case 'unlink_id':
        return table.peerUnlinkId(conn, s);
      case 'unlink_id_ack':
        return table.peerUnlinkIdAck(s);
      case 'exit':
      case 'exit2':
        return table.peerExit(s);
      case 'monitor':
        return table.peerMonitor(conn, s);
      case 'demonitor':
        return table.peerDemonitor(s);
      case 'monitor_exit':
        return table.peerMonitorExit(conn, s);
      case 'spawn_request':
        return this.services.spawnRequest(conn, s);
      case 'spawn_reply':
        return table.peerSpawnReply(s);
      case 'group_leader':
        return;
    }
  }

  private onAltAct(s: SignalOf<'altact_sig'>): void {
    const { target, payload, from } = s;
    // EXIT flag: an exit signal to an alias; otherwise a message to a pid, alias or name.
    if ((s.flags & AltActFlag.EXIT) !== 0) {
      if (target instanceof Reference) {
        const proc = this.table.aliasOwner(target);
        if (proc !== undefined) this.table.deliverExit(proc, from, payload, false);
      }
      return;
    }
    if (target instanceof Reference || target instanceof Pid) this.deliverFromPeer(target, payload);
    else if (target instanceof Atom) this.deliverToName(target, payload, from);
  }

  /** A message from a peer reaches a process of this node or nobody: a node never relays for its peers. */
  private deliverFromPeer(to: Pid | Reference, message: Term): void {
    if (to instanceof Pid) this.table.localProcess(to)?.deliver(message);
    else if (to.node.name === this.name) this.table.aliasOwner(to)?.deliver(message);
  }

  /** A registered process first, then the node's own services; else the message is dropped. */
  private deliverToName(name: Atom, message: Term, from: Pid): void {
    const proc = this.table.named(name.name);
    if (proc !== undefined) {
      proc.deliver(message);
      return;
    }
    if (!this.services.deliver(name.name, message))
      this.logger.debug('message to unregistered name dropped', { name: name.name, from: formatTerm(from) });
  }
}
