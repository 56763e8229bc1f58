/**
 * Keeps one cluster a full mesh (docs/clusters.md, "Model"). Every interval (and soon after a
 * container change) one pass:
 *  1. reads the cookie file (a changed cookie restarts the hidden node; the cookie is never logged);
 *  2. connects a hidden TS node to every member on this host (only this host: its resolver refuses
 *     any other; over TLS only, for a cluster with TLS distribution) and asks each for nodes() and
 *     whether it runs with -connect_all false;
 *  3. fetches the other hosts' members from their membership endpoints (membership-document.ts
 *     keeps only members of this cluster named for that host);
 *  4. asks each local member, by rpc net_kernel:connect_node/1, to connect the members it lacks.
 * Failures back off per member and per pair (backoff.ts) and log one line when they start and one
 * when they end, so a refusing node or a dead host never turns into a storm of attempts.
 */
import net from 'node:net';
import { DistError, EidError } from '../errors.ts';
import { TlsError } from '../distribution/errors.ts';
import { atom, Atom, Tuple, type Term } from '../etf/terms.ts';
import { Node } from '../distribution/node.ts';
import { splitNodeName } from '../distribution/handshake.ts';
import type { Resolver } from '../distribution/resolver.ts';
import { portFor, type CatalogEntry } from '../docker/inspect.ts';
import type { Logger } from '../log.ts';
import { Backoff } from './backoff.ts';
import { readCookieFile, type ClusterConfig } from './cluster-config.ts';
import {
  readPeerMembers,
  type ClusterView,
  type Member,
  type NodeStats,
  type PeerHost,
} from './membership-document.ts';

export interface ReconcilerDeps {
  /** This host as node names spell it. */
  host: string;
  cluster: ClusterConfig;
  /** The running containers on this host labelled for this cluster. */
  members(): CatalogEntry[];
  /** The container a name (an alias before the @) stands for, when it has one. */
  find(alias: string): CatalogEntry | undefined;
  /** The other hosts now (static list, .hosts.erlang, DNS). */
  peerHosts(): Promise<string[]>;
  /** A host's membership document, as JSON text. */
  fetchPeer(host: string): Promise<string>;
  /** Told of each pass and each connect_node asked for (the daemon's metrics). */
  observer?: ClusterObserver | undefined;
  log: Logger;
}

/** What a member was asked to connect came to. */
export type ConnectOutcome = 'connected' | 'failed';

export interface ClusterObserver {
  reconciled(cluster: string, seconds: number): void;
  connected(cluster: string, outcome: ConnectOutcome): void;
}

/** Waits for one rpc: nodes() and the like answer at once; connect_node may take a setup time. */
const QUERY_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 20_000;
/** The longest a refusing member or pair is left alone. */
const MAX_BACKOFF_MS = 60_000;
/**
 * A member never reached is tried once per interval this many times (its node may still be
 * starting) before its silence is worth a warning and the waits between attempts start doubling.
 * A peer host never reached is quiet as long (daemons started together cannot all listen before
 * the others' first pass): its first STARTUP_FAILURES - 1 failed fetches are logged at debug, and
 * so are all in its first STARTUP_FAILURES - 2 intervals, however many passes container changes
 * start meanwhile.
 */
const STARTUP_FAILURES = 10;
/**
 * A member's load (memory, processes, run queue) is asked at most this often, and only during a
 * pass: page views and `eid status` read the cached figures and never cause an rpc.
 */
export const STATS_INTERVAL_MS = 10_000;
/** Container changes within this window start one pass, not many. */
const KICK_DELAY_MS = 250;

const short = (id: string) => id.slice(0, 12);

/** Names (before the @) a container's node may have, in the order they are tried. */
function aliases(entry: CatalogEntry): string[] {
  return [...new Set([entry.labelName, entry.hostname, entry.name])].filter(
    (a): a is string => a !== undefined && a !== '',
  );
}

