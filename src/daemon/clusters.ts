/**
 * The daemon's clusters (docs/clusters.md): one reconciler per configured cluster, the membership
 * endpoint that tells the other hosts about this host's members, and the list of other hosts each
 * cluster spans (static, a .hosts.erlang file, DNS records), read again at every pass.
 */
import { readFile } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import type { AddressInfo } from 'node:net';
import type { CatalogEntry } from '../docker/inspect.ts';
import { ClusterError } from '../errors.ts';
import { DistributionTls } from '../distribution/tls.ts';
import type { Logger } from '../log.ts';
import { parseHostsErlang, type ClusterConfig, type ClustersConfig } from './cluster-config.ts';
import { fetchMembership } from './membership-client.ts';
import type { ClusterView, MembershipDocument, PeerInventory } from './membership-document.ts';
import { membershipDocument, readPeerInventory, type HostSource } from './inventory.ts';
import { MembershipServer, readTlsFiles } from './membership-server.ts';
import { Reconciler, type ClusterObserver } from './reconciler.ts';

/** What the clusters need of the catalog. */
export interface ClusterCatalog extends HostSource {
  entries(): CatalogEntry[];
  find(name: string): CatalogEntry | undefined;
}

/** The last membership fetch from one other host. */
interface PeerReply {
  ok: boolean;
  /** ISO time of the last good reply. */
  lastSeen: string | null;
  error: string | null;
  json: string;
}

/** The other hosts of `cluster` now: its static list, its .hosts.erlang file and its DNS name's records. */
export async function peerHosts(cluster: ClusterConfig, self: string): Promise<string[]> {
  const hosts = new Set(cluster.hosts);
  if (cluster.hostsFile !== undefined)
    for (const h of parseHostsErlang(await readFile(cluster.hostsFile, 'utf8'))) hosts.add(h);
  if (cluster.dns !== undefined)
    for (const { address } of await lookup(cluster.dns, { all: true, verbatim: true })) hosts.add(address);
  hosts.delete(self);
  return [...hosts];
}

/** Reads a cluster's TLS distribution files once, so an unusable one stops the daemon at start-up. */
function checkDistributionTls(cluster: ClusterConfig, log: Logger): void {
  if (cluster.tls === undefined) return;
  try {
    new DistributionTls(cluster.tls, log);
  } catch (err) {
    throw new ClusterError('CLUSTER_CONFIG', `clusters.${cluster.name}.tls: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export class Clusters {
  readonly #config: ClustersConfig;
  readonly #reconcilers: Reconciler[];
  readonly #server: MembershipServer;
  readonly #log: Logger;
  readonly #catalog: ClusterCatalog;
  /** Every other host's last reply (the reconcilers fetch them), for the local view's peers. */
  readonly #replies = new Map<string, PeerReply>();

  constructor(config: ClustersConfig, catalog: ClusterCatalog, log: Logger, observer?: ClusterObserver) {
    this.#config = config;
    this.#log = log;
    this.#catalog = catalog;
    // Read now, so a missing or unreadable certificate stops the daemon at start-up.
    const credentials = readTlsFiles(config.membership);
    for (const cluster of config.clusters) checkDistributionTls(cluster, log);
    this.#reconcilers = config.clusters.map(
      (cluster) =>
        new Reconciler({
          host: config.host,
          cluster,
          members: () => catalog.entries().filter((e) => e.cluster === cluster.name),
          find: (alias) => catalog.find(alias),
          peerHosts: () => peerHosts(cluster, config.host),
          fetchPeer: (host) => this.#fetch(host, credentials),
          observer,
          log,
        }),
    );
    this.#server = new MembershipServer(config.membership, (names) => this.document(names), log);
  }

  /**
   * The membership document for a client whose certificate names `clientNames`: the clusters
   * that span one of those hosts (this host itself sees all). Undefined: everything.
   */
  document(clientNames?: string[]): MembershipDocument {
    const own = clientNames === undefined || clientNames.includes(this.#config.host);
    const spans = (v: ClusterView, i: number) =>
      v.hosts.some((h) => clientNames!.includes(h.host)) ||
      this.#config.clusters[i]!.hosts.some((h) => clientNames!.includes(h));
    const all = this.#reconcilers.map((r) => r.view());
    const views = all.filter((v, i) => own || spans(v, i));
    return membershipDocument(
      this.#config.host,
      this.#catalog,
      { views, all, peers: own ? this.#peers() : [] },
      own ? undefined : new Set(views.map((v) => v.name)),
    );
  }

  /** One other host's membership document; every cluster's reconciler fetches it each pass. */
  async #fetch(host: string, credentials: ReturnType<typeof readTlsFiles>): Promise<string> {
    const previous = this.#replies.get(host);
    try {
      const json = await fetchMembership(host, this.#config.membership.port, credentials);
      this.#replies.set(host, { ok: true, lastSeen: new Date().toISOString(), error: null, json });
      return json;
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.#replies.set(host, { ok: false, lastSeen: previous?.lastSeen ?? null, error, json: '' });
      throw err;
    }
  }

  /** The other hosts' containers and registered nodes, as last heard; an unreachable host lists none. */
  #peers(): PeerInventory[] {
    return [...this.#replies].map(([host, r]) => ({
      host,
      reachable: r.ok,
      lastSeen: r.lastSeen,
      error: r.error,
      ...readPeerInventory(r.json),
    }));
  }

  /** A container changed on this host. */
  kick(): void {
    for (const r of this.#reconcilers) r.kick();
  }

  async start(): Promise<AddressInfo> {
    const { listen, port } = this.#config.membership;
    const bound = await this.#server.listen(listen, port);
    this.#log.info('membership: listening', {
      address: `${bound.address}:${bound.port}`,
      clusters: this.#reconcilers.map((r) => r.name),
    });
    for (const r of this.#reconcilers) r.start();
    return bound;
  }

  async stop(): Promise<void> {
    await Promise.all([this.#server.close(), ...this.#reconcilers.map((r) => r.stop())]);
  }
}
