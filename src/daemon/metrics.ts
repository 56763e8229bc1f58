/** The daemon's Prometheus metrics (prom-client) and a health check, over plain HTTP. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SKIP_REASONS, type SkipReason } from '../docker/skips.ts';
import { parseListenPort } from '../ports.ts';
import { closeServer, listenOn } from './http-listen.ts';
import { isPagePath, servePage, type PageOptions } from './page.ts';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface DaemonCounters {
  lookups: number;
  hits: number;
  misses: number;
}

export interface MetricsSnapshot extends DaemonCounters {
  catalogSize: number;
  dockerReconnects: number;
  dockerConnected: boolean;
  registeredNodes: number;
  /** Seconds since the last successful full sync (since start-up before the first). */
  catalogSyncAgeSeconds?: number;
  /** Past this age the catalog counts as stale (`/healthz` says degraded). */
  catalogMaxSyncAgeSeconds?: number;
  /** Inspects given up; each skipped its container until the next sync. */
  inspectFailures?: number;
  /** Containers not served (wholly or under one name), by reason. */
  skipped?: Partial<Record<SkipReason, number>>;
  /** False once the EPMD listener is down: the one state `/healthz` answers 503 for. */
  epmdListening?: boolean;
  /** Open EPMD connections, registrations included. */
  openConnections?: number;
}

/** Who answered a PORT_PLEASE2, as the `outcome` label says it. */
export type LookupOutcomeLabel = 'registered' | 'container' | 'unknown';
const OUTCOMES: readonly LookupOutcomeLabel[] = ['registered', 'container', 'unknown'];

/** Lookups are answered from memory: tens of microseconds, so the buckets start low. */
const LOOKUP_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2];

/** Node.js and process metrics (RSS, open fds, event-loop lag, GC): one set per process, made on first use. */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

type Reading = (s: MetricsSnapshot) => number;

/**
 * The daemon's Prometheus metrics: values read from a snapshot at scrape time, the lookups counted
 * and timed as they are answered, and (unless left out) the process metrics.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  readonly #read: () => MetricsSnapshot;
  readonly #withProcess: boolean;
  /** The snapshot of the scrape under way: every collect() of one scrape reads the same one. */
  #current: MetricsSnapshot | undefined;
  readonly #byOutcome: Record<LookupOutcomeLabel, { inc(): void }>;
  readonly #latency: Histogram;

  constructor(snapshot: () => MetricsSnapshot, options: { processMetrics?: boolean } = {}) {
    this.#read = snapshot;
    this.#withProcess = options.processMetrics ?? true;
    const registers = [this.registry];
    const at = (read: Reading) => () => read(this.#current ?? this.#read());
    const counter = (name: string, help: string, read: Reading) => {
      const value = at(read);
      new Counter({
        name,
        help,
        registers,
        // Counted elsewhere (the catalog, the name source); the scrape copies the running total.
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    };
    const gauge = (name: string, help: string, read: Reading) => {
      const value = at(read);
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value());
        },
      });
    };
    counter('eid_lookups_total', 'Container name lookups that reached the Docker catalog', (s) => s.lookups);
    counter('eid_lookup_hits_total', 'Lookups answered from the catalog', (s) => s.hits);
    counter('eid_lookup_misses_total', 'Lookups for names no container has', (s) => s.misses);
    gauge('eid_catalog_containers', 'Containers publishing a node port', (s) => s.catalogSize);
    counter(
      'eid_docker_reconnects_total',
      'Reconnections to Docker after a failure',
      (s) => s.dockerReconnects,
    );
    gauge('eid_docker_connected', '1 when the Docker event stream is up', (s) => (s.dockerConnected ? 1 : 0));
    gauge('eid_registered_nodes', 'Nodes registered locally', (s) => s.registeredNodes);
    gauge('eid_catalog_sync_age_seconds', 'Seconds since the catalog last synced with Docker in full', (s) =>
      Math.round(s.catalogSyncAgeSeconds ?? 0),
    );
    counter(
      'eid_inspect_failures_total',
      'Container inspects given up (the container is skipped until the next sync)',
      (s) => s.inspectFailures ?? 0,
    );
    gauge(
      'eid_epmd_connections',
      'Open EPMD connections, registrations included',
      (s) => s.openConnections ?? 0,
    );
    const snapshotOf = () => this.#current ?? this.#read();
    new Gauge({
      name: 'eid_skipped_containers',
      help: 'Containers not served, wholly or under one name, by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        const s = snapshotOf();
        for (const reason of SKIP_REASONS) this.set({ reason }, s.skipped?.[reason] ?? 0);
      },
    });
    const lookups = new Counter({
      name: 'eid_epmd_lookups_total',
      help: 'PORT_PLEASE2 lookups by outcome: a node registered here, a container, or unknown',
      labelNames: ['outcome'],
      registers,
    });
    // Every outcome from zero: a series that appears only with its first event breaks rate().
    for (const outcome of OUTCOMES) lookups.inc({ outcome }, 0);
    this.#byOutcome = Object.fromEntries(OUTCOMES.map((o) => [o, lookups.labels(o)])) as Record<
      LookupOutcomeLabel,
      { inc(): void }
    >;
    this.#latency = new Histogram({
      name: 'eid_lookup_duration_seconds',
      help: 'Time from accepting a lookup connection to its PORT_PLEASE2 reply',
      buckets: LOOKUP_BUCKETS,
      registers,
    });
  }

  /** Counts and times one answered lookup. */
  observeLookup(outcome: LookupOutcomeLabel, seconds: number): void {
    this.#byOutcome[outcome].inc();
    this.#latency.observe(seconds);
  }

  /** The text exposition: this daemon's metrics, then the process metrics. */
  async render(): Promise<string> {
    this.#current = this.#read();
    try {
      const own = await this.registry.metrics();
      return this.#withProcess ? `${own}\n${await processMetrics().metrics()}` : own;
    } finally {
      this.#current = undefined;
    }
  }
}