function atomNames(t: Term): string[] {
  return Array.isArray(t) ? t.filter((a): a is Atom => a instanceof Atom).map((a) => a.name) : [];
}

/**
 * Why a member refused the hidden node's connection, when it said so: a cookie that does not
 * match, or TLS (a certificate either side refuses, or one side speaking TLS and the other not).
 * Undefined for silence and closes, which a container still starting also gives.
 */
function refusal(err: unknown): string | undefined {
  if (!(err instanceof EidError)) return undefined;
  if (err.code === 'DIST_HANDSHAKE_REJECTED' || err.code === 'DIST_HANDSHAKE_BAD_COOKIE')
    return "it refused the daemon's handshake: the cluster's cookie file does not match the node's cookie";
  if (err.code === 'DIST_HANDSHAKE_PROTOCOL')
    return `${err.message}; give the cluster a tls key (docs/clusters.md, "TLS distribution")`;
  if (err instanceof TlsError && err.code === 'DIST_TLS_HANDSHAKE' && !unanswered(err.reason))
    return `TLS distribution refused: ${err.message}`;
  return undefined;
}

/**
 * A TLS failure that is not a refusal: the network's (ECONNREFUSED ...), or one a node still
 * starting gives too (Docker's proxy accepts, then closes; a stall).
 */
const unanswered = (reason: string) =>
  reason === 'PEER_CLOSED' || reason === 'TIMEOUT' || /^E[A-Z]+$/.test(reason);

/** `{ok, [["false"]]}` from init:get_argument(connect_all), or `{ok, false}` from the kernel env. */
function saysFalse(t: Term): boolean {
  if (!(t instanceof Tuple) || t.elements[0] !== atom('ok')) return false;
  const v = t.elements[1];
  if (v === false || (v instanceof Atom && v.name === 'false')) return true;
  const last = Array.isArray(v) ? v.at(-1) : undefined;
  const word = Array.isArray(last) ? last.at(-1) : undefined;
  return word === 'false' || (Array.isArray(word) && String.fromCharCode(...(word as number[])) === 'false');
}

