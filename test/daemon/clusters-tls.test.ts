/**
 * A TLS cluster (docs/clusters.md, "TLS distribution") on two Docker hosts: stock OTP 25 and
 * OTP 27 nodes with -proto_dist inet_tls, verify_peer and fail_if_no_peer_cert, labelled
 * eid.cluster=tlsshop, no clustering code, become one full mesh over TLS; a cluster whose daemon
 * certificate the members refuse logs one line per member; the daemons' cluster metrics. Host 1's
 * daemon finds host 2 by a DNS name, through its own /etc/hosts in a private mount namespace (the
 * machine's is untouched).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certPaths, erlTlsArgs, makeCerts, writeOptfile } from '../distribution/tls-helpers.ts';
import { metricSamples } from '../support/metrics.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';
import { eidBin, waitFor } from '../support/processes.ts';
import {
  ROOT,
  evalOnHost,
  logLines,
  upHosts,
  type DaemonProcess,
  type Host,
  type NodeContainer,
  type TestHosts,
} from '../harness/hosts.ts';

const SET = 25;
const COOKIE = 'eidtlscluster';
/** The DNS name host 1's daemon is given for the other hosts: host 2 (A) and one with no daemon (AAAA). */
const PEERS_NAME = 'peers.eid.test';
const NO_DAEMON = '::1';
const SETTLE_MS = 90_000;
const nextPort = portAllocator(PortSlices.clusters.tls);

let hosts: TestHosts;
/** Certificates (dist-certs.sh), optfiles, cookie and clusters files; mounted at /certs in containers. */
let dir: string;
const daemons = new Map<Host, DaemonProcess>();
const metricsPorts = new Map<Host, number>();
let members: NodeContainer[] = [];
let rogueMember: NodeContainer;
let plainMember: NodeContainer;

/** The optfile of `host` as docs/tls.md gives it, with paths as seen from the host or from its containers. */
function optfile(host: Host, inContainer: boolean): string {
  const paths = certPaths(dir, host.ip);
  const seen = (p: string) => (inContainer ? p.replace(dir, '/certs') : p);
  const file = join(dir, `${host.ip}${inContainer ? '-container' : ''}.conf`);
  writeOptfile(file, { ca: seen(paths.ca), cert: seen(paths.cert), key: seen(paths.key) });
  return seen(file);
}

/**
 * `self`'s clusters file. tlsshop spans both hosts over TLS (host 1 finds host 2 by DNS). On host
 * 1 only: rogue presents a certificate from another CA, which its member refuses; plain has no
 * tls key, but its member runs TLS distribution.
 */
function writeConfig(self: Host, peer: Host): string {
  const file = join(dir, `clusters-${self.index}.json`);
  const own = certPaths(dir, self.ip);
  const peers = self.index === 1 ? { dns: PEERS_NAME } : { hosts: [peer.ip] };
  const rogue = certPaths(join(dir, 'rogue'), self.ip);
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      host: self.ip,
      membership: { ca: own.ca, cert: own.cert, key: own.key },
      clusters: {
        tlsshop: {
          cookieFile: 'cookie',
          ...peers,
          reconcileInterval: 1,
          tls: { sslDistOptfile: optfile(self, false) },
        },
        ...(self.index === 1
          ? {
              rogue: {
                cookieFile: 'cookie',
                reconcileInterval: 1,
                tls: { ca: own.ca, cert: rogue.cert, key: rogue.key },
              },
              plain: { cookieFile: 'cookie', reconcileInterval: 1 },
            }
          : {}),
      },
    }),
  );
  return file;
}

/**
 * `eid daemon --clusters` on `host` with metrics on a loopback port of its namespace. Host 1's runs
 * in a mount namespace of its own whose /etc/hosts names PEERS_NAME: the system resolver
 * (getaddrinfo, as for any DNS name) answers it, and nothing outside that process sees the file.
 */
