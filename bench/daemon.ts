/**
 * Daemon bench, on the two test hosts (scripts/hosts.sh, set 3 or EID_BENCH_SET; needs root; run it under
 * `flock /tmp/eid-docker.lock`):
 *   (a) PORT_PLEASE2 for container names at `eid daemon` vs for a registered name at stock epmd,
 *       same load generator (the project's EPMD client, one connection per lookup as erl_epmd
 *       does), with the C accept loop of bench:epmd as the limit;
 *   (b) the original design's Docker inspect per lookup vs the in-memory catalog;
 *   (c) time to a first successful ping across the two hosts: containers through eid vs two stock
 *       nodes on plain epmd.
 * Every comparison runs in alternating rounds (bench/harness.ts).
 *
 *   npm run bench:daemon [-- --quick --rounds N --seconds 2 --containers 20 --concurrency 8 --json PATH]
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { DockerCatalog } from '../src/docker/catalog.ts';
import { entryFromInspect } from '../src/docker/inspect.ts';
import { CatalogSource } from '../src/daemon/catalog-source.ts';
import { connectDocker } from '../src/docker/client.ts';
import { epmdPortPlease, epmdRegister } from '../src/epmd/client.ts';
import { HOST_MOUNTS, eidFromSource, upHosts, type TestHosts } from '../test/harness/hosts.ts';
import { alternate, BenchRun, parseBenchArgs, peakRss } from './harness.ts';
import { load, rawLookup, Servers, startAcceptLoop, waitForEpmd } from './lib.ts';

/** This area's root-namespace bench ports (44000-44999). */
const PORTS = { eid: 44401, stock: 44402, registeredNode: 44403, limit: 44404 } as const;
const COOKIE = 'eidbench';

const { common, values } = parseBenchArgs({
  seconds: { type: 'string' },
  containers: { type: 'string' },
  concurrency: { type: 'string' },
});
const seconds = Number(values.seconds ?? (common.quick ? 0.2 : 2));
const containerCount = Number(values.containers ?? (common.quick ? 2 : 20));
const concurrency = Number(values.concurrency ?? 8);

