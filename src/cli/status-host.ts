/**
 * `eid status [--host ADDR:PORT]`: what the cluster page shows, as terminal tables, from the same
 * document (`GET /v1/membership` on the daemon's HTTP port, docs/operating.md).
 */
import http from 'node:http';
import { ClusterError } from '../errors.ts';
import {
  MAX_MEMBERSHIP_BYTES,
  MEMBERSHIP_PATH,
  MEMBERSHIP_VERSION,
  type HostContainer,
  type Member,
  type MembershipDocument,
  type RegisteredNodeInfo,
} from '../daemon/membership-document.ts';
import { escapeControls } from '../log.ts';
import { renderTable, type Colour } from './table.ts';

/** The membership document from a daemon's HTTP port; rejects with a ClusterError. */
export function fetchHostDocument(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<MembershipDocument> {
  const fail = (message: string) =>
    new ClusterError('CLUSTER_MEMBERSHIP', `the daemon at ${host}:${port}: ${message}`, {
      peer: `${host}:${port}`,
    });
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: MEMBERSHIP_PATH, timeout: timeoutMs, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(
          fail(
            `HTTP ${res.statusCode}${res.statusCode === 404 ? ' (an eid older than the cluster page?)' : ''}`,
          ),
        );
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_MEMBERSHIP_BYTES) req.destroy(fail(`reply larger than ${MAX_MEMBERSHIP_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        try {
          const doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as MembershipDocument;
          if (doc.version !== MEMBERSHIP_VERSION) reject(fail(`membership version ${String(doc.version)}`));
          else resolve(doc);
        } catch {
          reject(fail('the reply is not JSON'));
        }
      });
      res.on('error', (err) => reject(err instanceof ClusterError ? err : fail(err.message)));
    });
    req.on('timeout', () => req.destroy(fail(`no reply within ${timeoutMs} ms`)));
    req.on('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      reject(err instanceof ClusterError ? err : fail(code ?? err.message));
    });
  });
}

interface HostRow {
  host: string;
  own: boolean;
  reachable: boolean;
  error: string | null;
  lastSeen: string | null;
  containers: HostContainer[];
  registered: RegisteredNodeInfo[];
}

function hostRows(doc: MembershipDocument): HostRow[] {
  const own: HostRow = {
    host: doc.host,
    own: true,
    reachable: true,
    error: null,
    lastSeen: doc.generated,
    containers: doc.containers ?? [],
    registered: doc.registered ?? [],
  };
  return [own, ...(doc.peers ?? []).map((p) => ({ ...p, own: false }))];
}

const served = (c: HostContainer): string =>
  !c.served
    ? `no: ${c.skips.map((s) => s.text).join('; ')}`
    : c.skips.length > 0
      ? `yes, but ${c.skips.map((s) => (s.name === null ? s.text : `${s.name} ${s.text}`)).join('; ')}`
      : 'yes';

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

/** The document as terminal tables (hosts, clusters, containers, registered nodes), as the page shows it. */
export function formatHostStatus(doc: MembershipDocument, colour: boolean): string {
  const hosts = hostRows(doc);
  const out: string[] = [`eid on ${escapeControls(doc.host)}, ${doc.generated}`, ''];
  const section = (title: string, rows: string[][], colours: (Colour | undefined)[]) =>
    out.push(title, ...renderTable(rows, colours, colour), '');

  const hostColours: (Colour | undefined)[] = [undefined];
  const hostTable = [['HOST', 'DAEMON', 'CONTAINERS', 'NOT SERVED', 'REGISTERED', 'LAST HEARD']];
  for (const h of hosts) {
    const skipped = h.containers.filter((c) => !c.served).length;
    const daemon = h.own ? 'this daemon' : h.reachable ? 'answering' : `not answering: ${h.error ?? '?'}`;
    hostTable.push([
      h.host,
      daemon,
      String(h.containers.length),
      String(skipped),
      String(h.registered.length),
      h.lastSeen ?? 'never',
    ]);
    hostColours.push(!h.reachable ? 'red' : skipped > 0 ? 'yellow' : 'green');
  }
  section('HOSTS', hostTable, hostColours);

  for (const view of doc.clusters ?? []) {
    const members: (Member & { host: string })[] = [
      ...view.members.map((m) => ({ ...m, host: doc.host })),
      ...view.hosts.flatMap((h) => h.members.map((m) => ({ ...m, host: h.host }))),
    ];
    const rows = [['NODE', 'HOST', 'STATE', 'CONNECTED', 'MEMORY', 'PROCESSES', 'RUN QUEUE']];
    const colours: (Colour | undefined)[] = [undefined];
    for (const m of members) {
      const s = m.stats;
      rows.push([
        m.node ?? `(container ${m.container})`,
        m.host,
        m.mesh ? m.state : `${m.state} (-connect_all false)`,
        `${m.connected.length} of ${members.length - 1}`,
        s === undefined ? '-' : mb(s.memoryBytes),
        s === undefined ? '-' : String(s.processes),
        s === undefined ? '-' : String(s.runQueue),
      ]);
      colours.push(
        m.state !== 'up' ? 'red' : m.mesh && m.connected.length < members.length - 1 ? 'yellow' : 'green',
      );
    }
    section(`CLUSTER ${view.name}`, rows, colours);
  }

  const containers = [['HOST', 'CONTAINER', 'NAME', 'IMAGE', 'NODE', 'CLUSTER', 'PORT', 'SERVED']];
  const containerColours: (Colour | undefined)[] = [undefined];
  for (const h of hosts)
    for (const c of h.containers) {
      const node = c.node ?? (c.names.length > 0 ? `${c.names.join(', ')} @${h.host}` : '-');
      const port = c.hostPort === null ? '-' : `${c.hostPort} -> ${c.nodePort ?? '?'}`;
      containers.push([h.host, c.id, c.name, c.image, node, c.cluster ?? '-', port, served(c)]);
      containerColours.push(!c.served ? 'red' : c.skips.length > 0 ? 'yellow' : undefined);
    }
  section('CONTAINERS', containers, containerColours);

  const registered = [['HOST', 'NAME', 'PORT']];
  for (const h of hosts) for (const r of h.registered) registered.push([h.host, r.name, String(r.port)]);
  section('REGISTERED NODES', registered, []);
  return out.join('\n');
}
