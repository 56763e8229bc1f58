/**
 * Phoenix.PubSub on the TypeScript node, as phoenix_pubsub 2.x's default adapter
 * (Phoenix.PubSub.PG2) speaks it between nodes:
 *
 * - PubSub `Name` has the adapter name `Name.Adapter` (the atom 'Elixir.Name.Adapter').
 * - Its pool has PoolSize groups: the adapter name, then '<adapter name>_2' up to '_PoolSize'.
 *   A worker is registered locally under each group name and joins that group in the `pg` scope
 *   `Phoenix.PubSub` (the atom 'Elixir.Phoenix.PubSub').
 * - broadcast sends `{forward_to_local, Topic, Message, Dispatcher}` to every member, on another
 *   node, of ONE group: element `erlang:phash2(self(), BroadcastPoolSize)` of the group tuple.
 *   Topic is a binary; Dispatcher is 'Elixir.Phoenix.PubSub' unless a custom one is given.
 * - direct_broadcast sends the same tuple to `{Group, Node}`.
 * - A worker receiving the tuple runs Phoenix.PubSub.local_broadcast/4: every local subscriber of
 *   Topic gets Message.
 *
 * So every node must answer on every group of the pool, which is why this registers all of them.
 */
import { atom, Atom, Pid, Tuple, tuple, type Term } from '../etf/terms.ts';
import { phash2 } from '../etf/phash2.ts';
import type { Logger } from '../log.ts';
import type { PgScope } from './pg.ts';
import { isAtom, type Destination, type Process } from './process.ts';

/** The `pg` scope Phoenix.PubSub starts on every node: the Elixir alias `Phoenix.PubSub`. */
export const PUBSUB_SCOPE = 'Elixir.Phoenix.PubSub';
/** The dispatcher broadcasts name unless a custom one is given. */
export const DEFAULT_DISPATCHER = 'Elixir.Phoenix.PubSub';

export interface PubSubOptions {
  /** Groups (and workers) in the pool, as phoenix_pubsub's `pool_size` (default 1). */
  poolSize?: number;
  /** Groups broadcasts pick from (phoenix_pubsub's `broadcast_pool_size`; default poolSize). */
  broadcastPoolSize?: number;
}

/** What a subscriber receives: the message, its topic, and the dispatcher the sender named. */
export type PubSubHandler = (message: Term, topic: string, dispatcher: string) => void;

export interface PubSubHost {
  readonly name: string;
  readonly systemPid: Pid;
  spawn(): Process;
  register(name: string, proc: Process): void;
  send(dest: Destination, message: Term, from: Pid): void;
  /** The node's `pg` scope of this name (started if needed). */
  scope(name: string): PgScope;
  logger: Logger;
}

const A = {
  forward_to_local: atom('forward_to_local'),
} as const;

/** The topic as a key: its bytes, so binary topics that are not UTF-8 still match exactly. */
function topicKey(topic: string | Uint8Array): string {
  return (typeof topic === 'string' ? Buffer.from(topic, 'utf8') : Buffer.from(topic)).toString('latin1');
}

/** 'Elixir.MyApp.PubSub' for 'MyApp.PubSub'; names already given as 'Elixir.X' are kept. */
function elixirName(name: string): string {
  return name.startsWith('Elixir.') || name.startsWith(':') ? name.replace(/^:/, '') : `Elixir.${name}`;
}

export class PubSub {
  /** The atom the adapter goes by, 'Elixir.<Name>.Adapter'. */
  readonly adapterName: string;
  /** The pool's group names, in order. */
  readonly groups: readonly string[];
  private readonly broadcastGroups: readonly Atom[];
  private readonly workers: Process[] = [];
  private readonly subscribers = new Map<string, Set<PubSubHandler | Process>>();
  private readonly scope: PgScope;

  constructor(
    private readonly host: PubSubHost,
    readonly name: string,
    options: PubSubOptions = {},
  ) {
    const poolSize = options.poolSize ?? 1;
    const broadcastPoolSize = options.broadcastPoolSize ?? poolSize;
    if (!Number.isInteger(poolSize) || poolSize < 1)
      throw new RangeError('pubsub: poolSize must be a positive integer');
    if (!Number.isInteger(broadcastPoolSize) || broadcastPoolSize < 1 || broadcastPoolSize > poolSize)
      throw new RangeError('pubsub: broadcastPoolSize must be from 1 to poolSize');
    this.adapterName = `${elixirName(name)}.Adapter`;
    this.groups = Array.from({ length: poolSize }, (_, i) =>
      i === 0 ? this.adapterName : `${this.adapterName}_${i + 1}`,
    );
    this.broadcastGroups = this.groups.slice(0, broadcastPoolSize).map((g) => atom(g));
    this.scope = host.scope(PUBSUB_SCOPE);
    for (const group of this.groups) {
      const worker = host.spawn();
      host.register(group, worker);
      this.scope.join(atom(group), worker);
      this.workers.push(worker);
      void this.serve(worker);
    }
  }

