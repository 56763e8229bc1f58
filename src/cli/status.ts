/**
 * `eid status --cluster NAME`: one cluster's members on every host and who is connected to whom,
 * from the daemons' membership endpoints (docs/clusters.md). It asks this host's daemon first,
 * then every host that daemon knows for the cluster, each with this host's certificate.
 */
import { parseArgs } from 'node:util';
import { readClustersConfig } from '../daemon/cluster-config.ts';
import { fetchMembership } from '../daemon/membership-client.ts';
import {
  MEMBERSHIP_VERSION,
  type ClusterView,
  type Member,
  type MembershipDocument,
} from '../daemon/membership-document.ts';
import { readTlsFiles } from '../daemon/membership-server.ts';
import { EidError } from '../errors.ts';
import { escapeControls } from '../log.ts';
import { cliError, integerOption, runCommand } from './command.ts';
import { renderTable, type Colour } from './table.ts';
import { fetchHostDocument, formatHostStatus } from './status-host.ts';
import { parseListenAddress } from '../daemon/metrics.ts';

/** Where the daemon's HTTP port answers, from --host or EID_METRICS (a wildcard means this host). */
function daemonAddress(text: string | undefined): { host: string; port: number } {
  if (text === undefined || text === '')
    throw cliError("--host ADDR:PORT is required (the daemon's --metrics), or set EID_METRICS");
  const at = parseListenAddress(/^\d+$/.test(text) ? `127.0.0.1:${text}` : text);
  if (at === undefined || at.port === 0) throw cliError(`--host: expected ADDR:PORT, got '${text}'`);
  const host = at.host === '0.0.0.0' ? '127.0.0.1' : at.host === '::' ? '::1' : at.host;
  return { host, port: at.port };
}

export const usage = `Usage: eid status [--host ADDR:PORT] [--json]
       eid status --cluster NAME [--clusters FILE] [--json]

Without --cluster: what the daemon's cluster page shows (docs/operating.md), as tables: the hosts
it knows, each one's containers with their image, node, published port and whether the catalog
serves them (and why not), the nodes registered on the hosts, and each cluster's nodes with who
they are connected to and their memory, process count and run queue. From the daemon's HTTP port
(the daemon's metrics address), GET /v1/membership; --json prints that document as it is.

With --cluster: the cluster's members on every host, each member's state, and which members it is
not connected to, from the membership endpoints of the daemons (docs/clusters.md).

Options:
  --host ADDR:PORT  the daemon's HTTP port (default: EID_METRICS, as the daemon reads it; a bare
                    port or a wildcard address means 127.0.0.1)
  --cluster NAME    one cluster, across hosts, over the membership endpoints
  --clusters FILE   with --cluster: the daemon's clusters file, for this host's name, port and
                    certificates (default: EID_CLUSTERS)
  --json            print the JSON document instead of tables
  --timeout MS      per-host deadline (default 5000)
  --help            show this help

Exit status: without --cluster, 0 when the daemon answered, 1 when it did not; with --cluster,
0 when the cluster is one full mesh, 3 when it is not (yet), 1 when this host's daemon does not
answer.
`;

/** One host's part of the status. */
export interface HostStatus {
  host: string;
  reachable: boolean;
  error: string | null;
  /** When that host's daemon last finished a pass over the cluster; null: not yet. */
  lastReconcile: string | null;
  members: Member[];
}

/** What `eid status --json` prints (version 1). */
export interface ClusterStatus {
  version: typeof MEMBERSHIP_VERSION;
  cluster: string;
  /**
   * Every host answered and has reconciled, every member is up, and each meshed member is
   * connected to every other.
   */
  converged: boolean;
  hosts: HostStatus[];
}

/** Members of the cluster some other meshed member is missing from, per member node name. */
export function missingPeers(hosts: readonly HostStatus[]): Map<string, string[]> {
  const meshed = hosts.flatMap((h) => h.members).filter((m) => m.node !== null && m.mesh && m.state === 'up');
  const names = meshed.map((m) => m.node!);
  return new Map(meshed.map((m) => [m.node!, names.filter((n) => n !== m.node && !m.connected.includes(n))]));
}

export function clusterStatus(cluster: string, hosts: HostStatus[]): ClusterStatus {
  const all = hosts.flatMap((h) => h.members);
  const converged =
    hosts.every((h) => h.reachable && h.lastReconcile !== null) &&
    all.every((m) => m.state === 'up') &&
    [...missingPeers(hosts).values()].every((missing) => missing.length === 0);
  return { version: MEMBERSHIP_VERSION, cluster, converged, hosts };
}

