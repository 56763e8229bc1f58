/**
 * EPMD lookup bench: one load generator doing PORT_PLEASE2 lookups, one TCP connection per lookup
 * (as OTP's erl_epmd does), at several concurrency levels, against our server and a stock `epmd`
 * started in the same run. Prints lookups/s, p50/p99 latency and the ratios.
 *
 *   npm run bench:epmd [-- --seconds 3 --rounds 2 --levels 1,8,64]
 *
 * Our server runs in its own process (this file with --serve PORT), like stock epmd does, so the
 * load generator never shares an event loop with the server it measures.
 */
import net from 'node:net';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { EpmdServer } from '../src/epmd/server.ts';
import { encodeRequest, decodePort2Reply } from '../src/epmd/protocol.ts';
import { register } from '../src/epmd/client.ts';
import { epmdAnswers, percentile, waitForEpmd } from './lib.ts';

/** The EPMD area's bench ports (43900-43999 of its range). */
const BENCH_PORTS = { ours: 43901, stock: 43902 } as const;
const NODE_NAME = 'benchnode';
const NODE_PORT = 43903;

const { values } = parseArgs({
  options: {
    serve: { type: 'string' },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    levels: { type: 'string', default: '1,8,64' },
  },
});

interface Result {
  lookups: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
}

const request = encodeRequest({ type: 'portPlease2', name: NODE_NAME });

/** One lookup on its own connection; resolves with its latency, rejects on error or a wrong reply. */
function lookup(port: number): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let received: Buffer = Buffer.alloc(0);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d: Buffer) => {
      received = received.length === 0 ? d : Buffer.concat([received, d]);
    });
    socket.on('error', reject);
    // Like erl_epmd, the reply counts once epmd has closed the connection.
    socket.on('close', () => {
      const reply = decodePort2Reply(received)?.reply;
      if (reply?.found === true && reply.entry.port === NODE_PORT) resolve(performance.now() - start);
      else reject(new Error(`bad reply ${received.toString('hex')}`));
    });
  });
}

async function load(port: number, concurrency: number, seconds: number): Promise<Result> {
  const latenciesMs: number[] = [];
  let errors = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      try {
        latenciesMs.push(await lookup(port));
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { lookups: latenciesMs.length, errors, seconds: (performance.now() - start) / 1000, latenciesMs };
}

function summarise(results: Result[]) {
  const lat = results.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  const lookups = results.reduce((n, r) => n + r.lookups, 0);
  const seconds = results.reduce((n, r) => n + r.seconds, 0);
  return {
    rate: lookups / seconds,
    p50: percentile(lat, 0.5),
    p99: percentile(lat, 0.99),
    errors: results.reduce((n, r) => n + r.errors, 0),
  };
}

async function bench(): Promise<void> {
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const levels = values.levels.split(',').map(Number);
  const children: ChildProcess[] = [];
  // Whatever happens (even an uncaught error), the servers this run started die with it.
  process.once('exit', () => children.forEach((c) => c.kill('SIGKILL')));
  try {
    for (const port of Object.values(BENCH_PORTS)) {
      if (await epmdAnswers(port))
        throw new Error(`something already answers on port ${port}: stop it first`);
    }
    const self = fileURLToPath(import.meta.url);
    const start = (command: string, args: string[]) => {
      const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(child);
      // A server that exits early (port taken) must fail the run, not let it measure something else.
      const exited = new Promise<never>((_, reject) =>
        child.once('exit', (code) => reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))),
      );
      return exited;
    };
    const early = Promise.race([
      start(process.execPath, ['--import', 'tsx', self, '--serve', String(BENCH_PORTS.ours)]),
      start('epmd', ['-port', String(BENCH_PORTS.stock), '-address', '127.0.0.1']),
    ]);
    early.catch(() => undefined);
    await Promise.race([early, Promise.all([waitForEpmd(BENCH_PORTS.ours), waitForEpmd(BENCH_PORTS.stock)])]);
    const registrations = await Promise.all(
      Object.values(BENCH_PORTS).map((epmdPort) => register(NODE_NAME, NODE_PORT, { epmdPort })),
    );

    const fmt = (n: number, digits = 0) => n.toFixed(digits).padStart(10);
    process.stdout.write(
      `EPMD PORT_PLEASE2 lookups, one connection each; ${rounds} x ${seconds}s per target and level, ` +
        `alternating; load generator and servers share this machine\n\n` +
        `${'concurrency'.padEnd(12)}${'target'.padEnd(8)}${'lookups/s'.padStart(10)}${'p50 ms'.padStart(10)}` +
        `${'p99 ms'.padStart(10)}${'errors'.padStart(8)}\n`,
    );
    for (const concurrency of levels) {
      const ours: Result[] = [];
      const stock: Result[] = [];
      // Warm both up, then alternate so drift in machine load hits both alike.
      await load(BENCH_PORTS.ours, concurrency, 0.3);
      await load(BENCH_PORTS.stock, concurrency, 0.3);
      for (let r = 0; r < rounds; r++) {
        ours.push(await load(BENCH_PORTS.ours, concurrency, seconds));
        stock.push(await load(BENCH_PORTS.stock, concurrency, seconds));
      }
      const a = summarise(ours);
      const b = summarise(stock);
      for (const [target, s] of [
        ['eid', a],
        ['epmd', b],
      ] as const) {
        process.stdout.write(
          `${String(concurrency).padEnd(12)}${target.padEnd(8)}${fmt(s.rate)}${fmt(s.p50, 3)}${fmt(s.p99, 3)}` +
            `${String(s.errors).padStart(8)}\n`,
        );
      }
      process.stdout.write(
        `${''.padEnd(12)}${'ratio'.padEnd(8)}${fmt(a.rate / b.rate, 2)}x${fmt(a.p50 / b.p50, 2)}x${fmt(a.p99 / b.p99, 2)}x` +
          `   (eid/epmd: lookups/s higher is better, latency lower is better)\n`,
      );
    }
    await Promise.all(registrations.map((r) => r.close()));
    if (children.some((c) => c.exitCode !== null)) throw new Error('a server exited during the run');
  } finally {
    for (const c of children) c.kill('SIGKILL');
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
