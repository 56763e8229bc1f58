/**
 * The membership document, version 1 (docs/clusters.md, "The membership endpoint"): what one
 * daemon says about the clusters it forms. Its own members are the only part other daemons use;
 * its view of the other hosts is for `eid status` and the operator. No I/O here: the reader of a
 * peer's reply treats every byte as hostile and keeps only members that are provably this cluster's
 * and of that host, so a reply cannot choose which nodes get dialled.
 */
import { ClusterError } from '../errors.ts';
import { splitNodeName } from '../distribution/handshake.ts';

export const MEMBERSHIP_VERSION = 1;
export const MEMBERSHIP_PATH = '/v1/membership';
/** A reply larger than this is refused unread. */
export const MAX_MEMBERSHIP_BYTES = 4 * 1024 * 1024;
/** Members of one cluster on one host a peer's reply may list. */
export const MAX_MEMBERS_PER_HOST = 4096;

/** What the daemon knows about one member on its own host. */
export type MemberState =
  /** Connected from the daemon's hidden node; `connected` is its nodes(). */
  | 'up'
  /** Not yet reached, or its node name not yet learned. */
  | 'pending'
  /** Its node did not answer (connection refused, timeout). */
  | 'unreachable'
  /**
   * Its node refused the daemon's connection: the cookie file does not match it, or TLS (a
   * certificate either side refuses, or TLS distribution on one side only).
   */
  | 'refused';

export const MEMBER_STATES: readonly MemberState[] = ['up', 'pending', 'unreachable', 'refused'];

export interface Member {
  /** Full node name; null until the daemon has learned it. */
  node: string | null;
  /** Container ID, short form (12 hex digits). */
  container: string;
  /** Container name. */
  name: string;
  /** False when the node runs with -connect_all false: the daemon leaves it out of the mesh. */
  mesh: boolean;
  state: MemberState;
  /** Visible nodes it is connected to (its nodes()), when up. */
  connected: string[];
  /** Its load, asked by rpc at most once per STATS_INTERVAL_MS; absent until first asked. */
  stats?: NodeStats | undefined;
}

/** A member node's load, read through the daemon's hidden node. */
export interface NodeStats {
  /** erlang:memory(total), bytes. */
  memoryBytes: number;
  /** erlang:system_info(process_count). */
  processes: number;
  /** erlang:statistics(run_queue): processes ready to run, all schedulers. */
  runQueue: number;
  /** ISO time they were read. */
  at: string;
}

/** A container on a host that looks like an Erlang node (it names the node port or has eid.* labels). */
export interface HostContainer {
  /** Container ID, short form. */
  id: string;
  name: string;
  image: string;
  /** Its eid.* labels, raw: untrusted text, shown as text. */
  labels: Record<string, string>;
  /** The names before the @ it answers to for lookups (empty when not served). */
  names: string[];
  /** Its node's full name when a cluster reconcile learned it, else null. */
  node: string | null;
  /** Its well-formed eid.cluster label, or null. */
  cluster: string | null;
  /** The container port its node listens on, and the host port publishing it (null: none served). */
  nodePort: number | null;
  hostPort: number | null;
  /** Whether the catalog answers lookups for it (perhaps not under every name: see skips). */
  served: boolean;
  /** Why it, or one of its names, is not served (src/docker/skips.ts reasons). */
  skips: { reason: string; text: string; name: string | null }[];
}

/** A node registered with this host's EPMD server itself (not in a container the catalog knows). */
export interface RegisteredNodeInfo {
  name: string;
  port: number;
}

/** What this host's daemon last heard from another host's daemon (the local view only). */
export interface PeerInventory {
  host: string;
  reachable: boolean;
  lastSeen: string | null;
  error: string | null;
  containers: HostContainer[];
  registered: RegisteredNodeInfo[];
}

/** This daemon's view of another host of the cluster. */
export interface PeerHost {
  host: string;
  /** Whether its last membership fetch succeeded. */
  reachable: boolean;
  /** ISO time of its last good reply, or null. */
  lastSeen: string | null;
  /** Why the last fetch failed (no secret ever goes here). */
  error: string | null;
  members: Member[];
}

