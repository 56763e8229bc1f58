/**
 * The catalog's hardening against a real dockerd (test host set 9): names one container cannot take
 * from another, local registrations against container names, bindings on one address, skipped
 * containers reported, and a catalog that stays current through failed inspects, lost events and a
 * mass start. Lookups are made by stock Erlang (erl_epmd) inside the host's namespace. Needs root.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DockerCatalog } from '../../src/docker/catalog.ts';
import { CatalogSource } from '../../src/daemon/catalog-source.ts';
import {
  HOST_MOUNTS,
  evalOnHost,
  upHosts,
  type DaemonProcess,
  type Host,
  type TestHosts,
} from '../harness/hosts.ts';

const SET = 9;
const COOKIE = 'eidcataloglive';
const METRICS = '127.0.0.1:9100';

let hosts: TestHosts;
let host: Host;
let daemon: DaemonProcess;

before(async () => {
  hosts = await upHosts(SET);
  host = hosts.h1;
  daemon = await host.startDaemon(['--metrics', METRICS, '--resync-interval', '2']);
});

after(async () => {
  await hosts?.down();
});

/** A container that publishes `publish` (docker -p values) and just sleeps. */
async function sleeper(args: string[], publish: string[] = ['12345']): Promise<string> {
  const ports = publish.flatMap((p) => ['-p', p]);
  return host.docker(['run', '-d', ...ports, ...HOST_MOUNTS, ...args, 'eid-otp25', 'sleep', '3600']);
}

const publishedPort = async (id: string) =>
  Number((await host.docker(['port', id, '12345/tcp'])).split('\n')[0]!.split(':').pop());

/** What this host's daemon answers stock Erlang for each name (port or noport), asked on the host IP. */
async function portsOf(names: string[]): Promise<Map<string, number | 'noport'>> {
  const ip = host.ip.split('.').join(',');
  const out = await evalOnHost(
    host,
    COOKIE,
    `lists:foreach(fun(N) -> case erl_epmd:port_please(N, {${ip}}) of {port, P, _} -> io:format("~s ~p~n", [N, P]); _ -> io:format("~s noport~n", [N]) end end, [${names.map((n) => `"${n}"`).join(', ')}])`,
  );
  return new Map(
    out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const [name, port] = l.split(' ') as [string, string];
        return [name, port === 'noport' ? 'noport' : Number(port)];
      }),
  );
}

async function metrics(): Promise<string> {
  return host.exec('curl', ['-sf', `http://${METRICS}/metrics`]);
}

async function metric(line: string): Promise<number> {
  const found = (await metrics()).split('\n').find((l) => l.startsWith(`${line} `));
  assert.ok(found !== undefined, `no ${line}`);
  return Number(found.split(' ').pop());
}

