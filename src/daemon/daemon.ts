/**
 * `eid daemon`: an EPMD server for one Docker host that also answers for the host's containers.
 * Locally registered nodes win; other names are looked up in the Docker catalog (memory only).
 */
import { DockerCatalog } from '../docker/catalog.ts';
import { DEFAULT_NODE_PORT } from '../ports.ts';
import { DEFAULT_EPMD_PORT } from '../epmd/env.ts';
import { EpmdServer, type EpmdConnectionLimits } from '../epmd/server.ts';
import { silentLogger, type Logger } from '../log.ts';
import { CatalogSource } from './catalog-source.ts';
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
  logger?: Logger;
}

export class Daemon {
  readonly catalog: DockerCatalog;
  readonly server: EpmdServer;
  readonly #source: CatalogSource;
  readonly #metrics: MetricsServer | undefined;
  readonly #options: DaemonOptions;
  readonly #log: Logger;

  constructor(options: DaemonOptions) {
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
    this.catalog = new DockerCatalog({
      endpoint: options.docker,
      nodePort: options.nodePort ?? DEFAULT_NODE_PORT,
      addresses: options.addresses ?? [],
      logger: this.#log,
    });
    this.#source = new CatalogSource(this.catalog, this.#log);
    this.server = new EpmdServer({
      port: options.port ?? DEFAULT_EPMD_PORT,
      addresses: options.addresses ?? [],
      source: this.#source,
      logger: this.#log,
      ...options.limits,
    });
    this.#metrics = options.metrics === undefined ? undefined : new MetricsServer(() => this.snapshot());
  }

  snapshot(): MetricsSnapshot {
    const stats = this.catalog.stats();
    return {
      ...this.#source.counters,
      catalogSize: stats.size,
      dockerReconnects: stats.reconnects,
      dockerConnected: stats.connected,
      registeredNodes: this.server.registered().length,
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
    } catch (err) {
      await this.server.close();
      throw err;
    }
    this.catalog.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.catalog.stop(), this.server.close(), this.#metrics?.close()]);
  }
}
