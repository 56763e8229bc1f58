/**
 * The TS node over TLS distribution against OTP 27 (host 1, the TS node's own host) and OTP 29
 * (host 2) in containers on the two test hosts, by `ContainerID@HostIP` names through `eid
 * daemon`: one CA, one certificate per host shared by its containers (scripts/dist-certs.sh).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { certPaths, erlTlsArgs, makeCerts, writeOptfile } from './tls-helpers.ts';
import { NODE_PORT, upHosts, type Host, type NodeContainer, type TestHosts } from '../harness/hosts.ts';

const COOKIE = 'eidtlscontainers';
const SET = 14;
const probe = fileURLToPath(new URL('./tls-probe.ts', import.meta.url));

let hosts: TestHosts;
let dir: string;
let otp27: NodeContainer;
let otp29: NodeContainer;

/** A stock node with TLS distribution in a container of `host`; its host's certificate mounted at /certs. */
async function startTlsNode(host: Host, image: string): Promise<NodeContainer> {
  const optfile = join(dir, `${host.ip}.conf`);
  const inside = (p: string) => p.replace(dir, '/certs');
  const paths = certPaths(dir, host.ip);
  writeOptfile(optfile, { ca: inside(paths.ca), cert: inside(paths.cert), key: inside(paths.key) });
  const dist = `-kernel inet_dist_listen_min ${NODE_PORT} inet_dist_listen_max ${NODE_PORT}`;
  const tls = erlTlsArgs(inside(optfile)).join(' ');
  const id = await host.docker([
    'run',
    '-d',
    '-e',
    `HOST_IP=${host.ip}`,
    '-p',
    String(NODE_PORT),
    '-v',
    `${dir}:/certs:ro`,
    image,
    'sh',
    '-c',
    `exec erl -noshell -name "$(hostname)@$HOST_IP" -setcookie ${COOKIE} ${dist} ${tls}`,
  ]);
  const hostname = await host.docker(['inspect', '-f', '{{.Config.Hostname}}', id]);
  const container: NodeContainer = { id, hostname, node: `${hostname}@${host.ip}`, host };
  await host.waitForNode(container);
  return container;
}

before(
  async () => {
    hosts = await upHosts(SET);
    await Promise.all([hosts.h1.image('otp27'), hosts.h2.image('otp29')]);
    dir = makeCerts([hosts.h1.ip, hosts.h2.ip]);
    await Promise.all([hosts.h1.startDaemon(), hosts.h2.startDaemon()]);
    [otp27, otp29] = await Promise.all([
      startTlsNode(hosts.h1, 'eid-otp27'),
      startTlsNode(hosts.h2, 'eid-otp29'),
    ]);
  },
  { timeout: 1_800_000 },
);

after(async () => {
  await hosts?.down();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

test(
  'TS over TLS to OTP 27 on its host and OTP 29 across hosts, both directions, 10 MB',
  { timeout: 300_000 },
  async () => {
    const config = {
      name: `tsprobe@${hosts.h1.ip}`,
      cookie: COOKIE,
      targets: [otp27.node, otp29.node],
      tls: certPaths(dir, hosts.h1.ip),
    };
    const output = await hosts.h1.exec(
      process.execPath,
      ['--import', 'tsx', probe, JSON.stringify(config)],
      240_000,
    );
    const result = JSON.parse(output.split('\n').at(-1) ?? '{}') as Record<string, Record<string, unknown>>;
    assert.equal(result.error, undefined, output);
    for (const [target, release] of [
      [otp27.node, '27'],
      [otp29.node, '29'],
    ] as const) {
      assert.deepEqual(
        result[target],
        { ping: true, release, big: true, dialledBack: true, bigOverTheirs: true },
        target,
      );
    }
  },
);
