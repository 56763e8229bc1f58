/**
 * From a checkout to a fleet, as an operator goes (docs/deploying.md), on two test hosts:
 *   1. `npm pack` gives one file that installs with `npm install -g --offline` and an empty cache,
 *      and its `eid daemon` answers for a container;
 *   2. the Dockerfile builds the daemon image from that file alone, FROM a local Node base; run
 *      non-root with --net=host, the socket read-only and its group added, it is healthy and
 *      answers for a container;
 *   3. examples/compose/ at scale 3 on each host: NAMES lists the three nodes, and the six connect
 *      with net_adm:world() and a .hosts.erlang naming the two hosts.
 * One host set and one tarball serve all three (the pack and the image builds are the slow parts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { buildDaemonImage, packProject } from '../harness/daemon-image.ts';
import { NODE_PORT, ROOT, upHosts, type Host, type NodeContainer, type TestHosts } from '../harness/hosts.ts';
import { eidBin, waitFor } from '../support/processes.ts';

const run = promisify(execFile);
const COOKIE = 'eid_package_test';
const COMPOSE_FILE = join(ROOT, 'examples/compose/docker-compose.yml');
let hosts: TestHosts;
let work: string;
let tarball: string;
let prefix: string;

/** PATH with this test's node first: the installed `eid` starts with `#!/usr/bin/env node`. */
const PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;

