/** Prometheus text exposition of the daemon's counters, and a health check, over plain HTTP. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListenPort } from '../ports.ts';

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
] as const;

export function renderMetrics(snapshot: MetricsSnapshot): string {
  return METRICS.map(
    ([name, type, help, value]) =>
      `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value(snapshot)}\n`,
  ).join('');
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
        // Healthy as long as EPMD answers; Docker being away only means plain-EPMD mode.
        const s = snapshot();
        res
          .writeHead(200, { 'content-type': 'text/plain' })
          .end(s.dockerConnected ? 'ok\n' : 'ok (docker unreachable)\n');
      } else {
        res.writeHead(404).end();
      }
    });
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