/** The status as a terminal table; `colour` only when writing to a terminal. */
export function formatStatus(status: ClusterStatus, colour: boolean): string {
  const missing = missingPeers(status.hosts);
  const rows: string[][] = [['HOST', 'NODE', 'CONTAINER', 'STATE', 'MESH', 'NOT CONNECTED TO']];
  const colours: (Colour | undefined)[] = [undefined];
  const colourOf = (state: string): Colour =>
    state === 'up' ? 'green' : state === 'partial' || state === 'pending' ? 'yellow' : 'red';
  for (const h of status.hosts) {
    if (!h.reachable) {
      rows.push([h.host, '-', '-', 'host unreachable', '-', h.error ?? '']);
      colours.push('red');
    }
    for (const m of h.members) {
      const gaps = m.node === null ? [] : (missing.get(m.node) ?? []);
      rows.push([
        h.host,
        m.node ?? '(unknown)',
        m.container,
        m.state,
        m.mesh ? 'yes' : 'no (-connect_all false)',
        gaps.length === 0 ? (m.state === 'up' ? '-' : '') : gaps.join(' '),
      ]);
      colours.push(
        colourOf(m.state === 'up' && gaps.length === 0 ? 'up' : m.state === 'up' ? 'partial' : m.state),
      );
    }
  }
  const head = `cluster ${escapeControls(status.cluster)}: ${status.converged ? 'one full mesh' : 'not a full mesh yet'}`;
  return [head, ...renderTable(rows, colours, colour), ''].join('\n');
}

const unreachable = (host: string, error: string): HostStatus => ({
  host,
  reachable: false,
  error,
  lastReconcile: null,
  members: [],
});

function findCluster(doc: MembershipDocument, cluster: string): ClusterView | undefined {
  return Array.isArray(doc.clusters) ? doc.clusters.find((c) => c.name === cluster) : undefined;
}

export async function run(args: string[]): Promise<number> {
  return runCommand('status', async () => {
    const { values } = parseArgs({
      args,
      options: {
        cluster: { type: 'string' },
        clusters: { type: 'string' },
        host: { type: 'string' },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
        help: { type: 'boolean' },
      },
    });
    if (values.help === true) {
      process.stdout.write(usage);
      return 0;
    }
    const timeoutMs =
      values.timeout === undefined ? 5_000 : integerOption('--timeout', values.timeout, 1, 600_000);
    const colour = process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined;
    const cluster = values.cluster;
    if (cluster === undefined) {
      if (values.clusters !== undefined) throw cliError('--clusters goes with --cluster NAME');
      const { host, port } = daemonAddress(values.host ?? process.env['EID_METRICS']);
      const doc = await fetchHostDocument(host, port, timeoutMs);
      process.stdout.write(
        values.json === true ? `${JSON.stringify(doc, null, 2)}\n` : formatHostStatus(doc, colour),
      );
      return 0;
    }
    if (values.host !== undefined) throw cliError('--host and --cluster go separately');
    const file = values.clusters ?? process.env['EID_CLUSTERS'];
    if (file === undefined || file === '') throw cliError('--clusters FILE (or EID_CLUSTERS) is required');
    const config = readClustersConfig(file);
    const credentials = readTlsFiles(config.membership);
    const fetchDoc = async (host: string) =>
      JSON.parse(
        await fetchMembership(host, config.membership.port, credentials, timeoutMs),
      ) as MembershipDocument;

    const own = await fetchDoc(config.host);
    if (own.version !== MEMBERSHIP_VERSION)
      throw cliError(`the daemon speaks membership version ${String(own.version)}`);
    const view = findCluster(own, cluster);
    if (view === undefined) throw cliError(`this host's daemon forms no cluster named '${cluster}'`);
    const hosts: HostStatus[] = [
      {
        host: config.host,
        reachable: true,
        error: null,
        lastReconcile: view.lastReconcile,
        members: view.members,
      },
    ];
    // Each other host reports its own members (and their connections) itself.
    const others = await Promise.all(
      view.hosts.map(async (peer): Promise<HostStatus> => {
        try {
          const doc = await fetchDoc(peer.host);
          const theirs = doc.host === peer.host ? findCluster(doc, cluster) : undefined;
          if (theirs === undefined) return unreachable(peer.host, 'no such cluster there');
          const { lastReconcile, members } = theirs;
          return { host: peer.host, reachable: true, error: null, lastReconcile, members };
        } catch (err) {
          return unreachable(peer.host, err instanceof EidError ? err.message : String(err));
        }
      }),
    );
    const status = clusterStatus(cluster, [...hosts, ...others]);
    process.stdout.write(
      values.json === true ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status, colour),
    );
    return status.converged ? 0 : 3;
  });
}
