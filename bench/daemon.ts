/**
 * Daemon bench, on the two test hosts (scripts/hosts.sh, set 3; needs root):
 *   (a) PORT_PLEASE2 for container names at `eid daemon` vs for a registered name at stock epmd,
 *       same load generator (the project's EPMD client, one connection per lookup as erl_epmd does);
 *   (b) the original design's Docker inspect per lookup vs the in-memory catalog;
 *   (c) time to a first successful ping across the two hosts: containers through eid vs two stock
 *       nodes on plain epmd.
 *
 *   npm run bench:daemon [-- --seconds 3 --containers 20 --concurrency 8 --pings 5]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DockerCatalog } from '../src/docker/catalog.ts';
import { entryFromInspect } from '../src/docker/inspect.ts';
import { CatalogSource } from '../src/daemon/catalog-source.ts';
import { connectDocker } from '../src/docker/client.ts';
import { portPlease, register } from '../src/epmd/client.ts';
import { HOST_MOUNTS, eidFromSource, upHosts, type TestHosts } from '../test/harness/hosts.ts';
import { percentile, waitForEpmd } from './lib.ts';

/** This area's root-namespace bench ports (44000-44999). */
const PORTS = { eid: 44401, stock: 44402, registeredNode: 44403 } as const;
const COOKIE = 'eidbench';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    containers: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '8' },
    pings: { type: 'string', default: '5' },
  },
});
const seconds = Number(values.seconds);
const containerCount = Number(values.containers);
const concurrency = Number(values.concurrency);
const pings = Number(values.pings);