async function startDaemon(host: Host, peer: Host): Promise<DaemonProcess> {
  const port = await nextPort();
  metricsPorts.set(host, port);
  const args = [
    eidBin,
    ...host.daemonArgs(),
    '--metrics',
    `127.0.0.1:${port}`,
    '--clusters',
    writeConfig(host, peer),
  ];
  let child;
  if (host.index === 1) {
    const etcHosts = join(dir, 'etc-hosts');
    writeFileSync(etcHosts, `127.0.0.1 localhost\n${peer.ip} ${PEERS_NAME}\n${NO_DAEMON} ${PEERS_NAME}\n`);
    const quoted = [process.execPath, ...args].map((a) => `'${a}'`).join(' ');
    child = host.spawn('unshare', [
      '--mount',
      'sh',
      '-c',
      `mount --bind '${etcHosts}' /etc/hosts && exec ${quoted}`,
    ]);
  } else child = host.spawn(process.execPath, args);
  const daemon = await host.adopt(child, /Docker catalog synced/);
  daemons.set(host, daemon);
  return daemon;
}

function startMember(host: Host, cluster: string, image = 'eid-otp25'): Promise<NodeContainer> {
  return host.startNode({
    cookie: COOKIE,
    image,
    labels: { 'eid.cluster': cluster },
    volumes: [`${dir}:/certs:ro`],
    erlArgs: erlTlsArgs(optfile(host, true)).join(' '),
  });
}

before(
  async () => {
    hosts = await upHosts(SET);
    const { h1, h2 } = hosts;
    const image = h2.image('otp27');
    dir = makeCerts([h1.ip, h2.ip]);
    mkdirSync(join(dir, 'rogue'));
    makeCerts([h1.ip], join(dir, 'rogue'));
    writeFileSync(join(dir, 'cookie'), COOKIE);
    chmodSync(join(dir, 'cookie'), 0o600);
    await Promise.all([startDaemon(h1, h2), startDaemon(h2, h1), image]);
    const started = await Promise.all([
      startMember(h1, 'tlsshop'),
      startMember(h1, 'tlsshop'),
      startMember(h2, 'tlsshop'),
      startMember(h2, 'tlsshop', 'eid-otp27'),
      startMember(h1, 'rogue'),
      startMember(h1, 'plain'),
    ]);
    members = started.slice(0, 4);
    [rogueMember, plainMember] = started.slice(4) as [NodeContainer, NodeContainer];
  },
  { timeout: 600_000 },
);