before(
  async () => {
    work = await mkdtemp(join(tmpdir(), 'eid-package-'));
    prefix = join(work, 'prefix');
    const started = Date.now();
    const phase = (what: string) =>
      process.stderr.write(`# ${what}: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    const [up, packed] = await Promise.allSettled([
      upHosts(16).finally(() => phase('hosts up')),
      packProject(work).finally(() => phase('packed')),
    ]);
    if (up.status === 'fulfilled') hosts = up.value;
    if (up.status === 'rejected') throw up.reason;
    if (packed.status === 'rejected') throw packed.reason;
    tarball = packed.value;
    const buildOn = async (host: Host) => {
      await host.image('node');
      await buildDaemonImage(host, tarball);
    };
    // What a machine that never saw the repository does with the one file: no registry, no cache.
    const install = run(
      'npm',
      [
        'install',
        '-g',
        '--offline',
        '--no-audit',
        '--no-fund',
        '--prefix',
        prefix,
        '--cache',
        join(work, 'empty-cache'),
        tarball,
      ],
      { timeout: 600_000, maxBuffer: 1 << 24 },
    );
    await Promise.all([
      buildOn(hosts.h1).finally(() => phase('image on host 1')),
      buildOn(hosts.h2).finally(() => phase('image on host 2')),
      install.finally(() => phase('installed')),
    ]);
  },
  { timeout: 900_000 },
);

after(async () => {
  await hosts?.down();
  await rm(work, { recursive: true, force: true });
});

/** The node port `container` published on its host. */
async function publishedPort(container: NodeContainer): Promise<number> {
  const published = await container.host.docker(['port', container.id, `${NODE_PORT}/tcp`]);
  return Number(/:(\d+)$/m.exec(published)![1]);
}

/** `eid resolve NODE` (the checkout's build) run on `host`, as a node there would ask: the node's port. */
async function resolve(host: Host, node: string): Promise<number> {
  return Number(await host.exec(process.execPath, [eidBin, 'resolve', node], 30_000));
}

let node: NodeContainer;

test('the packed tarball installs offline into an empty prefix; its eid daemon answers for a container', async () => {
  const eid = join(prefix, 'bin/eid');
  const env = { ...process.env, PATH };
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal((await run(eid, ['--version'], { env })).stdout, `${pkg.version}\n`);
  const daemon = await hosts.h1.adopt(
    hosts.h1.spawn(eid, ['daemon', '--docker', hosts.h1.endpoint, '--log-format', 'json'], { PATH }),
    /Docker catalog synced/,
  );
  try {
    node = await hosts.h1.startNode({ cookie: COOKIE });
    assert.equal(await resolve(hosts.h1, node.node), await publishedPort(node));
  } finally {
    await daemon.stop();
  }
});

test('the daemon image runs non-root with the socket group, is healthy, and answers for a container', async () => {
  const h1 = hosts.h1;
  const gid = (await run('stat', ['-c', '%g', h1.socket])).stdout.trim();
  // deploying.md's `docker run` line as written, on this host's socket, checked every second.
  const args = dockerRunLine()
    .replace('"$(stat -c %g /var/run/docker.sock)"', gid)
    .replace('-v /var/run/docker.sock:', `-v ${h1.socket}:`)
    .replace(/ eid-daemon$/, ' --health-interval 1s eid-daemon')
    .split(' ')
    .slice(1);
  assert.deepEqual(args.slice(0, 4), ['run', '-d', '--name', 'eid']);
  const id = await h1.docker(args);
  try {
    await waitFor(
      async () => /Docker catalog synced/.test(await h1.logs(id)),
      'the daemon container to sync',
      60_000,
    );
    await waitFor(
      async () => (await h1.docker(['inspect', '-f', '{{.State.Health.Status}}', id])) === 'healthy',
      'the container to be healthy',
      60_000,
    );
    const uid = await h1.docker(['exec', id, 'node', '-e', 'process.stdout.write(String(process.getuid()))']);
    assert.equal(uid, '4369');
    assert.equal(await resolve(hosts.h1, node.node), await publishedPort(node));
    const metrics = await h1.exec('curl', ['-sf', 'http://127.0.0.1:9369/metrics']);
    assert.match(metrics, /^eid_epmd_lookups_total\{outcome="container"\} [1-9]/m);
  } finally {
    await h1.docker(['rm', '-f', id]);
  }
});

/** The `docker run` line of docs/deploying.md's daemon image section, continuation lines joined. */
function dockerRunLine(): string {
  const doc = readFileSync(join(ROOT, 'docs/deploying.md'), 'utf8');
  const m = /^docker run -d --name eid (?:.*\\\n)*.*$/m.exec(doc);
  assert.ok(m !== null, 'no docker run line for the daemon in deploying.md');
  return m[0].replace(/\s*\\\n\s*/g, ' ').trim();
}

/** The install commands of a Markdown file: the lines that pack and that install the tarball. */
function installCommands(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^npm (?:ci && npm pack|install -g --offline) .*$/gm)].map((m) => m[0]);
}

test('README and deploying.md give the same install commands, the ones this file runs', () => {
  const readme = installCommands('README.md');
  assert.equal(readme.length, 2, readme.join('\n'));
  assert.deepEqual(installCommands('docs/deploying.md'), readme);
  assert.match(readme[1]!, /^npm install -g --offline \.\/erlang-in-docker-[\d.]+\.tgz /);
});

/** docker-compose (v1, Debian's package) against `host`, with the variables the example needs. */
async function compose(host: Host, args: string[], env: Record<string, string | undefined>) {
  return run('docker-compose', ['-p', 'eid', '-f', COMPOSE_FILE, ...args], {
    env: { ...process.env, DOCKER_HOST: host.endpoint, HOST_IP: undefined, ...env },
    cwd: ROOT,
    timeout: 300_000,
    maxBuffer: 1 << 24,
  });
}

test('examples/compose at scale 3 on both hosts: NAMES lists each node; the 6 connect with net_adm:world()', async () => {
  const missing = await compose(hosts.h1, ['config'], { COOKIE, DOCKER_GID: '0' }).then(
    () => undefined,
    (err: { stderr?: string }) => err.stderr ?? '',
  );
  assert.match(missing ?? 'config succeeded without HOST_IP', /set HOST_IP to this host's address/);
  // The earlier tests' node would be listed too: NAMES must show exactly the Compose app's nodes.
  if (node !== undefined) await hosts.h1.docker(['rm', '-f', node.id]);

  const hostsErlang = join(work, 'hosts.erlang');
  await writeFile(hostsErlang, `'${hosts.h1.ip}'.\n'${hosts.h2.ip}'.\n`);
  // The test image borrows the machine's OTP: the one addition to the example.
  const override = join(work, 'usr.yml');
  await writeFile(override, "version: '2.4'\nservices:\n  app:\n    volumes:\n      - /usr:/usr:ro\n");
  const nodes: NodeContainer[] = [];
  for (const host of [hosts.h1, hosts.h2]) {
    const env = {
      HOST_IP: host.ip,
      COOKIE,
      DOCKER_GID: (await run('stat', ['-c', '%g', host.socket])).stdout.trim(),
      DOCKER_SOCKET: host.socket,
      APP_IMAGE: 'eid-otp25',
      HOSTS_ERLANG: hostsErlang,
    };
    await compose(host, ['-f', override, 'up', '-d', '--scale', 'app=3'], env);
    const ids = (await host.docker(['ps', '-q', '--filter', 'label=com.docker.compose.service=app'])).split(
      '\n',
    );
    assert.equal(ids.length, 3);
    for (const id of ids) {
      const hostname = await host.docker(['inspect', '-f', '{{.Config.Hostname}}', id]);
      nodes.push({ id, hostname, node: `${hostname}@${host.ip}`, host });
    }
  }
  await Promise.all(nodes.map((n) => n.host.waitForNode(n)));
  // The daemon service may still be syncing: NAMES must come to list exactly this host's nodes.
  for (const host of [hosts.h1, hosts.h2]) {
    const expected = nodes
      .filter((n) => n.host === host)
      .map((n) => n.hostname)
      .sort();
    let listed: string[] = [];
    await waitFor(
      async () => {
        // Asked on the host, as its nodes ask (the root namespace does not reach its port 4369).
        const names = {
          stdout: await host.exec(process.execPath, [eidBin, 'names', host.ip], 30_000).catch(() => ''),
        };
        listed = [...names.stdout.matchAll(/^name (\S+) at port \d+$/gm)].map((m) => m[1]!).sort();
        return listed.join() === expected.join();
      },
      `NAMES on host ${host.index} to list ${expected.join(', ')}`,
      60_000,
    ).catch(() => assert.deepEqual(listed, expected));
  }
  // One node calls net_adm:world(); global then connects the rest to each other.
  const first = nodes[0]!;
  const all = nodes.map((n) => `'${n.node}'`).join(',');
  const world = await first.host.evalIn(
    first,
    COOKIE,
    `W = rpc:call('${first.node}', net_adm, world, []), io:format("~p", [length(W)])`,
  );
  assert.equal(world, '6');
  await waitFor(
    async () => {
      const out = await first.host.evalIn(
        first,
        COOKIE,
        `io:format("~p", [lists:usort([length(rpc:call(N, erlang, nodes, [])) || N <- [${all}]])])`,
      );
      return out === '[5]';
    },
    'every node connected to the 5 others',
    60_000,
  );
});
