/**
 * EPMD lookup bench: one load generator doing PORT_PLEASE2 lookups, one TCP connection per lookup
 * (as OTP's erl_epmd does), at several concurrency levels, against our server, a stock `epmd`
 * (the anchor) and a C accept-read-write-close loop (the limit: what any server can do here),
 * all started by this run and measured in alternating rounds.
 *
 *   npm run bench:epmd [-- --quick --rounds 5 --seconds 2 --levels 1,8,64 --json PATH]
 *
 * Our server runs in its own process (this file with --serve PORT), like stock epmd does, so the
 * load generator never shares an event loop with the server it measures.
 */
import { fileURLToPath } from 'node:url';
import { EpmdServer } from '../src/epmd/server.ts';
import { epmdRegister } from '../src/epmd/client.ts';
import { alternate, BenchRun, parseBenchArgs, peakRss } from './harness.ts';
import {
  assertPortsFree,
  checkedLookup,
  load,
  rawLookup,
  Servers,
  startAcceptLoop,
  waitForEpmd,
} from './lib.ts';

/** The EPMD area's bench ports (43900-43999 of its range). */
const BENCH_PORTS = { ours: 43901, stock: 43902, limit: 43904 } as const;
const NODE_NAME = 'benchnode';
const NODE_PORT = 43903;

const { common, values } = parseBenchArgs({
  serve: { type: 'string' },
  seconds: { type: 'string' },
  levels: { type: 'string' },
});

async function bench(): Promise<void> {
  const seconds = Number(values.seconds ?? (common.quick ? 0.2 : 2));
  const levels = (values.levels ?? '1,8,64').split(',').map(Number);
  const servers = new Servers();
  try {
    await assertPortsFree([BENCH_PORTS.ours, BENCH_PORTS.stock]);
    const self = fileURLToPath(import.meta.url);
    const ours = servers.start(process.execPath, [
      '--import',
      'tsx',
      self,
      '--serve',
      String(BENCH_PORTS.ours),
    ]);
    const stock = servers.start('epmd', ['-port', String(BENCH_PORTS.stock), '-address', '127.0.0.1']);
    await servers.until(Promise.all([waitForEpmd(BENCH_PORTS.ours), waitForEpmd(BENCH_PORTS.stock)]));
    const registrations = await Promise.all(
      [BENCH_PORTS.ours, BENCH_PORTS.stock].map((epmdPort) =>
        epmdRegister(NODE_NAME, NODE_PORT, { epmdPort }),
      ),
    );
    // The limit answers with stock epmd's own reply bytes, so the client does the same work.
    await startAcceptLoop(servers, BENCH_PORTS.limit, await rawLookup(BENCH_PORTS.stock, NODE_NAME));

    const run = new BenchRun(
      'epmd',
      `EPMD PORT_PLEASE2 lookups, one connection each, ${seconds} s per round; load generator and servers share this machine`,
      common,
    );
    for (const concurrency of levels) {
      const side = (port: number) => () =>
        load(checkedLookup(port, NODE_NAME, NODE_PORT), concurrency, seconds);
      const samples = await alternate(
        { eid: side(BENCH_PORTS.ours), anchor: side(BENCH_PORTS.stock), limit: side(BENCH_PORTS.limit) },
        common.rounds,
      );
      const errors = [...samples.eid, ...samples.anchor, ...samples.limit].reduce(
        (n, s) => n + s['errors']!,
        0,
      );
      if (errors > 0) run.notes.push(`${errors} failed lookups at concurrency ${concurrency}`);
      const sides = {
        eid: samples.eid,
        anchorName: 'stock epmd',
        anchor: samples.anchor,
        limitName: 'C accept-read-write-close loop',
        limit: samples.limit,
      };
      run.add({
        id: `epmd.rate.c${concurrency}`,
        name: `lookups/s at concurrency ${concurrency}`,
        unit: 'lookups/s',
        better: 'higher',
        measure: 'rate',
        ...sides,
      });
      run.add({
        id: `epmd.p99.c${concurrency}`,
        name: `p99 latency at concurrency ${concurrency}`,
        unit: 'ms',
        better: 'lower',
        measure: 'p99',
        ...sides,
      });
    }
    run.memory = { eid: peakRss(ours.pid), anchorName: 'stock epmd', anchor: peakRss(stock.pid) };
    await Promise.all(registrations.map((r) => r.close()));
    servers.assertAlive();
    run.finish();
  } finally {
    servers.killAll();
  }
}

if (values.serve !== undefined) {
  const server = new EpmdServer({ port: Number(values.serve), addresses: ['127.0.0.1'] });
  await server.listen();
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
  await server.closed;
} else {
  await bench();
}