export class Reconciler {
  readonly #deps: ReconcilerDeps;
  readonly #log: Logger;
  readonly #interval: number;
  #node: Node | undefined;
  #cookie: string | undefined;
  /** Learned node names, by container ID. */
  readonly #names = new Map<string, string>();
  /** Whether a member's node takes part in the mesh (false: -connect_all false), by node name. */
  readonly #mesh = new Map<string, boolean>();
  /** The last load figures read, by node name. */
  readonly #stats = new Map<string, NodeStats>();
  /** Containers whose node answered at least once. */
  readonly #reached = new Set<string>();
  /** Failed fetches of each peer host not reached yet, and when the first was (its quiet start). */
  readonly #hostFailures = new Map<string, { count: number; since: number }>();
  readonly #memberBackoff: Backoff<string>;
  readonly #pairBackoff: Backoff<string>;
  /** Reasons logged once until they change: cookie file, unreachable hosts, refusing members. */
  readonly #reported = new Map<string, string>();
  #members = new Map<string, Member>();
  #hosts = new Map<string, PeerHost>();
  #lastReconcile: string | null = null;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#log = deps.log;
    this.#interval = deps.cluster.reconcileIntervalMs;
    this.#memberBackoff = new Backoff(this.#interval, MAX_BACKOFF_MS);
    this.#pairBackoff = new Backoff(this.#interval, MAX_BACKOFF_MS);
  }

  get name(): string {
    return this.#deps.cluster.name;
  }

  start(): void {
    this.#schedule(0);
  }

  /** Something changed on this host (a container started or stopped): reconcile soon. */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) this.#again = true;
    else this.#schedule(KICK_DELAY_MS);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    await this.#node?.stop();
  }

  /** What the membership endpoint tells about this cluster. */
  view(): ClusterView {
    return {
      name: this.name,
      reconcileIntervalMs: this.#interval,
      lastReconcile: this.#lastReconcile,
      members: [...this.#members.values()],
      hosts: [...this.#hosts.values()],
    };
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const started = process.hrtime.bigint();
      this.#running = this.#pass()
        .then(() =>
          this.#deps.observer?.reconciled(this.name, Number(process.hrtime.bigint() - started) / 1e9),
        )
        .catch((err: unknown) =>
          this.#log.error('cluster reconcile failed', { cluster: this.name, error: err }),
        )
        .finally(() => {
          this.#running = undefined;
          if (this.#stopped) return;
          const again = this.#again;
          this.#again = false;
          this.#schedule(again ? KICK_DELAY_MS : this.#interval);
        });
    }, delayMs);
  }

  /**
   * Logs `message` for `key` as a warning with its `reason`, once until `same` (the reason unless
   * given) changes; an undefined reason means it ended, logged once at info.
   */
  #report(
    key: string,
    reason: string | undefined,
    message: string,
    fields: Record<string, unknown>,
    same: string | undefined = reason,
  ): void {
    // `same` is what must change for another line: the reason, or a state whose reasons vary.
    const before = this.#reported.get(key);
    if (same === before) return;
    if (same === undefined) {
      this.#reported.delete(key);
      this.#log.info(message, { cluster: this.name, ...fields });
    } else {
      this.#reported.set(key, same);
      this.#log.warn(message, { cluster: this.name, ...fields, reason });
    }
  }

  async #pass(): Promise<void> {
    const node = await this.#hiddenNode();
    if (node === undefined || this.#stopped) return;
    const entries = this.#deps.members();
    const ids = new Set(entries.map((e) => e.id));
    for (const [id, name] of this.#names)
      if (!ids.has(id)) {
        this.#names.delete(id);
        this.#mesh.delete(name);
        this.#stats.delete(name);
        this.#reached.delete(id);
      }
    this.#memberBackoff.forget((id) => !ids.has(id));
    const locals = await Promise.all(entries.map((e) => this.#probe(node, e)));
    this.#members = new Map(locals.map((m, i) => [entries[i]!.id, m]));
    const hosts = await this.#deps.peerHosts().catch((err: unknown) => {
      this.#log.warn('cannot list the other hosts', { cluster: this.name, error: err });
      return [...this.#hosts.keys()];
    });
    const peers = await Promise.all(hosts.map((h) => this.#fetch(h)));
    this.#hosts = new Map(peers.map((p) => [p.host, p]));
    // A host no longer listed is forgotten (its entry in #hosts, which said whether it was ever
    // reached, its failures and its warning): should it come back, it starts quiet again.
    for (const host of [...this.#hostFailures.keys()])
      if (!this.#hosts.has(host)) this.#hostFailures.delete(host);
    for (const key of [...this.#reported.keys()])
      if (key.startsWith('host ') && !this.#hosts.has(key.slice(5))) this.#reported.delete(key);
    const meshed = (m: { node: string | null; mesh: boolean; state: string }) =>
      m.node !== null && m.mesh && m.state === 'up';
    const targets = [...locals, ...peers.filter((p) => p.reachable).flatMap((p) => p.members)]
      .filter(meshed)
      .map((m) => m.node!);
    await Promise.all(locals.filter(meshed).map((m) => this.#complete(node, m, targets)));
    this.#forgetGone(ids, new Set(targets));
    this.#lastReconcile = new Date().toISOString();
  }

  /** Drops what is remembered about containers and pairs that are gone, so churn does not pile up. */
  #forgetGone(ids: ReadonlySet<string>, nodes: ReadonlySet<string>): void {
    const pairGone = (pair: string) => pair.split(' ').some((n) => !nodes.has(n));
    this.#pairBackoff.forget(pairGone);
    for (const key of [...this.#reported.keys()]) {
      const [kind, ...rest] = key.split(' ');
      if ((kind === 'member' && !ids.has(rest[0] ?? '')) || (kind === 'pair' && pairGone(rest.join(' '))))
        this.#reported.delete(key);
    }
  }

  /** The hidden node for the cookie in the cookie file now; undefined while the file is unusable. */
  async #hiddenNode(): Promise<Node | undefined> {
    const file = this.#deps.cluster.cookieFile;
    let cookie: string;
    try {
      cookie = readCookieFile(file);
      this.#report('cookie', undefined, 'cluster cookie file usable again', { file });
    } catch (err) {
      this.#report('cookie', (err as Error).message, 'cluster not formed: its cookie file is unusable', {
        file,
      });
      return undefined;
    }
    if (this.#node !== undefined && cookie === this.#cookie) return this.#node;
    if (this.#node !== undefined) {
      this.#log.info('cluster cookie file changed; reconnecting with the new cookie', {
        cluster: this.name,
        file,
      });
      await this.#node.stop();
      this.#node = undefined;
      this.#names.clear();
      this.#mesh.clear();
      this.#memberBackoff.forget(() => true);
    }
    this.#cookie = cookie;
    const { tls } = this.#deps.cluster;
    try {
      this.#node = await Node.start({
        name: `eid_${this.name}@${this.#deps.host}`,
        cookie,
        hidden: true,
        port: 0,
        listenHost: '127.0.0.1',
        epmd: { register: false },
        resolver: this.#resolver(),
        // Latency does not matter here, and the EPMD server in this process loses lookups when
        // the event loop spins (docs/performance.md, EPMD: busy polling).
        busyPollMicros: 0,
        // With TLS every dial is TLS: the node has no plain-TCP fallback.
        ...(tls === undefined ? {} : { distributionTls: tls }),
      });
    } catch (err) {
      // TLS files that became unusable (checked at start-up, so only after a change).
      this.#report('node', (err as Error).message, 'cluster not formed: its hidden node cannot start', {});
      return undefined;
    }
    this.#report('node', undefined, 'cluster hidden node started again', {});
    return this.#node;
  }

  /** Resolves only names of this host whose container is in this cluster: nothing else is dialled. */
  #resolver(): Resolver {
    const { host } = this.#deps;
    return {
      resolve: (name) => {
        const parts = splitNodeName(name);
        const entry = parts?.host === host ? this.#deps.find(parts.alive) : undefined;
        if (entry === undefined || entry.cluster !== this.name)
          return Promise.reject(
            new DistError('DIST_RESOLVE', `${name} is not a member of cluster ${this.name} on this host`, {
              node: name,
            }),
          );
        const port = portFor(entry, net.isIP(host) === 0 ? undefined : host) ?? entry.hostPort;
        return Promise.resolve({ host, port });
      },
    };
  }

  /** Connects to one local member (learning its node name) and reads its nodes(). */
  async #probe(node: Node, entry: CatalogEntry): Promise<Member> {
    const previous = this.#members.get(entry.id);
    const base: Member = {
      node: this.#names.get(entry.id) ?? null,
      container: short(entry.id),
      name: entry.name,
      mesh: true,
      state: 'pending',
      connected: [],
    };
    if (!this.#memberBackoff.ready(entry.id)) return previous ?? base;
    const key = `member ${entry.id}`;
    let name = this.#names.get(entry.id);
    try {
      if (name === undefined) name = await this.#learnName(node, entry);
      if (name === undefined) {
        const reason = `its node is named none of ${aliases(entry).join(', ')} @${this.#deps.host}`;
        this.#memberBackoff.failed(entry.id);
        this.#report(key, reason, 'cluster member skipped', { container: short(entry.id) });
        return base;
      }
      const [visible, mesh] = await Promise.all([
        node.rpc(name, 'erlang', 'nodes', [], QUERY_TIMEOUT_MS),
        this.#meshes(node, name),
      ]);
      this.#reached.add(entry.id);
      this.#memberBackoff.succeeded(entry.id);
      this.#report(key, undefined, 'cluster member reachable again', { node: name });
      const stats = await this.#load(node, name);
      return { ...base, node: name, mesh, state: 'up', connected: atomNames(visible), stats };
    } catch (err) {
      const refusedBecause = refusal(err);
      const refused = refusedBecause !== undefined;
      const reached = this.#reached.has(entry.id);
      // A first refusal after silence (a node that took its time to start) waits one interval,
      // then 2, 4 ...: the silent attempts before it do not count towards the doubling.
      if (refused && this.#reported.get(key) !== refusedBecause) this.#memberBackoff.succeeded(entry.id);
      const { failures, waitMs } = this.#memberBackoff.failed(
        entry.id,
        refused || reached ? 0 : STARTUP_FAILURES,
      );
      const reason =
        refusedBecause ??
        (err instanceof TlsError
          ? `it did not answer over TLS: ${err.code} (a node still starting, or one without TLS distribution)`
          : `it did not answer: ${err instanceof EidError ? err.code : String(err)}`);
      const fields = { node: name ?? short(entry.id), retryInSeconds: waitMs / 1000 };
      // A container that just started may not be listening yet: silence is worth a warning only
      // once it lasts, or when the node had answered before.
      if (refused || reached || failures >= STARTUP_FAILURES)
        this.#report(key, reason, 'cluster member not reached', fields);
      else this.#log.debug('cluster member not reached yet', { cluster: this.name, ...fields, reason });
      return { ...base, state: refused ? 'refused' : 'unreachable' };
    }
  }

  /** The member's load, read again once the cached figures are STATS_INTERVAL_MS old; a failed read keeps the old ones. */
  async #load(node: Node, name: string): Promise<NodeStats | undefined> {
    const cached = this.#stats.get(name);
    if (cached !== undefined && Date.now() - Date.parse(cached.at) < STATS_INTERVAL_MS) return cached;
    try {
      const [memory, processes, runQueue] = await Promise.all([
        node.rpc(name, 'erlang', 'memory', [atom('total')], QUERY_TIMEOUT_MS),
        node.rpc(name, 'erlang', 'system_info', [atom('process_count')], QUERY_TIMEOUT_MS),
        node.rpc(name, 'erlang', 'statistics', [atom('run_queue')], QUERY_TIMEOUT_MS),
      ]);
      const whole = (t: Term) => (typeof t === 'number' ? t : typeof t === 'bigint' ? Number(t) : -1);
      const figures = [memory, processes, runQueue].map(whole) as [number, number, number];
      if (figures.some((n) => n < 0)) return cached;
      const [memoryBytes, processCount, queue] = figures;
      const stats = { memoryBytes, processes: processCount, runQueue: queue, at: new Date().toISOString() };
      this.#stats.set(name, stats);
      return stats;
    } catch {
      return cached;
    }
  }

  /** Dials the container's aliases until one is its node's name (a wrong one is refused in the handshake). */
  async #learnName(node: Node, entry: CatalogEntry): Promise<string | undefined> {
    for (const alias of aliases(entry)) {
      const name = `${alias}@${this.#deps.host}`;
      try {
        await node.connect(name);
        this.#names.set(entry.id, name);
        return name;
      } catch (err) {
        if (!(err instanceof EidError && err.code === 'DIST_HANDSHAKE_WRONG_NODE')) throw err;
      }
    }
    return undefined;
  }

  /** False when the node runs with -connect_all false (flag or kernel parameter); asked once per node. */
  async #meshes(node: Node, name: string): Promise<boolean> {
    const known = this.#mesh.get(name);
    if (known !== undefined) return known;
    const [flag, env] = await Promise.all([
      node.rpc(name, 'init', 'get_argument', [atom('connect_all')], QUERY_TIMEOUT_MS),
      node.rpc(name, 'application', 'get_env', [atom('kernel'), atom('connect_all')], QUERY_TIMEOUT_MS),
    ]);
    const mesh = !(saysFalse(flag) || saysFalse(env));
    if (!mesh)
      this.#log.info('cluster member runs with -connect_all false: left out of the mesh', {
        cluster: this.name,
        node: name,
      });
    this.#mesh.set(name, mesh);
    return mesh;
  }

  /** One other host's members, from its membership endpoint. */
  async #fetch(host: string): Promise<PeerHost> {
    const previous = this.#hosts.get(host);
    try {
      const members = readPeerMembers(await this.#deps.fetchPeer(host), this.name, host);
      this.#hostFailures.delete(host);
      if (previous !== undefined && !previous.reachable)
        // Pairs that failed while the host was away are worth trying at once.
        this.#pairBackoff.forget((pair) => pair.endsWith(`@${host}`));
      this.#report(`host ${host}`, undefined, 'cluster peer host reachable again', { host });
      return {
        host,
        reachable: true,
        lastSeen: new Date().toISOString(),
        error: null,
        members: members.map((m) => ({
          node: m.node,
          container: '',
          name: '',
          mesh: m.mesh,
          state: 'up',
          connected: m.connected,
          stats: m.stats,
        })),
      };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (this.#quietStart(host, previous)) {
        const failures = this.#hostFailures.get(host)!.count;
        this.#log.debug('cluster peer host not reached yet', { cluster: this.name, host, failures, reason });
      } else
        this.#report(
          `host ${host}`,
          reason,
          'cluster peer host unreachable; its members are not dialled until it answers',
          { host },
          // One line per outage: a cut link first times out, then fails at once (ENETUNREACH).
          'unreachable',
        );
      return { host, reachable: false, lastSeen: previous?.lastSeen ?? null, error: reason, members: [] };
    }
  }

  /**
   * Counts a failed fetch of `host` (`previous`: what the last pass saw of it): true while it is in
   * its quiet start (never reached, not for long).
   */
  #quietStart(host: string, previous: PeerHost | undefined): boolean {
    if (previous?.lastSeen != null) return false;
    const failed = this.#hostFailures.get(host) ?? { count: 0, since: Date.now() };
    failed.count++;
    this.#hostFailures.set(host, failed);
    // The count rules at one pass per interval; the time when container changes add passes.
    const quietMs = (STARTUP_FAILURES - 2) * this.#interval;
    return failed.count < STARTUP_FAILURES || Date.now() - failed.since < quietMs;
  }

  /** Asks local member `m` to connect every target it is not connected to. */
  async #complete(node: Node, m: Member, targets: string[]): Promise<void> {
    const self = m.node!;
    const missing = targets.filter((t) => t !== self && !m.connected.includes(t));
    await Promise.all(
      missing.map(async (target) => {
        const pair = `${self} ${target}`;
        if (!this.#pairBackoff.ready(pair)) return;
        let result: Term;
        try {
          result = await node.rpc(self, 'net_kernel', 'connect_node', [atom(target)], CONNECT_TIMEOUT_MS);
        } catch (err) {
          result = atom(err instanceof EidError ? err.code : 'error');
        }
        const connected = result === true || (result instanceof Atom && result.name === 'true');
        this.#deps.observer?.connected(this.name, connected ? 'connected' : 'failed');
        if (connected) {
          m.connected.push(target);
          this.#pairBackoff.succeeded(pair);
          this.#log.debug('cluster nodes connected', { cluster: this.name, node: self, peer: target });
          this.#report(`pair ${pair}`, undefined, 'cluster member connected a peer it could not before', {
            node: self,
            peer: target,
          });
          return;
        }
        const { waitMs } = this.#pairBackoff.failed(pair);
        this.#report(
          `pair ${pair}`,
          `net_kernel:connect_node returned ${result instanceof Atom ? result.name : String(result)}`,
          'cluster member could not connect a peer (the peer refused or did not answer)',
          { node: self, peer: target, retryInSeconds: waitMs / 1000 },
        );
      }),
    );
  }
}