  /**
   * Subscribes `handler` (a function, or a process that gets each message in its mailbox, as an
   * Elixir subscriber does) to `topic`; returns a function that unsubscribes it.
   */
  subscribe(topic: string | Uint8Array, handler: PubSubHandler | Process): () => void {
    const key = topicKey(topic);
    let set = this.subscribers.get(key);
    if (set === undefined) this.subscribers.set(key, (set = new Set()));
    set.add(handler);
    return () => this.unsubscribe(topic, handler);
  }

  /** Removes `handler` from `topic` (every handler of the topic when none is given). */
  unsubscribe(topic: string | Uint8Array, handler?: PubSubHandler | Process): void {
    const key = topicKey(topic);
    const set = this.subscribers.get(key);
    if (set === undefined) return;
    if (handler === undefined) set.clear();
    else set.delete(handler);
    if (set.size === 0) this.subscribers.delete(key);
  }

  /** Phoenix.PubSub.broadcast/4: to every subscriber of `topic` on every node, this one included. */
  broadcast(
    topic: string | Uint8Array,
    message: Term,
    options: { dispatcher?: string; from?: Process } = {},
  ): void {
    const dispatcher = options.dispatcher ?? DEFAULT_DISPATCHER;
    this.remote(topic, message, dispatcher, options.from?.pid ?? this.host.systemPid);
    this.dispatch(topic, message, dispatcher, options.from);
  }

  /** Phoenix.PubSub.broadcast_from/5: as broadcast, but not to `from` on this node. */
  broadcastFrom(
    from: Process,
    topic: string | Uint8Array,
    message: Term,
    options: { dispatcher?: string } = {},
  ): void {
    this.broadcast(topic, message, { ...options, from });
  }

  /** Phoenix.PubSub.local_broadcast/4: to this node's subscribers only. */
  localBroadcast(topic: string | Uint8Array, message: Term, options: { dispatcher?: string } = {}): void {
    this.dispatch(topic, message, options.dispatcher ?? DEFAULT_DISPATCHER, undefined);
  }

  /** Phoenix.PubSub.direct_broadcast/5: to the subscribers on `node` only. */
  directBroadcast(
    node: string,
    topic: string | Uint8Array,
    message: Term,
    options: { dispatcher?: string } = {},
  ): void {
    const from = this.host.systemPid;
    const group = this.groupFor(from);
    const forward = this.forward(topic, message, options.dispatcher ?? DEFAULT_DISPATCHER);
    this.host.send(tuple(group, atom(node)), forward, from);
  }

  /** Subscribed topics (as UTF-8 strings) with their subscriber counts. */
  topics(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [key, set] of this.subscribers) out.set(Buffer.from(key, 'latin1').toString('utf8'), set.size);
    return out;
  }

  /** Stops the workers: other nodes stop seeing this node in the pool's groups. */
  stop(): void {
    for (const w of this.workers) w.stop();
  }

  private groupFor(from: Pid): Atom {
    return this.broadcastGroups[phash2(from, this.broadcastGroups.length)]!;
  }

  private forward(topic: string | Uint8Array, message: Term, dispatcher: string): Tuple {
    const bin = typeof topic === 'string' ? Buffer.from(topic, 'utf8') : topic;
    return tuple(A.forward_to_local, bin, message, atom(dispatcher));
  }

  private remote(topic: string | Uint8Array, message: Term, dispatcher: string, from: Pid): void {
    const forward = this.forward(topic, message, dispatcher);
    for (const pid of this.scope.getMembers(this.groupFor(from))) {
      if (pid.node.name !== this.host.name) this.host.send(pid, forward, from);
    }
  }

  /** local_broadcast: each subscriber of the topic here, except `except`. */
  private dispatch(
    topic: string | Uint8Array,
    message: Term,
    dispatcher: string,
    except: Process | undefined,
  ): void {
    const set = this.subscribers.get(topicKey(topic));
    if (set === undefined) return;
    const text = typeof topic === 'string' ? topic : Buffer.from(topic).toString('utf8');
    for (const s of [...set]) {
      if (s === except) continue;
      if (typeof s === 'function') {
        try {
          s(message, text, dispatcher);
        } catch (err) {
          this.host.logger.warn('pubsub: a subscriber threw', {
            topic: text,
            error: err instanceof Error ? err.message : String(err),
          });
        }
      } else if (s.alive) {
        s.deliver(message);
      } else {
        set.delete(s);
      }
    }
  }

  /** A pool worker: forwards from other nodes become local broadcasts; anything else is dropped. */
  private async serve(worker: Process): Promise<void> {
    for (;;) {
      let m: Term;
      try {
        m = await worker.receive();
      } catch {
        return; // stopped
      }
      if (
        m instanceof Tuple &&
        m.length === 4 &&
        isAtom(m.elements[0], 'forward_to_local') &&
        m.elements[1] instanceof Uint8Array &&
        m.elements[3] instanceof Atom
      ) {
        this.dispatch(m.elements[1], m.elements[2] as Term, m.elements[3].name, undefined);
      }
    }
  }
}
