/**
 * Self-forming clusters (docs/clusters.md) on two Docker hosts: stock erl nodes with no clustering
 * code, labelled eid.cluster=shop, three per host, are made one full mesh by the two daemons; then
 * the cases share that one set of hosts and containers: isolation of another cluster, a daemon
 * restart, a replaced container, a cut link between the hosts, and the failure modes' log lines.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterStatus } from '../../src/cli/status.ts';
import type { MembershipDocument } from '../../src/daemon/membership-document.ts';
import { eidBin, waitFor } from '../support/processes.ts';
import {
  HOST_MOUNTS,
  ROOT,
  evalOnHost,
  logLines,
  upHosts,
  type DaemonProcess,
  type Host,
  type NodeContainer,
  type TestHosts,
} from '../harness/hosts.ts';

const SET = 21;
const FORGER = fileURLToPath(new URL('./membership-forger.ts', import.meta.url));
const COOKIE = 'eidselfforming';
/** Short ticks, so the nodes notice the cut link in seconds (net_ticktime is no clustering code). */
const ERL_ARGS = '-kernel net_ticktime 4';
/** Liveness bound for a cluster to settle: a few reconcile intervals and connection setups. */
const SETTLE_MS = 90_000;

let hosts: TestHosts;
let dir: string;
const daemons = new Map<Host, DaemonProcess>();
const configs = new Map<Host, string>();
let shop: NodeContainer[] = [];
let other: NodeContainer[] = [];
/** A shop member whose node runs with -connect_all false: left out of the mesh. */
let solo: NodeContainer;
let wrongCookieNode: string;
let silentNode: string;

function writeCookie(name: string, cookie: string): string {
  const file = join(dir, `${name}.cookie`);
  writeFileSync(file, cookie);
  chmodSync(file, 0o600);
  return file;
}

/** Host `self`'s clusters file: shop and other span both hosts; `wrong` has a cookie its node does not share. */
function writeConfig(self: Host, peer: Host): string {
  const file = join(dir, `clusters-${self.index}.json`);
  const cluster = (cookieFile: string) => ({ cookieFile, hosts: [peer.ip], reconcileInterval: 1 });
  writeFileSync(join(dir, `hosts-${self.index}.erlang`), `% the other host\n'${peer.ip}'.\n`);
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      host: self.ip,
      membership: {
        ca: 'certs/ca.pem',
        cert: `certs/${self.ip}/cert.pem`,
        key: `certs/${self.ip}/key.pem`,
      },
      clusters: {
        shop: { ...cluster('shop.cookie'), hosts: [], hostsFile: `hosts-${self.index}.erlang` },
        other: cluster('other.cookie'),
        wrong: cluster('wrong.cookie'),
      },
    }),
  );
  return file;
}

/** `eid daemon --clusters` from the build (bin/eid.js, as users run it; it starts faster than from source). */
async function startDaemon(host: Host): Promise<DaemonProcess> {
  const args = [...host.daemonArgs(), '--clusters', configs.get(host)!];
  const daemon = await host.adopt(host.spawn(process.execPath, [eidBin, ...args]), /Docker catalog synced/);
  daemons.set(host, daemon);
  return daemon;
}

function startShopNode(host: Host): Promise<NodeContainer> {
  return host.startNode({ cookie: COOKIE, labels: { 'eid.cluster': 'shop' }, erlArgs: ERL_ARGS });
}

