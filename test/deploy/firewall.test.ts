/**
 * docs/deploying.md's firewall, as written, on test host 1: ufw active with its defaults (as the
 * section assumes), then the section's two blocks, with host 1's interface and a subnet holding
 * both hosts for `eth0` and 10.0.0.0/24. Real connections prove the effect: from host 2 (in the
 * subnet), from a second address of host 2 outside it, and from a container on host 1, to the eid
 * daemon's port 4369 and to a node container's published port. ufw runs in a mount namespace
 * over a copy of /etc/ufw, so the machine's own ufw settings are never touched.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HOST_MOUNTS, NODE_PORT, upHosts, type Host, type TestHosts } from '../harness/hosts.ts';
import { Doc } from '../support/doc-blocks.ts';

const run = promisify(execFile);
const doc = new Doc('docs/deploying.md');
const COOKIE = 'eid_firewall_test';
/** The documented rules' placeholders. */
const DOC_INTERFACE = 'eth0';
const DOC_SUBNET = '10.0.0.0/24';
/** How long a connection may take before it counts as blocked (the rules DROP, so no refusal comes). */
const BLOCKED_AFTER_MS = 4_000;

let hosts: TestHosts;
let work: string;
let ufwEtc: string;
/** Host 1's published port of the node container's 12345. */
let published: number;
/** A second address of host 2, on the same link but outside the cluster's subnet. */
let outsider: string;
let subnet: string;

/** Connects to each target (from `from` if given) and says which connected within the bound. */
const PROBE = `
const net = require('node:net');
const targets = JSON.parse(process.argv[1]);
Promise.all(targets.map(({ from, host, port }) => new Promise((resolve) => {
  const s = net.connect({ host, port, localAddress: from });
  const done = (result) => { clearTimeout(timer); s.destroy(); resolve(result); };
  const timer = setTimeout(() => done('blocked'), ${BLOCKED_AFTER_MS});
  s.once('connect', () => done('open'));
  s.once('error', (err) => done(err.code));
}))).then((results) => console.log(JSON.stringify(results)));
`;

interface Target {
  what: string;
  from?: string;
  host: string;
  port: number;
}

/** The probe run in host 2's namespace (`where: 'host2'`) or in a container on host 1. */
async function probe(targets: Target[], where: 'host2' | 'container'): Promise<Record<string, string>> {
  const arg = JSON.stringify(targets.map(({ from, host, port }) => ({ from, host, port })));
  const out =
    where === 'host2'
      ? await hosts.h2.exec(process.execPath, ['-e', PROBE, arg])
      : await hosts.h1.docker([
          'run',
          '--rm',
          ...HOST_MOUNTS,
          'eid-otp25',
          process.execPath,
          '-e',
          PROBE,
          arg,
        ]);
  const results = JSON.parse(out) as string[];
  return Object.fromEntries(targets.map((t, i) => [t.what, results[i]!]));
}

/** Every connection that matters: host 2 in and outside the subnet, and a container on host 1. */
async function reachability(): Promise<Record<string, string>> {
  const h1 = hosts.h1.ip;
  const [fromHost2, fromContainer] = await Promise.all([
    probe(
      [
        { what: 'cluster -> 4369', from: hosts.h2.ip, host: h1, port: 4369 },
        { what: 'cluster -> published', from: hosts.h2.ip, host: h1, port: published },
        { what: 'outsider -> 4369', from: outsider, host: h1, port: 4369 },
        { what: 'outsider -> published', from: outsider, host: h1, port: published },
      ],
      'host2',
    ),
    probe(
      [
        { what: 'container -> 4369', host: h1, port: 4369 },
        { what: 'container -> published', host: h1, port: published },
      ],
      'container',
    ),
  ]);
  return { ...fromHost2, ...fromContainer };
}

/** Runs `script` with bash in `host`'s network namespace, /etc/ufw being this file's copy. */
async function withUfw(host: Host, script: string): Promise<void> {
  await run('unshare', [
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    'mount --bind "$1" /etc/ufw && exec nsenter --net="/run/netns/$2" bash -euo pipefail -c "$3"',
    'sh',
    ufwEtc,
    host.netns,
    script,
  ]);
}

before(
  async () => {
    work = await mkdtemp(join(tmpdir(), 'eid-firewall-'));
    ufwEtc = join(work, 'ufw');
    // The machine's ufw configuration as installed: the operator's starting point.
    await cp('/etc/ufw', ufwEtc, { recursive: true });
    hosts = await upHosts(17);
    const { h1, h2 } = hosts;
    await h1.startDaemon();
    const node = await h1.startNode({ cookie: COOKIE });
    published = Number(/:(\d+)$/m.exec(await h1.docker(['port', node.id, `${NODE_PORT}/tcp`]))![1]);
    // Both hosts are in 10.213.N.0/25; host 2's second address .200 is on the link but outside.
    const prefix = h1.ip.replace(/\.\d+$/, '');
    subnet = `${prefix}.0/25`;
    outsider = `${prefix}.200`;
    await h2.exec('ip', ['addr', 'add', `${outsider}/24`, 'dev', await interfaceOf(h2)]);
  },
  { timeout: 600_000 },
);

after(async () => {
  await hosts?.down();
  await rm(work, { recursive: true, force: true });
});

/** The interface that holds `host`'s address in its namespace. */
async function interfaceOf(host: Host): Promise<string> {
  const line = await host.exec('ip', ['-o', '-4', 'addr', 'show', 'to', host.ip]);
  const name = /^\d+:\s+([^\s@]+)/.exec(line)?.[1];
  assert.ok(name, line);
  return name;
}

/** Each connection, and whether it connects: with no firewall, with ufw alone, with the documented rules. */
const EXPECTED: [connection: string, none: string, ufwAlone: string, documented: string][] = [
  ['cluster -> 4369', 'open', 'blocked', 'open'],
  ['cluster -> published', 'open', 'open', 'open'],
  ['outsider -> 4369', 'open', 'blocked', 'blocked'],
  // What the section warns of: Docker's published ports bypass ufw.
  ['outsider -> published', 'open', 'open', 'blocked'],
  ['container -> 4369', 'open', 'blocked', 'open'],
  // Docker's userland proxy answers a container on the host's own address through INPUT.
  ['container -> published', 'open', 'blocked', 'open'],
];

/** Column `stage` (1 to 3) of EXPECTED. */
const expected = (stage: 1 | 2 | 3) => Object.fromEntries(EXPECTED.map((row) => [row[0], row[stage]]));

test(
  "deploying.md's firewall: ufw alone leaves published ports open; with the DOCKER-USER rule and the ufw rules, only the cluster and the host's containers get in",
  { timeout: 300_000 },
  async () => {
    assert.deepEqual(await reachability(), expected(1), 'no firewall yet: everything connects');

    // The operator's ufw, active with its defaults, before the documented rules.
    await withUfw(hosts.h1, 'ufw --force enable');
    assert.deepEqual(await reachability(), expected(2), 'ufw alone');

    const iface = await interfaceOf(hosts.h1);
    const rules = doc.block('## 3. Firewall', 'sh');
    const bridges = doc.blockAfter('allow them from the Docker bridge', 'sh');
    assert.ok(rules.includes(`-i ${DOC_INTERFACE} `) && rules.includes(DOC_SUBNET), rules);
    for (const block of [rules, bridges]) {
      await withUfw(
        hosts.h1,
        block.replaceAll(`-i ${DOC_INTERFACE} `, `-i ${iface} `).replaceAll(DOC_SUBNET, subnet),
      );
    }
    assert.deepEqual(await reachability(), expected(3), 'the documented rules');
  },
);
