/**
 * A cluster's peer hosts, as the reconciler logs them (docs/clusters.md, "What the daemon logs").
 * Daemons started together cannot all listen before the others' first pass, so a peer host never
 * reached is fetched STARTUP_FAILURES (10) times, logged at debug, before it is worth a warning;
 * a host that answered once is reported at its first failure. The peer is real HTTP on loopback:
 * a port nothing listens on, then a server with a membership document.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.ts';
import { Reconciler } from '../../src/daemon/reconciler.ts';
import { MEMBERSHIP_VERSION } from '../../src/daemon/membership-document.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';
import { waitFor } from '../support/processes.ts';

const PEER = 'peer-host';
const QUIET = 'cluster peer host not reached yet';
const UNREACHABLE = 'cluster peer host unreachable';
const BACK = 'cluster peer host reachable again';
const nextPort = portAllocator(PortSlices.clusters.peerHosts);
const dir = mkdtempSync(join(tmpdir(), 'eid-peer-hosts-'));
const cookieFile = join(dir, 'cookie');
writeFileSync(cookieFile, 'peerhostscookie', { mode: 0o600 });
const stops: (() => Promise<void>)[] = [];

after(async () => {
  for (const stop of stops.reverse()) await stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A reconciler for one cluster with no local members and one peer host, whose endpoint is `port`. */
function reconcile(port: number): {
  reconciler: Reconciler;
  lines: string[];
  count: (msg: string) => number;
} {
  const lines: string[] = [];
  const reconciler = new Reconciler({
    host: '127.0.0.1',
    cluster: {
      name: 'quiet',
      cookieFile,
      hosts: [PEER],
      hostsFile: undefined,
      dns: undefined,
      reconcileIntervalMs: 40,
      tls: undefined,
    },
    members: () => [],
    find: () => undefined,
    peerHosts: () => Promise.resolve([PEER]),
    fetchPeer: async () => (await fetch(`http://127.0.0.1:${port}/v1/membership`)).text(),
    log: createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) }),
  });
  reconciler.start();
  stops.push(() => reconciler.stop());
  const count = (msg: string) =>
    lines.filter((l) => (JSON.parse(l) as { msg: string }).msg.startsWith(msg)).length;
  return { reconciler, lines, count };
}

const MEMBERSHIP = JSON.stringify({ version: MEMBERSHIP_VERSION, host: PEER, clusters: [] });

/** The peer's membership endpoint, up; it answers `reply.body`, which a test may change. */
async function servePeer(port: number, reply = { body: MEMBERSHIP }): Promise<Server> {
  const server = createServer((_req, res) => res.end(reply.body));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  stops.push(() => closePeer(server));
  return server;
}

/** Closes the endpoint, keep-alive connections (fetch keeps them) included. */
function closePeer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}

const level = (line: string) => (JSON.parse(line) as { level: string }).level;

test('a peer host never reached: nine quiet fetches at debug, then one warning; once reached, its next failure warns at once, one line per outage whatever its reasons', async () => {
  const port = await nextPort();
  const { reconciler, lines, count } = reconcile(port);
  await waitFor(() => count(UNREACHABLE) === 1, 'the warning after the quiet start', 20_000);
  const before = lines.slice(
    0,
    lines.findIndex((l) => l.includes(UNREACHABLE)),
  );
  assert.equal(before.filter((l) => l.includes(QUIET)).length, 9, lines.join('\n'));
  assert.ok(
    before.every((l) => level(l) === 'debug'),
    lines.join('\n'),
  );
  assert.equal(level(lines.find((l) => l.includes(UNREACHABLE))!), 'warn');
  // Later failures of the same kind say nothing more.
  const passes = count(QUIET);
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(count(UNREACHABLE), 1, lines.join('\n'));
  assert.equal(count(QUIET), passes, 'no quiet fetches once the warning is out');

  const reply = { body: MEMBERSHIP };
  const server = await servePeer(port, reply);
  await waitFor(() => count(BACK) === 1, 'the host to be reachable again', 20_000);
  // It fails again, for one reason and then another: one warning for the outage.
  reply.body = 'not a membership document';
  await waitFor(() => count(UNREACHABLE) === 2, 'the warning when a reached host fails', 20_000);
  assert.equal(count(QUIET), passes, 'a host that answered once gets no quiet start');
  await closePeer(server);
  const error = () => reconciler.view().hosts[0]?.error ?? '';
  await waitFor(() => error().includes('fetch failed'), 'the second reason', 20_000);
  assert.equal(count(UNREACHABLE), 2, lines.join('\n'));
  assert.match(lines.filter((l) => l.includes(UNREACHABLE))[1]!, /not JSON/);
});

test('a peer host that answers within its quiet start leaves nothing above debug', async () => {
  const port = await nextPort();
  const { lines, count } = reconcile(port);
  await waitFor(() => count(QUIET) >= 3, 'a few quiet fetches', 20_000);
  await servePeer(port);
  // Reached: the quiet lines stop (a pass in flight may add one).
  await waitFor(
    async () => {
      const seen = count(QUIET);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return count(QUIET) === seen;
    },
    'the host to answer',
    20_000,
  );
  assert.ok(count(QUIET) < 10, lines.join('\n'));
  assert.deepEqual(
    lines.filter((l) => level(l) !== 'debug' && l.includes('peer host')),
    [],
    'no warning, and no "reachable again" for a warning never given',
  );
});