/** Runs a command to completion and resolves with its stdout (rejects on a non-zero exit). */
function output(child: ChildProcess): Promise<string> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}${out}`)),
    ),
  );
}

/** Erlang that pings `target` until pong and prints the milliseconds since the node was up. */
const pingUntilPong = (target: string) =>
  `T0 = erlang:monotonic_time(millisecond), ` +
  `Loop = fun L() -> case net_adm:ping('${target}') of pong -> ok; pang -> timer:sleep(20), L() end end, ` +
  `Loop(), io:format("~p~n", [erlang:monotonic_time(millisecond) - T0]), halt().`;

async function lookups(run: BenchRun, hosts: TestHosts, servers: Servers, hostnames: string[]) {
  const { h1 } = hosts;
  // (a) Our daemon in this namespace, reading host 1's Docker; stock epmd beside it.
  const daemon = servers.start(process.execPath, [
    ...eidFromSource(),
    ...['daemon', '--port', String(PORTS.eid), '--address', '127.0.0.1'],
    ...['--docker', h1.endpoint, '--log-level', 'warn'],
  ]);
  const epmd = servers.start('epmd', ['-port', String(PORTS.stock), '-address', '127.0.0.1'], 'ignore');
  await servers.until(Promise.all([waitForEpmd(PORTS.eid), waitForEpmd(PORTS.stock)]));
  const knows = (name: string) =>
    epmdPortPlease(name, '127.0.0.1', { epmdPort: PORTS.eid }).then(
      () => true,
      () => false,
    );
  for (let i = 0; i < 100 && !(await knows(hostnames[0]!)); i++) await sleep(100);
  const registrations = await Promise.all(
    [PORTS.stock, PORTS.eid].map((epmdPort) => epmdRegister('benchnode', PORTS.registeredNode, { epmdPort })),
  );
  await startAcceptLoop(servers, PORTS.limit, await rawLookup(PORTS.stock, 'benchnode'));
  const registeredAt = (epmdPort: number) => () => epmdPortPlease('benchnode', '127.0.0.1', { epmdPort });
  const containerAtEid = (i: number) =>
    epmdPortPlease(hostnames[i % hostnames.length]!, '127.0.0.1', { epmdPort: PORTS.eid });
  const side = (op: (i: number) => Promise<unknown>) => () => load(op, concurrency, seconds);
  const a = await alternate(
    {
      containers: side(containerAtEid),
      stock: side(registeredAt(PORTS.stock)),
      registered: side(registeredAt(PORTS.eid)),
      limit: side(registeredAt(PORTS.limit)),
    },
    common.rounds,
  );
  const limit = { limitName: 'C accept-read-write-close loop', limit: a.limit };
  const name = `container lookups/s at concurrency ${concurrency}`;
  const vsStock = { eid: a.containers, anchorName: 'stock epmd, registered name', anchor: a.stock, ...limit };
  run.add({ id: 'daemon.rate', name, unit: 'lookups/s', better: 'higher', measure: 'rate', ...vsStock });
  run.add({
    id: 'daemon.p99',
    name: 'container lookups, p99',
    unit: 'ms',
    better: 'lower',
    measure: 'p99',
    ...vsStock,
  });
  run.add({
    id: 'daemon.rate-vs-registered',
    name: `${name}, vs registered names`,
    unit: 'lookups/s',
    better: 'higher',
    measure: 'rate',
    eid: a.containers,
    anchorName: 'eid daemon, registered name',
    anchor: a.registered,
    ...limit,
  });
  run.memory = {
    eid: peakRss(daemon.pid),
    anchorName: 'stock epmd',
    anchor: peakRss(epmd.pid),
    note: `eid daemon watching ${hostnames.length} containers`,
  };
  await Promise.all(registrations.map((r) => r.close()));
  servers.assertAlive();
  daemon.kill('SIGTERM');
}

async function catalogVsInspect(run: BenchRun, hosts: TestHosts, hostnames: string[]) {
  // (b) Resolving a name to a port: one Docker inspect per lookup vs the catalog in memory.
  const { docker } = await connectDocker(hosts.h1.endpoint);
  const inspectLookup = async (i: number) => {
    const info = await docker.getContainer(hostnames[i % hostnames.length]!).inspect();
    if (entryFromInspect(info, 12345, []) === undefined) throw new Error('not published');
  };
  const catalog = new DockerCatalog({ endpoint: hosts.h1.endpoint });
  const synced = catalog.synced();
  catalog.start();
  await synced;
  // As the daemon's EPMD server asks it: through the NameSource adapter.
  const source = new CatalogSource(catalog);
  const catalogLookup = (i: number) => {
    if (source.lookup(hostnames[i % hostnames.length]!) === undefined) throw new Error('miss');
    return Promise.resolve();
  };
  const b = await alternate(
    {
      catalog: () => load(catalogLookup, concurrency, seconds),
      inspect: () => load(inspectLookup, concurrency, seconds),
    },
    common.rounds,
  );
  await catalog.stop();
  run.add({
    id: 'daemon.catalog',
    name: 'name → published port, catalog',
    unit: 'lookups/s',
    better: 'higher',
    measure: 'rate',
    eid: b.catalog,
    anchorName: 'one Docker inspect per lookup',
    anchor: b.inspect,
  });
}

async function firstPing(run: BenchRun, hosts: TestHosts, servers: Servers) {
  // (c) eid: a container on host 1 pings a container on host 2, each host's daemon answering.
  // Stock: two nodes straight on the hosts, on stock epmd at port 4370 (4369 is the daemons').
  const { h1, h2 } = hosts;
  await Promise.all([h1.startDaemon(['--log-level', 'info']), h2.startDaemon(['--log-level', 'info'])]);
  const target = await h2.startNode({ cookie: COOKIE });
  const stockEnv = 'ERL_EPMD_PORT=4370';
  const stockTarget = h2.spawn('env', [
    stockEnv,
    'erl',
    '-noshell',
    '-name',
    `stock@${h2.ip}`,
    '-setcookie',
    COOKIE,
    '-eval',
    'io:format("up~n")',
  ]);
  servers.children.push(stockTarget);
  await new Promise<void>((resolve) =>
    stockTarget.stdout?.on('data', (c: Buffer) => c.toString().includes('up') && resolve()),
  );
  let pinger = 0;
  const c = await alternate(
    {
      eid: async () => ({
        ms: Number(
          await h1.docker(
            [
              ...[
                'run',
                '--rm',
                ...HOST_MOUNTS,
                '-e',
                `HOST_IP=${h1.ip}`,
                '-e',
                `PING=${pingUntilPong(target.node)}`,
              ],
              ...['-p', '12345', 'eid-otp25', 'sh', '-c'],
              `exec erl -noshell -name "$(hostname)@$HOST_IP" -setcookie ${COOKIE} -kernel inet_dist_listen_min 12345 inet_dist_listen_max 12345 -eval "$PING"`,
            ],
            60_000,
          ),
        ),
      }),
      stock: async () => ({
        ms: Number(
          await output(
            h1.spawn('env', [
              stockEnv,
              'erl',
              '-noshell',
              '-name',
              `pinger${pinger++}@${h1.ip}`,
              '-setcookie',
              COOKIE,
              '-eval',
              pingUntilPong(`stock@${h2.ip}`),
            ]),
          ),
        ),
      }),
    },
    common.rounds,
  );
  stockTarget.kill('SIGKILL');
  run.add({
    id: 'daemon.first-ping',
    name: 'first ping across two hosts, in the node',
    unit: 'ms',
    better: 'lower',
    measure: 'ms',
    eid: c.eid,
    anchorName: 'stock nodes on epmd',
    anchor: c.stock,
    note: 'first net_adm:ping until pong, measured in the pinging node',
  });
}

async function main(): Promise<void> {
  const servers = new Servers();
  let hosts: TestHosts | undefined;
  try {
    hosts = await upHosts(Number(process.env.EID_BENCH_SET ?? 3));
    const ids: string[] = [];
    for (let i = 0; i < containerCount; i++) {
      ids.push(
        await hosts.h1.docker(['run', '-d', '-p', '12345', ...HOST_MOUNTS, 'eid-otp25', 'sleep', '3600']),
      );
    }
    const hostnames = ids.map((id) => id.slice(0, 12));
    const run = new BenchRun(
      'daemon',
      `Daemon on two Docker hosts, ${containerCount} containers on host 1`,
      common,
    );
    await lookups(run, hosts, servers, hostnames);
    await catalogVsInspect(run, hosts, hostnames);
    await firstPing(run, hosts, servers);
    run.finish();
  } finally {
    servers.killAll();
    await hosts?.down();
  }
}

await main();
