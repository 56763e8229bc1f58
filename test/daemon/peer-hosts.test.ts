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

interface Reconciling {
  reconciler: Reconciler;
  lines: string[];
  count: (msg: string) => number;
  /** Resolves once `n` more passes have ended. */
  passes: (n: number) => Promise<void>;
  stop: () => Promise<void>;
}

/**
 * A reconciler for one cluster with no local members and one peer host, whose endpoint is `port`.
 * `serveAfter`: the endpoint comes up right after that many failed fetches (so a test's timing
 * is set by fetches, not by the clock).
 */
function reconcile(port: number, options: { intervalMs?: number; serveAfter?: number } = {}): Reconciling {
  const lines: string[] = [];
  let ended = 0;
  const waiting: { at: number; resolve: () => void }[] = [];
  let failed = 0;
  const reconciler = new Reconciler({
    host: '127.0.0.1',
    cluster: {
      name: 'quiet',
      cookieFile,
      hosts: [PEER],
      hostsFile: undefined,
      dns: undefined,
      reconcileIntervalMs: options.intervalMs ?? 40,
      tls: undefined,
    },
    members: () => [],
    find: () => undefined,
    peerHosts: () => Promise.resolve([PEER]),
    fetchPeer: async () => {
      try {
        return await (await fetch(`http://127.0.0.1:${port}/v1/membership`)).text();
      } catch (err) {
        if (++failed === options.serveAfter) await servePeer(port);
        throw err;
      }
    },
    observer: {
      reconciled: () => {
        ended++;
        for (const w of waiting.filter((x) => x.at <= ended)) w.resolve();
      },
      connected: () => undefined,
    },
    log: createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) }),
  });
  reconciler.start();
  const stop = () => reconciler.stop();
  stops.push(stop);
  const count = (msg: string) =>
    lines.filter((l) => (JSON.parse(l) as { msg: string }).msg.startsWith(msg)).length;
  const passes = (n: number) => new Promise<void>((resolve) => waiting.push({ at: ended + n, resolve }));
  return { reconciler, lines, count, passes, stop };
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
  const { reconciler, lines, count, passes, stop } = reconcile(port);
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
  const quiet = count(QUIET);
  await passes(5);
  assert.equal(count(UNREACHABLE), 1, lines.join('\n'));
  assert.equal(count(QUIET), quiet, 'no quiet fetches once the warning is out');

  const reply = { body: MEMBERSHIP };
  const server = await servePeer(port, reply);
  await waitFor(() => count(BACK) === 1, 'the host to be reachable again', 20_000);
  // It fails again, for one reason and then another: one warning for the outage.
  reply.body = 'not a membership document';
  await waitFor(() => count(UNREACHABLE) === 2, 'the warning when a reached host fails', 20_000);
  assert.equal(count(QUIET), quiet, 'a host that answered once gets no quiet start');
  await closePeer(server);
  const error = () => reconciler.view().hosts[0]?.error ?? '';
  await waitFor(() => error().includes('fetch failed'), 'the second reason', 20_000);
  assert.equal(count(UNREACHABLE), 2, lines.join('\n'));
  assert.match(lines.filter((l) => l.includes(UNREACHABLE))[1]!, /not JSON/);
  await stop();
});

test('a peer host that answers within its quiet start leaves nothing above debug', async () => {
  const { lines, count, passes, stop } = reconcile(await nextPort(), { serveAfter: 3 });
  await waitFor(() => count(QUIET) >= 3, 'three quiet fetches', 20_000);
  await passes(3);
  assert.equal(count(QUIET), 3, lines.join('\n'));
  assert.deepEqual(
    lines.filter((l) => level(l) !== 'debug' && l.includes('peer host')),
    [],
    'no warning, and no "reachable again" for a warning never given',
  );
  await stop();
});

test('container changes that add passes do not shorten the quiet start', async () => {
  // One pass per 2 s, and a kick (a container change: a pass 250 ms later) every 300 ms.
  const { reconciler, lines, count, stop } = reconcile(await nextPort(), { intervalMs: 2000 });
  const kicks = setInterval(() => reconciler.kick(), 300);
  try {
    await waitFor(() => count(QUIET) >= 12, 'twelve failed fetches', 30_000);
  } finally {
    clearInterval(kicks);
  }
  // Counted alone, the tenth failure would have warned; the quiet start lasts 8 intervals.
  assert.equal(count(UNREACHABLE), 0, lines.join('\n'));
  await stop();
});