/** Polls `check` every 250 ms for up to `seconds` (a liveness bound, not a speed figure). */
async function eventually(
  check: () => Promise<boolean> | boolean,
  what: string,
  seconds = 60,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(250);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const warningsAbout = (text: string) =>
  daemon
    .log()
    .split('\n')
    .filter((l) => l.includes(text));

test('item 11: a container named after another one’s ID, or with its ID as hostname and eid.name, does not take its lookups', async () => {
  const victim = await sleeper(['--name', 'victim']);
  const short = victim.slice(0, 12);
  const byName = await sleeper(['--name', short]);
  const byHostname = await sleeper(['--hostname', short, '--label', `eid.name=${short}`]);
  const port = await publishedPort(victim);
  await eventually(async () => (await portsOf([short])).get(short) === port, 'the victim to resolve');
  const answers = await portsOf([short, victim.slice(0, 20), 'victim']);
  assert.equal(answers.get(short), port);
  assert.equal(answers.get(victim.slice(0, 20)), port);
  assert.equal(answers.get('victim'), port);
  // Each impostor is reported once, and counted.
  await eventually(
    async () => (await metric('eid_skipped_containers{reason="id_like_name"}')) === 2,
    'the metric',
  );
  for (const id of [byName, byHostname]) {
    assert.equal(warningsAbout(`id=${id.slice(0, 12)} reason=id_like_name`).length, 1, daemon.log());
  }
  await host.docker(['rm', '-f', victim, byName, byHostname]);
});

test('item 11: a name two containers answer to answers neither, with one warning each and a metric', async () => {
  const a = await sleeper(['--name', 'twin']);
  const b = await sleeper(['--hostname', 'twin']);
  await eventually(
    async () => (await metric('eid_skipped_containers{reason="ambiguous_name"}')) === 2,
    'the ambiguity to be counted',
  );
  const answers = await portsOf(['twin', a.slice(0, 12), b.slice(0, 12)]);
  assert.equal(answers.get('twin'), 'noport');
  assert.equal(answers.get(a.slice(0, 12)), await publishedPort(a));
  assert.equal(answers.get(b.slice(0, 12)), await publishedPort(b));
  assert.equal(warningsAbout('reason=ambiguous_name').length, 2);
  await host.docker(['rm', '-f', a, b]);
  await eventually(
    async () => (await metric('eid_skipped_containers{reason="ambiguous_name"}')) === 0,
    'the ambiguity to clear',
  );
});

test('item 12: a local node cannot register a container’s name; a container cannot take a local node’s name', async () => {
  const owner = await sleeper(['--name', 'owned']);
  await eventually(async () => (await portsOf(['owned'])).get('owned') !== 'noport', 'the container');
  const refused = await host
    .exec('erl', [
      '-noshell',
      '-start_epmd',
      'false',
      '-name',
      `owned@${host.ip}`,
      '-setcookie',
      COOKIE,
      '-eval',
      'halt().',
    ])
    .then(
      () => 'registered',
      (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
    );
  assert.match(refused, /seems to be in use by another Erlang node/);
  assert.equal((await portsOf(['owned'])).get('owned'), await publishedPort(owner));

  // The other order: the node is there first and keeps its name.
  const node = host.spawn('erl', [
    '-noshell',
    '-start_epmd',
    'false',
    '-name',
    `first@${host.ip}`,
    '-setcookie',
    COOKIE,
  ]);
  try {
    await eventually(() => /epmd: registered.*node=first/.test(daemon.log()), 'the node to register');
    const late = await sleeper(['--name', 'first']);
    await eventually(
      async () => (await metric('eid_skipped_containers{reason="name_taken"}')) === 1,
      'the container to be reported',
    );
    assert.equal(warningsAbout('reason=name_taken').length, 1);
    const answers = await portsOf(['first', late.slice(0, 12)]);
    assert.notEqual(answers.get('first'), await publishedPort(late));
    assert.notEqual(answers.get('first'), 'noport');
    assert.equal(answers.get(late.slice(0, 12)), await publishedPort(late));
    await host.docker(['rm', '-f', late]);
  } finally {
    node.kill('SIGKILL');
  }
  await host.docker(['rm', '-f', owner]);
});

test('item 14: a container published on the host address only is served there; loopback-only and unpublished ones are reported', async () => {
  const specific = await sleeper(['--name', 'specific'], [`${host.ip}::12345`]);
  const loopback = await sleeper(['--name', 'loopback'], ['127.0.0.1::12345']);
  const unpublished = await sleeper(['--name', 'unpublished', '--expose', '12345'], []);
  const port = await publishedPort(specific);
  await eventually(async () => (await portsOf(['specific'])).get('specific') === port, 'the container');
  await eventually(
    async () =>
      (await metric('eid_skipped_containers{reason="loopback_only"}')) === 1 &&
      (await metric('eid_skipped_containers{reason="no_node_port"}')) === 1,
    'the skipped containers to be counted',
  );
  assert.equal(warningsAbout(`id=${loopback.slice(0, 12)} reason=loopback_only`).length, 1);
  assert.equal(warningsAbout(`id=${unpublished.slice(0, 12)} reason=no_node_port`).length, 1);
  // Asked on the host IP, the loopback-only container is no answer: other hosts could not reach it.
  assert.equal((await portsOf(['loopback'])).get('loopback'), 'noport');
  await host.docker(['rm', '-f', specific, loopback, unpublished]);
});

test('item 13: 50 containers started at once are all resolvable', { timeout: 600_000 }, async () => {
  const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => sleeper(['--name', `mass${i}`])));
  const names = ids.map((_, i) => `mass${i}`);
  const ports = new Map<string, number>(
    await Promise.all(
      ids.map(async (id, i): Promise<[string, number]> => [`mass${i}`, await publishedPort(id)]),
    ),
  );
  await eventually(
    async () => {
      const answers = await portsOf(names);
      return names.every((n) => answers.get(n) === ports.get(n));
    },
    'all 50 to resolve',
    240,
  );
  await host.docker(['rm', '-f', ...ids], 300_000);
});

