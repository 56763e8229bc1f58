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
import { Clusters } from './clusters.ts';
import { MetricsServer, type MetricsSnapshot } from './metrics.ts';

export interface DaemonOptions {
  port?: number;
  /** Addresses to serve EPMD on; empty or absent: all. */
  addresses?: string[];
  /** DOCKER_HOST-style endpoint. */
  docker: string;
  nodePort?: number;
  metrics?: { host: string; port: number };
  /** Connection caps and timeouts of the EPMD server (its defaults where absent). */
  limits?: EpmdConnectionLimits;
  /** Full catalog resync interval (default 60 s); the catalog counts as stale after three missed. */
  resyncIntervalMs?: number;
  /** Self-forming clusters of labelled containers (docs/clusters.md); none when absent. */
  clusters?: ClustersConfig;
  logger?: Logger;
}

/** Resync intervals without a successful sync after which `/healthz` says degraded. */
const STALE_AFTER_INTERVALS = 3;

export class Daemon {
  readonly catalog: DockerCatalog;
  readonly server: EpmdServer;
  readonly #source: CatalogSource;
  readonly #metrics: MetricsServer | undefined;
  readonly clusters: Clusters | undefined;
  readonly #options: DaemonOptions;
  readonly #log: Logger;
  readonly #resyncIntervalMs: number;
  readonly #startedAt = Date.now();

  constructor(options: DaemonOptions) {
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
    this.#resyncIntervalMs = options.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS;
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
    });
    this.clusters =
      options.clusters === undefined ? undefined : new Clusters(options.clusters, this.catalog, this.#log);
    this.#metrics = options.metrics === undefined ? undefined : new MetricsServer(() => this.snapshot());
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
    };
  }

  /** Listens for EPMD (and metrics), then follows Docker in the background. */
  async start(): Promise<void> {
    await this.server.listen();
    try {
      if (this.#metrics !== undefined && this.#options.metrics !== undefined) {
        const { host, port } = this.#options.metrics;
        const bound = await this.#metrics.listen(host, port);
        this.#log.info('metrics: listening', { address: `${bound.address}:${bound.port}` });
      }
      await this.clusters?.start();
    } catch (err) {
      await Promise.all([this.server.close(), this.#metrics?.close()]);
      throw err;
    }
    this.catalog.start();
  }

  async stop(): Promise<void> {
    await Promise.all([
      this.catalog.stop(),
      this.server.close(),
      this.#metrics?.close(),
      this.clusters?.stop(),
    ]);
  }
}
