/** Prometheus text exposition of the daemon's counters, and a health check, over plain HTTP. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SKIP_REASONS, type SkipReason } from '../docker/skips.ts';
import { parseListenPort } from '../ports.ts';
import { closeServer, listenOn } from './http-listen.ts';

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
}

const METRICS = [
  [
    'eid_lookups_total',
    'counter',
    'Container name lookups that reached the Docker catalog',
    (s: MetricsSnapshot) => s.lookups,
  ],
  ['eid_lookup_hits_total', 'counter', 'Lookups answered from the catalog', (s: MetricsSnapshot) => s.hits],
  [
    'eid_lookup_misses_total',
    'counter',
    'Lookups for names no container has',
    (s: MetricsSnapshot) => s.misses,
  ],
  [
    'eid_catalog_containers',
    'gauge',
    'Containers publishing a node port',
    (s: MetricsSnapshot) => s.catalogSize,
  ],
  [
    'eid_docker_reconnects_total',
    'counter',
    'Reconnections to Docker after a failure',
    (s: MetricsSnapshot) => s.dockerReconnects,
  ],
  [
    'eid_docker_connected',
    'gauge',
    '1 when the Docker event stream is up',
    (s: MetricsSnapshot) => (s.dockerConnected ? 1 : 0),
  ],
  ['eid_registered_nodes', 'gauge', 'Nodes registered locally', (s: MetricsSnapshot) => s.registeredNodes],
  [
    'eid_catalog_sync_age_seconds',
    'gauge',
    'Seconds since the catalog last synced with Docker in full',
    (s: MetricsSnapshot) => Math.round(s.catalogSyncAgeSeconds ?? 0),
  ],
  [
    'eid_inspect_failures_total',
    'counter',
    'Container inspects given up (the container is skipped until the next sync)',
    (s: MetricsSnapshot) => s.inspectFailures ?? 0,
  ],
] as const;

const SKIPPED = 'eid_skipped_containers';

export function renderMetrics(snapshot: MetricsSnapshot): string {
  const plain = METRICS.map(
    ([name, type, help, value]) =>
      `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value(snapshot)}\n`,
  ).join('');
  const skipped = SKIP_REASONS.map(
    (reason) => `${SKIPPED}{reason="${reason}"} ${snapshot.skipped?.[reason] ?? 0}\n`,
  ).join('');
  return `${plain}# HELP ${SKIPPED} Containers not served, wholly or under one name, by reason\n# TYPE ${SKIPPED} gauge\n${skipped}`;
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

  constructor(snapshot: () => MetricsSnapshot) {
    this.#server = http.createServer((req, res) => {
      if (req.method !== 'GET') {
        res.writeHead(405).end();
      } else if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(renderMetrics(snapshot()));
      } else if (req.url === '/healthz') {
        const { status, text } = health(snapshot());
        res.writeHead(status, { 'content-type': 'text/plain' }).end(`${text}\n`);
      } else {
        res.writeHead(404).end();
      }
    });
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return listenOn(this.#server, host, port);
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }
}