before(
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'eid-clusters-'));
    hosts = await upHosts(SET);
    const { h1, h2 } = hosts;
    execFileSync('bash', [`${ROOT}scripts/dist-certs.sh`, '--dir', join(dir, 'certs'), h1.ip, h2.ip]);
    writeCookie('shop', COOKIE);
    // The same cookie as shop: the daemons, not the cookies, keep the two clusters apart.
    writeCookie('other', COOKIE);
    writeCookie('wrong', 'notthecookie');
    configs.set(h1, writeConfig(h1, h2)).set(h2, writeConfig(h2, h1));
    await Promise.all([startDaemon(h1), startDaemon(h2)]);
    const started = await Promise.all([
      ...[h1, h1, h1, h2, h2, h2].map(startShopNode),
      h1.startNode({ cookie: COOKIE, labels: { 'eid.cluster': 'other' }, erlArgs: ERL_ARGS }),
      h2.startNode({ cookie: COOKIE, labels: { 'eid.cluster': 'other' }, erlArgs: ERL_ARGS }),
      h2.startNode({
        cookie: COOKIE,
        labels: { 'eid.cluster': 'shop' },
        erlArgs: `${ERL_ARGS} -connect_all false`,
      }),
      // Its node has the shop cookie; the `wrong` cluster's cookie file does not match it.
      h1.startNode({ cookie: COOKIE, labels: { 'eid.cluster': 'wrong' } }),
      // Publishes the node port but runs no node: a member that never answers.
      h1.docker([
        'run',
        '-d',
        ...HOST_MOUNTS,
        '-p',
        '12345',
        '--label',
        'eid.cluster=wrong',
        'eid-otp25',
        'sleep',
        '100000',
      ]),
    ]);
    shop = started.slice(0, 6) as NodeContainer[];
    other = started.slice(6, 8) as NodeContainer[];
    solo = started[8] as NodeContainer;
    wrongCookieNode = (started[9] as NodeContainer).id.slice(0, 12);
    silentNode = (started[10] as string).trim().slice(0, 12);
  },
  { timeout: 600_000 },
);