after(async () => {
  await hosts?.down();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

interface Peer {
  node: string;
  type: string;
  protocol: string;
}

/** Each node's connections (net_kernel:nodes_info/0: peer, normal or hidden, tcp or tls), asked over TLS from `host`. */
async function connectionsOf(host: Host, nodes: readonly string[]): Promise<Map<string, Peer[]>> {
  const list = nodes.map((n) => `'${n}'`).join(', ');
  const out = await evalOnHost(
    host,
    COOKIE,
    `Ns = [${list}], [io:format("~s ~w~n", [N, case R of {ok, {ok, L}} -> ` +
      `[{P, proplists:get_value(type, I), element(4, proplists:get_value(address, I))} || {P, I} <- L]; _ -> R end]) ` +
      `|| {N, R} <- lists:zip(Ns, erpc:multicall(Ns, net_kernel, nodes_info, [], 10000))]`,
    60_000,
    erlTlsArgs(optfile(host, false)),
  );
  return new Map(
    out
      .split('\n')
      .map((line) => line.trim().split(' '))
      .filter(([name]) => nodes.includes(name!))
      .map(([name, rest]) => [
        name!,
        [...(rest ?? '').matchAll(/\{'([^']+)',(\w+),(\w+)\}/g)]
          .map(([, node, type, protocol]) => ({ node: node!, type: type!, protocol: protocol! }))
          // The asking probe itself.
          .filter((p) => !p.node.startsWith('probe')),
      ]),
  );
}

/** The daemon's /metrics samples, fetched inside its host's namespace. */
async function metricsOf(host: Host): Promise<Map<string, number>> {
  const text = await host.exec('curl', ['-sf', `http://127.0.0.1:${metricsPorts.get(host)}/metrics`]);
  assert.ok(!text.includes(COOKIE), 'the cookie is never in metrics');
  return metricSamples(text);
}

test(
  'stock TLS nodes (OTP 25 and 27) with no clustering code become one full mesh, every connection TLS',
  { timeout: 180_000 },
  async () => {
    const names = members.map((m) => m.node);
    const meshed = (seen: Map<string, Peer[]>) =>
      names.every((n) => {
        const normal = (seen.get(n) ?? []).filter((p) => p.type === 'normal');
        return (
          JSON.stringify(normal.map((p) => p.node).sort()) ===
          JSON.stringify(names.filter((o) => o !== n).sort())
        );
      });
    let seen = new Map<string, Peer[]>();
    await waitFor(
      async () => meshed((seen = await connectionsOf(hosts.h1, names))),
      'the four TLS nodes to see each other',
      SETTLE_MS,
    );
    for (const m of members) {
      const peers = seen.get(m.node)!;
      // Members to each other, and the own host's daemon to its members: all inet_tls_dist.
      assert.ok(
        peers.every((p) => p.protocol === 'tls'),
        `${m.node}: ${JSON.stringify(peers)}`,
      );
      assert.ok(
        peers.some((p) => p.type === 'hidden' && p.node === `eid_tlsshop@${m.host.ip}`),
        `${m.node} is connected from its host's daemon: ${JSON.stringify(peers)}`,
      );
      assert.ok(!peers.some((p) => p.node.startsWith('eid_') && !p.node.endsWith(`@${m.host.ip}`)));
    }
  },
);

test(
  'a daemon certificate a member refuses, or a cluster without tls for a TLS member: one line each, no storm',
  { timeout: 180_000 },
  async () => {
    const { h1 } = hosts;
    const log = () => daemons.get(h1)!.log();
    const rogue = `node=${rogueMember.id.slice(0, 12)}`;
    const plain = `node=${plainMember.id.slice(0, 12)}`;
    const passes = async (cluster: string) =>
      (await metricsOf(h1)).get(`eid_cluster_reconcile_duration_seconds_count{cluster="${cluster}"}`) ?? 0;
    await waitFor(
      () =>
        logLines(log(), 'WARN', rogue, 'TLS distribution refused').length > 0 &&
        logLines(log(), 'WARN', plain, 'the peer speaks TLS').length > 0,
      'the two refusal lines',
      SETTLE_MS,
    );
    // A member slow to boot may first be "not answering" (docker-proxy accepts and closes before
    // the node listens; under load a connect may also time out, a second reason): the refusal is
    // the first line after those, and the last.
    const refusal = (node: string) => {
      const warned = logLines(log(), 'WARN', node);
      const starting = warned.findIndex((l) => !l.includes('it did not answer'));
      return { warned, starting, line: warned[starting] ?? '' };
    };
    assert.match(refusal(rogue).line, /cluster=rogue.*unknown ca/i);
    assert.match(refusal(plain).line, /cluster=plain.*give the cluster a tls key/);
    // The first retry one interval later, however long the node was silent while it started.
    for (const node of [rogue, plain]) assert.match(refusal(node).line, / retryInSeconds=1 /);
    // Several passes later, still one line each.
    const from = Math.min(await passes('rogue'), await passes('plain'));
    await waitFor(
      async () => Math.min(await passes('rogue'), await passes('plain')) >= from + 4,
      'four more passes of each',
      SETTLE_MS,
    );
    for (const node of [rogue, plain]) {
      const { warned, starting } = refusal(node);
      assert.equal(warned.length, starting + 1, log());
    }
    const m = await metricsOf(h1);
    for (const cluster of ['rogue', 'plain'])
      assert.equal(m.get(`eid_cluster_members{cluster="${cluster}",host="${h1.ip}",state="refused"}`), 1);
    // Neither member let a daemon in: no connection from one, TLS or not.
    const seen = await connectionsOf(h1, [rogueMember.node, plainMember.node]);
    assert.deepEqual(seen.get(rogueMember.node), []);
    assert.deepEqual(seen.get(plainMember.node), []);
  },
);

test(
  'the cluster metrics: members per host and state, peer hosts found by DNS, connects, passes',
  { timeout: 180_000 },
  async () => {
    const { h1, h2 } = hosts;
    const key = (name: string, labels: string) => `${name}{${labels}}`;
    await waitFor(
      async () =>
        (await metricsOf(h1)).get(
          key('eid_cluster_members', `cluster="tlsshop",host="${h2.ip}",state="up"`),
        ) === 2,
      "host 1's daemon to count host 2's two members",
      SETTLE_MS,
    );
    const m1 = await metricsOf(h1);
    const m2 = await metricsOf(h2);
    assert.equal(m1.get(key('eid_cluster_members', `cluster="tlsshop",host="${h1.ip}",state="up"`)), 2);
    for (const state of ['pending', 'unreachable', 'refused'])
      assert.equal(
        m1.get(key('eid_cluster_members', `cluster="tlsshop",host="${h1.ip}",state="${state}"`)),
        0,
      );
    // Both records of the DNS name are peers: host 2 answers, the other address has no daemon.
    assert.equal(m1.get(key('eid_cluster_peer_host_reachable', `cluster="tlsshop",host="${h2.ip}"`)), 1);
    assert.equal(m1.get(key('eid_cluster_peer_host_reachable', `cluster="tlsshop",host="${NO_DAEMON}"`)), 0);
    assert.equal(m2.get(key('eid_cluster_peer_host_reachable', `cluster="tlsshop",host="${h1.ip}"`)), 1);
    assert.equal(m2.get(key('eid_cluster_members', `cluster="tlsshop",host="${h1.ip}",state="up"`)), 2);
    // The nodes connect to nobody by themselves: the first connections were asked for by a daemon.
    const connects = (m: Map<string, number>, outcome: string) =>
      m.get(key('eid_cluster_connects_total', `cluster="tlsshop",outcome="${outcome}"`));
    assert.ok((connects(m1, 'connected') ?? 0) + (connects(m2, 'connected') ?? 0) >= 1);
    assert.equal(connects(m1, 'failed') !== undefined && connects(m2, 'failed') !== undefined, true);
    for (const m of [m1, m2])
      assert.ok((m.get('eid_cluster_reconcile_duration_seconds_count{cluster="tlsshop"}') ?? 0) >= 1);
    // docs/clusters.md's command, on the port this daemon serves metrics on.
    const command = readFileSync(join(ROOT, 'docs/clusters.md'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('curl -s http://127.0.0.1:9100/metrics'));
    assert.ok(command !== undefined, 'docs/clusters.md shows the metrics command');
    const shown = await h1.exec('bash', ['-c', command.replace('9100', String(metricsPorts.get(h1)))]);
    assert.ok(
      shown.split('\n').includes(`eid_cluster_members{cluster="tlsshop",host="${h2.ip}",state="up"} 2`),
      shown,
    );
    // The address without a daemon is reported once, after its quiet start (9 quiet fetches).
    await waitFor(
      () => logLines(daemons.get(h1)!.log(), 'cluster peer host unreachable', NO_DAEMON).length > 0,
      'the unreachable-host line for the address without a daemon',
      SETTLE_MS,
    );
    const log = daemons.get(h1)!.log();
    assert.equal(logLines(log, 'cluster peer host unreachable', NO_DAEMON).length, 1, log);
    assert.doesNotMatch(log, new RegExp(COOKIE));
  },
);
