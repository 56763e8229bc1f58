/**
 * `eid daemon`: an EPMD server for one Docker host that also answers for the host's containers.
 * Locally registered nodes win; other names are looked up in the Docker catalog (memory only).
 */
import { DEFAULT_RESYNC_INTERVAL_MS, DockerCatalog } from '../docker/catalog.ts';
import { DEFAULT_NODE_PORT } from '../ports.ts';
import { DEFAULT_EPMD_PORT } from '../epmd/env.ts';
import { EpmdServer, type EpmdConnectionLimits } from '../epmd/server.ts';
import { silentLogger, type Logger } from '../log.ts';
import { CatalogSource } from './catalog-source.ts';
import type { ClustersConfig } from './cluster-config.ts';
import { Clusters, type ClusterCatalog } from './clusters.ts';
import { registerClusterMetrics } from './cluster-metrics.ts';
import { DaemonMetrics, MetricsServer, type MetricsSnapshot } from './metrics.ts';
import type { InheritedSockets } from './activation.ts';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { membershipDocument, type HostSource } from './inventory.ts';
import type { MembershipDocument } from './membership-document.ts';

export interface DaemonOptions {
  port?: number;
  /** Addresses to serve EPMD on; empty or absent: all. */
  addresses?: string[];
  /** DOCKER_HOST-style endpoint. */
  docker: string;
  nodePort?: number;
  /** The HTTP port: /metrics, /healthz, the cluster page and its document (off when absent). */
  metrics?: { host: string; port: number };
  /** Serve the page and its document to clients other than loopback ones (docs/operating.md). */
  exposePage?: boolean;
  /** Connection caps and timeouts of the EPMD server (its defaults where absent). */
  limits?: EpmdConnectionLimits;
  /** Listening sockets passed by socket activation: served instead of `port`/`addresses` (and `metrics`). */
  inherited?: InheritedSockets | undefined;
  /** Full catalog resync interval (default 60 s); the catalog counts as stale after three missed. */
  resyncIntervalMs?: number;
  /** Self-forming clusters of labelled containers (docs/clusters.md); none when absent. */
  clusters?: ClustersConfig;
  logger?: Logger;
}

/** Resync intervals without a successful sync after which `/healthz` says degraded. */
const STALE_AFTER_INTERVALS = 3;
/**
 * With inherited sockets, lookups wait in the kernel queue while the daemon first syncs with Docker
 * (so a restart never answers "unknown" for a running container), at most this long.
 */
const FIRST_SYNC_WAIT_MS = 5_000;
/** On stop with inherited sockets, lookups already accepted get this long to be answered. */
const DRAIN_MS = 2_000;

export class Daemon {
  readonly catalog: DockerCatalog;
  readonly server: EpmdServer;
  readonly #source: CatalogSource;
  readonly #metrics: MetricsServer | undefined;
  readonly clusters: Clusters | undefined;
  readonly #inherited: InheritedSockets | undefined;
  readonly #options: DaemonOptions;
  readonly #log: Logger;
  readonly #resyncIntervalMs: number;
  readonly #startedAt = Date.now();
  readonly #host: HostSource;