/** The text exposition of one snapshot, without process metrics. */
export function renderMetrics(snapshot: MetricsSnapshot): Promise<string> {
  return new DaemonMetrics(() => snapshot, { processMetrics: false }).render();
}

/**
 * What `/healthz` answers: 503 only when the EPMD listener is down (a HEALTHCHECK must not kill a
 * daemon that still serves registrations); else 200, `ok` or `degraded: <reason>`.
 */
export function health(s: MetricsSnapshot): { status: number; text: string } {
  if (s.epmdListening === false) return { status: 503, text: 'down: the EPMD listener is closed' };
  if (!s.dockerConnected) return { status: 200, text: 'degraded: docker unreachable' };
  const age = s.catalogSyncAgeSeconds ?? 0;
  if (s.catalogMaxSyncAgeSeconds !== undefined && age > s.catalogMaxSyncAgeSeconds)
    return { status: 200, text: `degraded: catalog not synced for ${Math.round(age)} s` };
  return { status: 200, text: 'ok' };
}

/** Parses `ADDR:PORT` (`[v6]:PORT` for IPv6); port 0 listens on any free port. */
export function parseListenAddress(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m === null ? undefined : parseListenPort(m[3]!);
  if (m === null || port === undefined) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

export class MetricsServer {
  readonly #server: http.Server;

  /** `page`: also serve the cluster page and its document (page.ts). */
  constructor(snapshot: () => MetricsSnapshot, metrics = new DaemonMetrics(snapshot), page?: PageOptions) {
    this.#server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      if (req.method !== 'GET') {
        res.writeHead(405).end();
      } else if (page !== undefined && isPagePath(path)) {
        servePage(req, res, path, page);
      } else if (req.url === '/metrics') {
        metrics.render().then(
          (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
        );
      } else if (req.url === '/healthz') {
        const { status, text } = health(snapshot());
        res.writeHead(status, { 'content-type': 'text/plain' }).end(`${text}\n`);
      } else {
        res.writeHead(404).end();
      }
    });
  }

  /** Binds `host:port`, or serves an inherited listening socket (`fd`, from socket activation). */
  listen(host: string, port: number): Promise<AddressInfo>;
  listen(fd: { fd: number }): Promise<AddressInfo>;
  listen(target: string | { fd: number }, port = 0): Promise<AddressInfo> {
    return listenOn(this.#server, typeof target === 'string' ? { host: target, port } : target);
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }
}
