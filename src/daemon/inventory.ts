/**
 * The containers and registered nodes part of the membership document (docs/operating.md, "The
 * cluster page"): this host's, from the catalog and its skips; another host's, read from that
 * host's reply as hostile text (bounded, typed, shown as text only, never dialled).
 */
import type { CatalogEntry } from '../docker/inspect.ts';
import { SkipReasons, type Skip } from '../docker/skips.ts';
import { aliasesOf } from '../docker/table.ts';
import {
  field,
  isNodeName,
  MEMBERSHIP_VERSION,
  type ClusterView,
  type HostContainer,
  type MembershipDocument,
  type PeerInventory,
  type RegisteredNodeInfo,
} from './membership-document.ts';

/** What the document needs of this host: the catalog, its skips, the local registrations. */
export interface HostSource {
  entries(): CatalogEntry[];
  skips?(): Skip[];
  registered?(): RegisteredNodeInfo[];
}

/**
 * The membership document. `views` are the clusters the reader may see, `all` every cluster (for
 * node names); `visible` undefined: the local view (everything, peers included); else another
 * host's, which gets the containers of those clusters and unlabelled ones, and no peers.
 */
export function membershipDocument(
  host: string,
  source: HostSource,
  clusters: { views: ClusterView[]; all: ClusterView[]; peers: PeerInventory[] },
  visible?: ReadonlySet<string>,
): MembershipDocument {
  const containers = hostContainers(source.entries(), source.skips?.() ?? [], clusters.all).filter(
    (c) => visible === undefined || c.cluster === null || visible.has(c.cluster),
  );
  return {
    version: MEMBERSHIP_VERSION,
    host,
    generated: new Date().toISOString(),
    clusters: clusters.views,
    containers,
    registered: (source.registered?.() ?? []).map(({ name, port }) => ({ name, port })),
    peers: visible === undefined ? clusters.peers : [],
  };
}

const SHORT = 12;
/** Containers and registered nodes one peer's reply may list; more are cut. */
const MAX_LISTED = 4096;
/** Longest text kept from a peer's reply, per field. */
const MAX_TEXT = 256;

/** This host's containers: every served entry and every container skipped whole, by name. */
export function hostContainers(
  entries: readonly CatalogEntry[],
  skips: readonly Skip[],
  clusters: readonly ClusterView[],
): HostContainer[] {
  const nodes = new Map<string, string>();
  for (const view of clusters)
    for (const m of view.members) if (m.node !== null) nodes.set(m.container, m.node);
  const skipsOf = new Map<string, Skip[]>();
  for (const s of skips) skipsOf.set(s.id, [...(skipsOf.get(s.id) ?? []), s]);
  const describe = (s: Skip) => ({ reason: s.reason, text: SkipReasons[s.reason], name: s.name ?? null });
  const out: HostContainer[] = entries.map((e) => ({
    id: e.id.slice(0, SHORT),
    name: e.about?.name ?? e.name,
    image: e.about?.image ?? '',
    labels: e.about?.labels ?? {},
    // Every container also answers to its ID: the usual node name is ShortID@HostIP.
    names: [...new Set([...aliasesOf(e), e.id.slice(0, SHORT)])],
    node: nodes.get(e.id.slice(0, SHORT)) ?? null,
    cluster: e.cluster ?? null,
    nodePort: e.nodePort,
    hostPort: e.hostPort,
    served: true,
    skips: (skipsOf.get(e.id) ?? []).map(describe),
  }));
  const served = new Set(entries.map((e) => e.id));
  for (const [id, list] of skipsOf) {
    if (served.has(id)) continue;
    const about = list.find((s) => s.about !== undefined)?.about;
    out.push({
      id: id.slice(0, SHORT),
      name: about?.name ?? '',
      image: about?.image ?? '',
      labels: about?.labels ?? {},
      names: [],
      node: null,
      cluster: null,
      nodePort: null,
      hostPort: null,
      served: false,
      skips: list.map(describe),
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

const text = (value: unknown): string => (typeof value === 'string' ? value.slice(0, MAX_TEXT) : '');
const textOrNull = (value: unknown): string | null => (typeof value === 'string' ? text(value) : null);
const port = (value: unknown): number | null =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 65536 ? value : null;
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value.slice(0, MAX_LISTED) : []);

function readContainer(value: unknown): HostContainer {
  const labels: Record<string, string> = {};
  const raw = field(value, 'labels');
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw))
    for (const [k, v] of Object.entries(raw).slice(0, 64))
      if (typeof v === 'string' && k !== '__proto__') labels[text(k)] = text(v);
  const node = field(value, 'node');
  return {
    id: text(field(value, 'id')),
    name: text(field(value, 'name')),
    image: text(field(value, 'image')),
    labels,
    names: list(field(value, 'names')).slice(0, 8).map(text),
    node: isNodeName(node) ? node : null,
    cluster: textOrNull(field(value, 'cluster')),
    nodePort: port(field(value, 'nodePort')),
    hostPort: port(field(value, 'hostPort')),
    served: field(value, 'served') === true,
    skips: list(field(value, 'skips'))
      .slice(0, 16)
      .map((s) => ({
        reason: text(field(s, 'reason')),
        text: text(field(s, 'text')),
        name: textOrNull(field(s, 'name')),
      })),
  };
}

/**
 * The containers and registered nodes another host's reply lists, every field checked and cut to
 * size; a reply from a daemon without them (an older one) lists none.
 */
export function readPeerInventory(json: string): {
  containers: HostContainer[];
  registered: RegisteredNodeInfo[];
} {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return { containers: [], registered: [] };
  }
  return {
    containers: list(field(doc, 'containers')).map(readContainer),
    registered: list(field(doc, 'registered')).flatMap((r) => {
      const p = port(field(r, 'port'));
      return p === null ? [] : [{ name: text(field(r, 'name')), port: p }];
    }),
  };
}