after(async () => {
  await hosts?.down();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** Each node's nodes(), asked by a hidden probe node on `host` (nodes of the other host too, through its daemon). */
async function nodesOf(host: Host, nodes: readonly string[]): Promise<Map<string, string[]>> {
  const list = nodes.map((n) => `'${n}'`).join(', ');
  const out = await evalOnHost(
    host,
    COOKIE,
    // erpc:multicall asks all at once, in order; a node that does not answer shows as {error, ...}.
    `Ns = [${list}], [io:format("~s ~w~n", [N, R]) || {N, R} <- lists:zip(Ns, erpc:multicall(Ns, erlang, nodes, [], 10000))]`,
  );
  return new Map(
    out
      .split('\n')
      .map((line) => line.trim().split(' '))
      .filter(([name]) => nodes.includes(name!))
      .map(([name, rest]) => [
        name!,
        /^\{ok,/.test(rest ?? '') ? [...rest!.matchAll(/'([^']+)'/g)].map((m) => m[1]!).sort() : [rest ?? ''],
      ]),
  );
}

/** Whether every node in `members` sees exactly the other members. */
async function isMesh(members: readonly NodeContainer[], probeHost = hosts.h1): Promise<boolean> {
  const names = members.map((m) => m.node);
  const seen = await nodesOf(probeHost, names);
  return names.every(
    (n) => JSON.stringify(seen.get(n)) === JSON.stringify(names.filter((o) => o !== n).sort()),
  );
}

async function waitForMesh(members: readonly NodeContainer[], what: string): Promise<void> {
  await waitFor(() => isMesh(members), what, SETTLE_MS);
}

/** `eid status --cluster NAME --json` on `host`; exit 3 (not converged) still prints the document. */
async function status(host: Host, cluster: string): Promise<ClusterStatus> {
  const args = [eidBin, 'status', '--cluster', cluster, '--clusters', configs.get(host)!, '--json'];
  try {
    return JSON.parse(await host.exec(process.execPath, args)) as ClusterStatus;
  } catch (err) {
    const { stdout } = err as { stdout?: string };
    if (stdout !== undefined && stdout.trim().startsWith('{')) return JSON.parse(stdout) as ClusterStatus;
    throw err;
  }
}

test(
  'six containers with no clustering code become one full mesh, and eid status shows it',
  { timeout: 180_000 },
  async () => {
    await waitForMesh(shop, 'the six shop nodes to see each other');
    await waitFor(
      async () => (await status(hosts.h1, 'shop')).converged,
      'eid status to say converged',
      SETTLE_MS,
    );
    // Host 2's daemon reports its members as of its last pass: asked until it has seen the mesh too.
    let doc = await status(hosts.h2, 'shop');
    await waitFor(
      async () => (doc = await status(hosts.h2, 'shop')).converged,
      'eid status on host 2 to say converged',
      SETTLE_MS,
    );
    assert.deepEqual(
      doc.hosts.map((h) => h.host),
      [hosts.h2.ip, hosts.h1.ip],
    );
    const members = doc.hosts.flatMap((h) => h.members.map((m) => m.node)).sort();
    assert.deepEqual(members, [...shop, solo].map((c) => c.node).sort());
    for (const m of doc.hosts.flatMap((h) => h.members))
      assert.equal(m.connected.length, m.node === solo.node ? 0 : 5, JSON.stringify(m));
    // -connect_all false: watched and shown, never meshed; nobody is asked to connect to it.
    const soloView = doc.hosts[0]!.members.find((m) => m.node === solo.node);
    assert.deepEqual([soloView?.mesh, soloView?.state], [false, 'up']);
    assert.deepEqual((await nodesOf(hosts.h2, [solo.node])).get(solo.node), []);
    // The table, as docs/clusters.md shows it: no colour when not writing to a terminal.
    const table = await hosts.h1.exec(process.execPath, [
      eidBin,
      'status',
      '--cluster',
      'shop',
      '--clusters',
      configs.get(hosts.h1)!,
    ]);
    assert.match(
      table,
      /^cluster shop: one full mesh\nHOST +NODE +CONTAINER +STATE +MESH +NOT CONNECTED TO\n/,
    );
    assert.ok(!table.includes('\u001b'), 'no colour codes');
    for (const c of shop)
      assert.match(table, new RegExp(`${c.host.ip} +${c.node} +${c.id.slice(0, 12)} +up +yes +-(\n|$)`));
  },
);

test('a cluster on the same hosts with the same cookie stays apart', { timeout: 180_000 }, async () => {
  const all = [...shop, ...other];
  const apart = async () => {
    const seen = await nodesOf(
      hosts.h1,
      all.map((c) => c.node),
    );
    const only = (group: NodeContainer[]) =>
      group.every(
        (c) =>
          JSON.stringify(seen.get(c.node)) ===
          JSON.stringify(
            group
              .filter((o) => o !== c)
              .map((o) => o.node)
              .sort(),
          ),
      );
    return only(shop) && only(other);
  };
  await waitFor(apart, 'cluster other to form beside shop, each seeing only its own', SETTLE_MS);
  // Not even the daemons' hidden nodes crossed over.
  const hidden = await evalOnHost(
    hosts.h1,
    COOKIE,
    `io:format("~w~n", [rpc:call('${other[0]!.node}', erlang, nodes, [hidden])])`,
  );
  assert.match(hidden, /eid_other@/);
  assert.doesNotMatch(hidden, /eid_shop@/);
});

test(
  'a wrong cookie file and a member that never answers: one log line each, no storm',
  { timeout: 180_000 },
  async () => {
    const log = () => daemons.get(hosts.h1)!.log();
    await waitFor(
      () =>
        logLines(log(), 'WARN', `node=${wrongCookieNode}`, 'cookie file does not match').length > 0 &&
        logLines(log(), 'WARN', `node=${silentNode}`, 'it did not answer').length > 0,
      'the two failure lines',
      SETTLE_MS,
    );
    // Several passes later (shown by a later pass of the healthy cluster), still one line each.
    const doc = await status(hosts.h1, 'wrong');
    const states = doc.hosts[0]!.members.map((m) => m.state).sort();
    assert.deepEqual(states, ['refused', 'unreachable']);
    const silent = `node=${silentNode}`;
    const wrongCookie = `node=${wrongCookieNode}`;
    assert.equal(logLines(log(), 'WARN', silent, 'it did not answer').length, 1, log());
    assert.equal(logLines(log(), 'WARN', wrongCookie, 'cookie file does not match').length, 1, log());
    // A node slow to boot may have been "not answering" once before its cookie was seen; never more.
    assert.ok(logLines(log(), 'WARN', wrongCookie, 'it did not answer').length <= 1, log());
    // Member lines only: a daemon started more than 10 intervals before the other (a slow start
    // under load) logs "cluster peer host unreachable" once, after its quiet start.
    assert.ok(logLines(log(), 'WARN', 'cluster=wrong', 'cluster member').length <= 3, log());
    assert.doesNotMatch(log(), new RegExp(COOKIE));
    assert.doesNotMatch(log(), /notthecookie/);
  },
);

test('a daemon restart changes nothing for the running nodes', { timeout: 180_000 }, async () => {
  // A watcher on every shop node records each nodedown it sees from now on.
  const watch = shop
    .map(
      (c) =>
        `rpc:call('${c.node}', erlang, spawn, [fun() -> register(eidwatch, self()), ok = net_kernel:monitor_nodes(true), ` +
        `(fun Loop(Downs) -> receive {nodedown, N} -> Loop([N | Downs]); {get, P} -> P ! {downs, Downs}, Loop(Downs); _ -> Loop(Downs) end end)([]) end])`,
    )
    .join(', ');
  await evalOnHost(hosts.h1, COOKIE, `${watch}, timer:sleep(200), io:format("ok~n")`);
  await daemons.get(hosts.h1)!.stop();
  const restarted = await startDaemon(hosts.h1);
  // The new daemon has reached its three members and found nothing to do.
  await waitFor(
    async () => {
      const doc = await status(hosts.h1, 'shop');
      return doc.converged && doc.hosts[0]!.members.length === 3;
    },
    'the restarted daemon to see the mesh',
    SETTLE_MS,
  );
  const query = shop
    .map(
      (c, i) =>
        `{eidwatch, '${c.node}'} ! {get, self()}, receive {downs, D${i}} -> io:format("~w~n", [D${i}]) after 30000 -> io:format("timeout~n") end`,
    )
    .join(', ');
  const downs = await evalOnHost(hosts.h1, COOKIE, query);
  assert.deepEqual(
    downs.split('\n').map((l) => l.trim()),
    shop.map(() => '[]'),
  );
  assert.equal(logLines(restarted.log(), 'cluster nodes connected').length, 0, restarted.log());
});

test('a replaced container joins, and the cluster is one mesh again', { timeout: 180_000 }, async () => {
  const gone = shop[4]!;
  await gone.host.docker(['rm', '-f', gone.id]);
  const fresh = await startShopNode(gone.host);
  shop = [...shop.filter((c) => c !== gone), fresh];
  await waitForMesh(shop, 'the mesh with the new container');
});

test('a cut link between the hosts heals once it is back', { timeout: 240_000 }, async () => {
  const { h1 } = hosts;
  const veth = `eid${SET}v1`;
  const local = shop.filter((c) => c.host === h1);
  await h1.exec('ip', ['link', 'set', veth, 'down']);
  try {
    // Ticks find the cut: host 1's nodes see only each other.
    await waitFor(() => isMesh(local), 'host 1 nodes to lose host 2', SETTLE_MS);
    await waitFor(
      () => logLines(daemons.get(h1)!.log(), 'cluster peer host unreachable').length > 0,
      'the unreachable-host line',
      SETTLE_MS,
    );
  } finally {
    await h1.exec('ip', ['link', 'set', veth, 'up']);
  }
  await waitForMesh(shop, 'the mesh to heal');
  const log = daemons.get(h1)!.log();
  // One line when the host went away, one when it came back, per cluster spanning it.
  assert.equal(
    logLines(log, 'cluster peer host unreachable').filter((l) => l.includes('shop')).length,
    1,
    log,
  );
  assert.ok(
    logLines(log, 'cluster peer host reachable again').some((l) => l.includes('shop')),
    log,
  );
});

/** Host 1's daemon's membership document, as curl with host 1's certificate gets it (docs/clusters.md). */
async function membershipOf(host: Host): Promise<MembershipDocument> {
  const certs = join(dir, 'certs');
  const json = await host.exec('curl', [
    '-sf',
    '--cacert',
    join(certs, 'ca.pem'),
    '--cert',
    join(certs, host.ip, 'cert.pem'),
    '--key',
    join(certs, host.ip, 'key.pem'),
    `https://${host.ip}:4370/v1/membership`,
  ]);
  return JSON.parse(json) as MembershipDocument;
}

test('a forged membership reply is refused and chooses no dial', { timeout: 240_000 }, async () => {
  const { h1, h2 } = hosts;
  // A third address on host 2's link, named in host 1's hosts file: a host that is not one of ours.
  const forged = `10.213.${SET}.3`;
  await h2.exec('ip', ['addr', 'add', `${forged}/24`, 'dev', `eid${SET}v2`]);
  const hostsFile = join(dir, 'hosts-1.erlang');
  const before = readFileSync(hostsFile, 'utf8');
  writeFileSync(hostsFile, `${before}'${forged}'.\n`);
  const ghost = `ghost@${forged}`;
  const member = (node: string) => ({
    node,
    container: '',
    name: '',
    mesh: true,
    state: 'up',
    connected: [],
  });
  const reply = JSON.stringify({
    version: 1,
    host: forged,
    generated: new Date().toISOString(),
    clusters: [
      {
        name: 'shop',
        reconcileIntervalMs: 1000,
        lastReconcile: null,
        // A node of another host and of another cluster, and one of the forged host itself.
        members: [member(other[0]!.node), member(shop[0]!.node), member(ghost)],
        hosts: [],
      },
    ],
  });
  const forger = (certs: string) =>
    h2.adopt(
      h2.spawn(process.execPath, [
        '--import',
        'tsx',
        FORGER,
        forged,
        '4370',
        join(certs, forged, 'cert.pem'),
        join(certs, forged, 'key.pem'),
        reply,
      ]),
      /listening/,
    );
  const peer = async () =>
    (await membershipOf(h1)).clusters.find((c) => c.name === 'shop')?.hosts.find((h) => h.host === forged);
  try {
    // A certificate from another CA: refused in the TLS handshake.
    execFileSync('bash', [`${ROOT}scripts/dist-certs.sh`, '--dir', join(dir, 'forger'), forged]);
    let running = await forger(join(dir, 'forger'));
    await waitFor(
      async () => /certificate/i.test((await peer())?.error ?? ''),
      'the daemon to refuse the forged certificate',
      SETTLE_MS,
    );
    assert.deepEqual((await peer())?.members, []);
    await running.stop();
    // The CA's own certificate for that address (an insider): only members of that host are taken.
    execFileSync('bash', [`${ROOT}scripts/dist-certs.sh`, '--dir', join(dir, 'certs'), forged]);
    running = await forger(join(dir, 'certs'));
    await waitFor(async () => (await peer())?.reachable === true, 'the daemon to read the reply', SETTLE_MS);
    assert.deepEqual(
      (await peer())?.members.map((m) => m.node),
      [ghost],
    );
    await running.stop();
  } finally {
    writeFileSync(hostsFile, before);
  }
  const seen = await nodesOf(
    h1,
    shop.map((c) => c.node),
  );
  for (const c of shop)
    assert.ok(!seen.get(c.node)!.includes(other[0]!.node), `${c.node}: ${seen.get(c.node)}`);
});