export interface ClusterView {
  name: string;
  reconcileIntervalMs: number;
  /** ISO time the last reconcile pass ended, or null before the first. */
  lastReconcile: string | null;
  /** Members on this host. */
  members: Member[];
  /** The other hosts, as last heard from. */
  hosts: PeerHost[];
}

export interface MembershipDocument {
  version: typeof MEMBERSHIP_VERSION;
  host: string;
  generated: string;
  clusters: ClusterView[];
  /** This host's Erlang-node containers (to another host: only those of clusters it shares, and unlabelled ones). */
  containers: HostContainer[];
  /** Nodes registered with this host's EPMD server. */
  registered: RegisteredNodeInfo[];
  /** The other hosts' containers and nodes as their daemons last said (the local view only; else empty). */
  peers: PeerInventory[];
}

function refuse(host: string, message: string): ClusterError {
  return new ClusterError('CLUSTER_MEMBERSHIP', `membership reply from ${host} refused: ${message}`, {
    peer: host,
  });
}

export const field = (value: unknown, key: string): unknown =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)[key]
    : undefined;

/** A remote member the reconciler may ask local nodes to connect to. */
export interface RemoteMember {
  node: string;
  mesh: boolean;
  /** What the peer says the member is connected to, and its load: shown, never dialled. */
  connected: string[];
  stats: NodeStats | undefined;
}

/** A well-formed node name of at most 255 characters before and after the @. */
export function isNodeName(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 511) return false;
  const parts = splitNodeName(value);
  return parts !== undefined && /^[A-Za-z0-9_.-]{1,255}$/.test(parts.alive);
}

const count = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** A peer's figures for one member, when every one is a whole non-negative number. */
export function readStats(value: unknown): NodeStats | undefined {
  const [memoryBytes, processes, runQueue, at] = ['memoryBytes', 'processes', 'runQueue', 'at'].map((k) =>
    field(value, k),
  );
  if (!count(memoryBytes) || !count(processes) || !count(runQueue) || typeof at !== 'string')
    return undefined;
  return { memoryBytes, processes, runQueue, at: at.slice(0, 40) };
}

/**
 * The members `host` reports for `cluster`, from its reply's JSON text. The reply must be version 1,
 * about `host` itself, and list the cluster; each member must be a node of `host` (name@host) with
 * a well-formed name. Anything else in a member is ignored; a malformed member is dropped, a
 * malformed document refused whole.
 */
export function readPeerMembers(json: string, cluster: string, host: string): RemoteMember[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw refuse(host, 'not JSON');
  }
  if (field(doc, 'version') !== MEMBERSHIP_VERSION) throw refuse(host, 'not membership version 1');
  if (field(doc, 'host') !== host) throw refuse(host, 'it describes another host');
  const clusters = field(doc, 'clusters');
  if (!Array.isArray(clusters)) throw refuse(host, 'no cluster list');
  const view = clusters.find((c) => field(c, 'name') === cluster);
  if (view === undefined) return [];
  const members = field(view, 'members');
  if (!Array.isArray(members)) throw refuse(host, `no member list for ${cluster}`);
  if (members.length > MAX_MEMBERS_PER_HOST) throw refuse(host, `more than ${MAX_MEMBERS_PER_HOST} members`);
  const out: RemoteMember[] = [];
  for (const m of members) {
    const node = field(m, 'node');
    if (typeof node !== 'string' || field(m, 'state') !== 'up') continue;
    const parts = splitNodeName(node);
    if (parts === undefined || parts.host !== host || !/^[A-Za-z0-9_.-]{1,255}$/.test(parts.alive)) continue;
    if (out.some((o) => o.node === node)) continue;
    const connected = field(m, 'connected');
    out.push({
      node,
      mesh: field(m, 'mesh') !== false,
      connected: Array.isArray(connected)
        ? connected.slice(0, MAX_MEMBERS_PER_HOST * 4).filter(isNodeName)
        : [],
      stats: readStats(field(m, 'stats')),
    });
  }
  return out;
}