  constructor(options: DaemonOptions) {
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
    this.#resyncIntervalMs = options.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS;
    this.#inherited = options.inherited;
    const serveMetrics = options.metrics !== undefined || (options.inherited?.metrics.length ?? 0) > 0;
    const metrics = serveMetrics ? new DaemonMetrics(() => this.snapshot()) : undefined;
    this.catalog = new DockerCatalog({
      endpoint: options.docker,
      nodePort: options.nodePort ?? DEFAULT_NODE_PORT,
      addresses: options.addresses ?? [],
      resyncIntervalMs: this.#resyncIntervalMs,
      onChange: () => {
        this.#source.recheck();
        this.clusters?.kick();
      },
      logger: this.#log,
    });
    this.#source = new CatalogSource(this.catalog, this.#log, () =>
      this.server.registered().map((n) => n.name),
    );
    this.server = new EpmdServer({
      port: options.port ?? DEFAULT_EPMD_PORT,
      addresses: options.addresses ?? [],
      source: this.#source,
      logger: this.#log,
      ...options.limits,
      ...(options.inherited === undefined ? {} : { listenFds: options.inherited.epmd }),
      ...(metrics === undefined
        ? {}
        : {
            onLookup: (outcome, seconds) =>
              metrics.observeLookup(outcome === 'source' ? 'container' : outcome, seconds),
          }),
    });
    const host: HostSource & ClusterCatalog = {
      entries: () => this.catalog.entries(),
      find: (name) => this.catalog.find(name),
      skips: () => [...this.catalog.skips(), ...this.#source.skips()],
      registered: () => this.server.registered(),
    };
    this.#host = host;
    const clusters = options.clusters;
    const observer =
      metrics === undefined || clusters === undefined
        ? undefined
        : registerClusterMetrics(
            metrics.registry,
            clusters.clusters.map((c) => c.name),
            () => this.clusters!.document(),
          );
    this.clusters = clusters === undefined ? undefined : new Clusters(clusters, host, this.#log, observer);
    this.#metrics =
      metrics === undefined
        ? undefined
        : new MetricsServer(() => this.snapshot(), metrics, {
            document: () => this.document(),
            exposed: options.exposePage === true,
          });
  }

  /** The membership document of the local view: what the page and `eid status --host` show. */
  document(): MembershipDocument {
    this.#source.recheck();
    if (this.clusters !== undefined) return this.clusters.document();
    return membershipDocument(hostname(), this.#host, { views: [], all: [], peers: [] });
  }

  snapshot(): MetricsSnapshot {
    // A node that left may have given a container its name back.
    this.#source.recheck();
    const stats = this.catalog.stats();
    return {
      ...this.#source.counters,
      catalogSize: stats.size,
      dockerReconnects: stats.reconnects,
      dockerConnected: stats.connected,
      registeredNodes: this.server.registered().length,
      catalogSyncAgeSeconds: (Date.now() - (stats.lastSyncAt ?? this.#startedAt)) / 1000,
      catalogMaxSyncAgeSeconds: (STALE_AFTER_INTERVALS * this.#resyncIntervalMs) / 1000,
      inspectFailures: stats.inspectFailures,
      skipped: { ...stats.skipped, name_taken: this.#source.nameTaken() },
      epmdListening: this.server.addresses().some((a) => a !== null),
      openConnections: this.server.connectionCount,
    };
  }

  /** Listens for EPMD (and metrics), then follows Docker in the background. */
  async start(): Promise<void> {
    if (this.#inherited !== undefined) {
      this.catalog.start();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.catalog.synced(),
        new Promise((resolve) => (timer = setTimeout(resolve, FIRST_SYNC_WAIT_MS))),
      ]);
      clearTimeout(timer);
    }
    try {
      await this.server.listen();
      const bound = await this.#listenMetrics();
      if (bound !== undefined)
        this.#log.info('metrics: listening', { address: `${bound.address}:${bound.port}` });
      await this.clusters?.start();
    } catch (err) {
      await Promise.all([this.server.close(), this.#metrics?.close(), this.catalog.stop()]);
      throw err;
    }
    if (this.#inherited === undefined) this.catalog.start();
  }

  /** An inherited metrics socket, else `--metrics`, else none. */
  async #listenMetrics(): Promise<AddressInfo | undefined> {
    const fd = this.#inherited?.metrics[0];
    const at = this.#options.metrics;
    if (this.#metrics === undefined) return undefined;
    if (fd !== undefined) return this.#metrics.listen({ fd });
    return at === undefined ? undefined : this.#metrics.listen(at.host, at.port);
  }

  async stop(): Promise<void> {
    await Promise.all([
      this.catalog.stop(),
      this.server.close(this.#inherited === undefined ? 0 : DRAIN_MS),
      this.#metrics?.close(),
      this.clusters?.stop(),
    ]);
  }
}