interface Rate {
  ops: number;
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

/** The load generator: `concurrency` workers calling `op` back to back for `secs` seconds. */
async function load(op: (i: number) => Promise<unknown>, secs: number): Promise<Rate> {
  const latencies: number[] = [];
  let errors = 0;
  let i = 0;
  const start = performance.now();
  const deadline = start + secs * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      try {
        await op(i++);
        latencies.push(performance.now() - t);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  latencies.sort((a, b) => a - b);
  return {
    ops: latencies.length,
    perSecond: latencies.length / ((performance.now() - start) / 1000),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    errors,
  };
}

const row = (label: string, r: Rate) =>
  `  ${label.padEnd(44)}${r.perSecond.toFixed(0).padStart(9)}/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  errors ${r.errors}\n`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

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

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  process.once('exit', () => children.forEach((c) => c.kill('SIGKILL')));
  let hosts: TestHosts | undefined;
  try {
    hosts = await upHosts(3);
    const { h1, h2 } = hosts;
    process.stdout.write(`two Docker hosts up: ${h1.ip}, ${h2.ip}; ${containerCount} containers on host 1\n`);
    const ids: string[] = [];
    for (let i = 0; i < containerCount; i++) {
      ids.push(await h1.docker(['run', '-d', '-p', '12345', ...HOST_MOUNTS, 'eid-otp25', 'sleep', '3600']));
    }
    const hostnames = ids.map((id) => id.slice(0, 12));

    // (a) Our daemon in this namespace, reading host 1's Docker; stock epmd beside it.
    const daemon = spawn(
      process.execPath,
      [
        ...eidFromSource(),
        'daemon',
        '--port',
        String(PORTS.eid),
        '--address',
        '127.0.0.1',
        '--docker',
        h1.endpoint,
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    const epmd = spawn('epmd', ['-port', String(PORTS.stock), '-address', '127.0.0.1'], { stdio: 'ignore' });
    children.push(daemon, epmd);
    await Promise.all([waitForEpmd(PORTS.eid), waitForEpmd(PORTS.stock)]);
    for (
      let i = 0;
      i < 100 &&
      (await portPlease(hostnames[0]!, '127.0.0.1', { epmdPort: PORTS.eid }).then(
        () => false,
        () => true,
      ));
      i++
    )
      await sleep(100);
    const registrations = await Promise.all(
      [PORTS.stock, PORTS.eid].map((epmdPort) => register('benchnode', PORTS.registeredNode, { epmdPort })),
    );
    const containerLookup = (i: number) =>
      portPlease(hostnames[i % hostnames.length]!, '127.0.0.1', { epmdPort: PORTS.eid });
    const registeredLookup = () => portPlease('benchnode', '127.0.0.1', { epmdPort: PORTS.stock });
    const registeredAtEid = () => portPlease('benchnode', '127.0.0.1', { epmdPort: PORTS.eid });
    await load(containerLookup, 0.3);
    await load(registeredLookup, 0.3);
    const ours: Rate[] = [];
    const stock: Rate[] = [];
    const oursRegistered: Rate[] = [];
    const targets: [Rate[], (i: number) => Promise<unknown>][] = [
      [ours, containerLookup],
      [stock, registeredLookup],
      [oursRegistered, registeredAtEid],
    ];
    // Forward then backward, so no target always runs first (or right after the same other one).
    for (const [results, op] of [...targets, ...[...targets].reverse()])
      results.push(await load(op, seconds));
    const best = (rs: Rate[]) => rs.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
    const a1 = best(ours);
    const a2 = best(stock);
    const a3 = best(oursRegistered);
    process.stdout.write(
      `\n(a) PORT_PLEASE2, one connection per lookup, concurrency ${concurrency}, best of 2 x ${seconds}s, order A B C C B A\n` +
        row('eid daemon, container names (catalog)', a1) +
        row('stock epmd, a registered name', a2) +
        row('eid daemon, a registered name', a3) +
        `  ratio eid containers / stock epmd registered: ${(a1.perSecond / a2.perSecond).toFixed(2)}x lookups/s, ` +
        `${(a1.p50 / a2.p50).toFixed(2)}x p50 latency\n` +
        `  ratio eid containers / eid registered:        ${(a1.perSecond / a3.perSecond).toFixed(2)}x lookups/s, ` +
        `${(a1.p50 / a3.p50).toFixed(2)}x p50 latency\n`,
    );
    await Promise.all(registrations.map((r) => r.close()));

    // (b) Resolving a name to a port: one Docker inspect per lookup vs the catalog in memory.
    const { docker } = await connectDocker(h1.endpoint);
    const inspectLookup = async (i: number) => {
      const info = await docker.getContainer(hostnames[i % hostnames.length]!).inspect();
      const entry = entryFromInspect(info, 12345, []);
      if (entry === undefined) throw new Error('not published');
      return entry.hostPort;
    };
    const catalog = new DockerCatalog({ endpoint: h1.endpoint });
    const synced = catalog.synced();
    catalog.start();
    await synced;
    // As the daemon's EPMD server asks it: through the NameSource adapter.
    const source = new CatalogSource(catalog);
    const catalogLookup = (i: number) => {
      if (source.lookup(hostnames[i % hostnames.length]!) === undefined) throw new Error('miss');
      return Promise.resolve();
    };
    await load(inspectLookup, 0.3);
    const b1 = await load(inspectLookup, seconds);
    const b2 = await load(catalogLookup, Math.min(seconds, 1));
    await catalog.stop();
    process.stdout.write(
      `\n(b) name -> published port, concurrency ${concurrency}\n` +
        row('one Docker inspect per lookup (original design)', b1) +
        row('in-memory catalog (eid)', b2) +
        `  ratio catalog/inspect: ${(b2.perSecond / b1.perSecond).toFixed(0)}x lookups/s; ` +
        `an EPMD lookup with inspect would add ~${b1.p50.toFixed(2)} ms to the ${a1.p50.toFixed(3)} ms it takes now\n`,
    );

    // (c) First ping across the hosts. eid: a container on host 1 pings a container on host 2,
    // each host's daemon answering. Stock: two nodes straight on the hosts, each with stock epmd.
    daemon.kill('SIGTERM');
    const daemons = [
      await h1.startDaemon(['--log-level', 'info']),
      await h2.startDaemon(['--log-level', 'info']),
    ];
    const target = await h2.startNode({ cookie: COOKIE });
    const eidTimes: number[] = [];
    const eidWall: number[] = [];
    for (let i = 0; i < pings; i++) {
      const t = performance.now();
      const out = await h1.docker(
        [
          'run',
          '--rm',
          ...HOST_MOUNTS,
          '-e',
          `HOST_IP=${h1.ip}`,
          '-e',
          `PING=${pingUntilPong(target.node)}`,
          '-p',
          '12345',
          'eid-otp25',
          'sh',
          '-c',
          `exec erl -noshell -name "$(hostname)@$HOST_IP" -setcookie ${COOKIE} -kernel inet_dist_listen_min 12345 inet_dist_listen_max 12345 -eval "$PING"`,
        ],
        60_000,
      );
      eidWall.push(performance.now() - t);
      eidTimes.push(Number(out));
    }
    await Promise.all(daemons.map((d) => d.stop()));

    // Stock: epmd on another port in each host's namespace (4369 was the daemons'), started by erl itself.
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
    children.push(stockTarget);
    await new Promise<void>((resolve) =>
      stockTarget.stdout?.on('data', (c: Buffer) => c.toString().includes('up') && resolve()),
    );
    const stockTimes: number[] = [];
    const stockWall: number[] = [];
    for (let i = 0; i < pings; i++) {
      const t = performance.now();
      const out = await output(
        h1.spawn('env', [
          stockEnv,
          'erl',
          '-noshell',
          '-name',
          `pinger${i}@${h1.ip}`,
          '-setcookie',
          COOKIE,
          '-eval',
          pingUntilPong(`stock@${h2.ip}`),
        ]),
      );
      stockWall.push(performance.now() - t);
      stockTimes.push(Number(out));
    }
    stockTarget.kill('SIGKILL');
    const ms = (xs: number[]) =>
      `${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
    process.stdout.write(
      `\n(c) first successful ping across the two hosts, median of ${pings}\n` +
        `  in the node (first net_adm:ping until pong):  eid containers ${ms(eidTimes)}   stock nodes on epmd ${ms(stockTimes)}\n` +
        `  from launch (docker run / erl start) to pong: eid containers ${ms(eidWall)}   stock nodes on epmd ${ms(stockWall)}\n` +
        `  ratio eid/stock (in the node): ${(median(eidTimes) / median(stockTimes)).toFixed(2)}x\n`,
    );
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await hosts?.down();
  }
}

await main();
