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
import { MEMBERSHIP_VERSION, type ClusterView, type MembershipDocument } from './membership-document.ts';
import { MembershipServer, readTlsFiles } from './membership-server.ts';
import { Reconciler, type ClusterObserver } from './reconciler.ts';

/** What the clusters need of the catalog. */
export interface ClusterCatalog {
  entries(): CatalogEntry[];
  find(name: string): CatalogEntry | undefined;
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

  constructor(config: ClustersConfig, catalog: ClusterCatalog, log: Logger, observer?: ClusterObserver) {
    this.#config = config;
    this.#log = log;
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
          fetchPeer: (host) => fetchMembership(host, config.membership.port, credentials),
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
    const views = this.#reconcilers.map((r) => r.view()).filter((v, i) => own || spans(v, i));
    return {
      version: MEMBERSHIP_VERSION,
      host: this.#config.host,
      generated: new Date().toISOString(),
      clusters: views,
    };
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