test('/healthz says ok, and the sync age is reported', async () => {
  // With --resync-interval 2 the catalog counts as stale after 6 s without a completed sync; a
  // sync that began while the 50 containers above existed inspects all of them, which a loaded
  // dockerd can stretch past that. Docker is up: healthz must come to say ok.
  let health = '';
  await eventually(
    async () => (health = (await host.exec('curl', ['-sf', `http://${METRICS}/healthz`])).trim()) === 'ok',
    '/healthz to say ok',
  ).catch(() => assert.equal(health, 'ok'));
  assert.ok((await metric('eid_catalog_sync_age_seconds')) <= 10);
});

// Faults dockerd does not make on its own, injected by a proxy in front of its socket -------------

interface FaultyDocker {
  endpoint: string;
  /** Inspect replies for this container fail with 500 while it returns true. */
  failInspect: (id: string) => boolean;
  /** Event stream data is swallowed (headers pass): a stream that stalls. */
  stallEvents: boolean;
  close(): Promise<void>;
}

async function faultyDocker(socketPath: string): Promise<FaultyDocker> {
  const dir = mkdtempSync(join(tmpdir(), 'eid-faulty-docker-'));
  const proxySocket = join(dir, 'docker.sock');
  const faults: FaultyDocker = {
    endpoint: `unix://${proxySocket}`,
    failInspect: () => false,
    stallEvents: false,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const server = http.createServer((req, res) => {
    const path = req.url ?? '';
    const inspected = /^\/v[\d.]+\/containers\/([0-9a-f]{64})\/json/.exec(path)?.[1];
    if (inspected !== undefined && faults.failInspect(inspected)) {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"message":"injected fault"}');
      return;
    }
    const upstream = http.request({ socketPath, path, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (!path.includes('/events')) return void up.pipe(res);
      // The stream stays open; while stalled, what dockerd sends is dropped.
      res.flushHeaders();
      up.on('data', (chunk: Buffer) => {
        if (!faults.stallEvents) res.write(chunk);
      });
      up.on('end', () => res.end());
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(proxySocket, resolve));
  return faults;
}

test(
  'item 13: failed inspects are retried, a container whose inspect keeps failing is skipped and counted, lost events are caught by the resync',
  { timeout: 300_000 },
  async () => {
    const broken = await sleeper(['--name', 'broken']);
    const docker = await faultyDocker(host.socket);
    const attempts = new Map<string, number>();
    // Every container's first two inspects fail; `broken`'s always do.
    docker.failInspect = (id) => {
      attempts.set(id, (attempts.get(id) ?? 0) + 1);
      return id === broken || attempts.get(id)! <= 2;
    };
    const catalog = new DockerCatalog({
      endpoint: docker.endpoint,
      minBackoffMs: 50,
      maxBackoffMs: 200,
      resyncIntervalMs: 1_000,
    });
    const source = new CatalogSource(catalog);
    try {
      const synced = catalog.synced();
      catalog.start();
      // The first sync completes although one container cannot be inspected.
      await synced;
      assert.ok(catalog.stats().inspectFailures >= 1);
      assert.equal(source.lookup('broken'), undefined);

      const fresh = await sleeper(['--name', 'fresh']);
      const port = await publishedPort(fresh);
      await eventually(() => source.lookup('fresh')?.port === port, 'the retried inspect');
      assert.ok(attempts.get(fresh)! >= 3, `${attempts.get(fresh)} inspects`);

      // Events stop arriving; the periodic resync still brings a new container in.
      docker.stallEvents = true;
      const unseen = await sleeper(['--name', 'unseen']);
      const unseenPort = await publishedPort(unseen);
      await eventually(() => source.lookup('unseen')?.port === unseenPort, 'the resync');
      await host.docker(['rm', '-f', broken, fresh, unseen]);
    } finally {
      await catalog.stop();
      await docker.close();
    }
  },
);
