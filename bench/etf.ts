/**
 * ETF codec speed against erlpack (Discord's native codec), measured in the same run.
 *   npm run bench:etf            (BENCH_MS=<ms per measurement round>, default 300)
 * Each term is given to both libraries as the JavaScript value each one maps to that Erlang term;
 * each decoder reads the bytes its own encoder wrote. Where erlpack has no way to express a term,
 * the row says so.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { atom, decode, encode, Pid, tuple, type Term } from '../src/index.ts';

const require = createRequire(import.meta.url);
const erlpack = require('erlpack') as { pack(value: unknown): Buffer; unpack(bytes: Buffer): unknown };

const ROUND_MS = Number(process.env['BENCH_MS'] ?? 300);
const ROUNDS = 5;

interface Case {
  name: string;
  ours: Term;
  /** The same Erlang term in erlpack's model, or why erlpack cannot express it. */
  theirs: unknown;
  theirsMissing?: string;
}

const pid = new Pid(atom('worker@host-a'), 117, 0, 1700000000);
const smallMap = { op: 2, pid: 123456789, name: 'cluster-worker-017', data: [1, 2, 3, 300], ok: true };
const kilobyteMap = Object.fromEntries(
  Array.from({ length: 43 }, (_, i) => [`field_${i}`, i % 3 === 0 ? `value number ${i} of the map` : i * 1000]),
);
const integers = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 100_000);
const binary = Buffer.alloc(64 * 1024, 0x61);

const cases: Case[] = [
  {
    name: 'control tuple {2, \'\', Pid}',
    ours: tuple(2, atom(''), pid),
    theirs: undefined,
    theirsMissing: 'no tuples, atoms or pids in pack; no NEW_PID_EXT in unpack',
  },
  { name: 'map {op, pid, name, data, ok}', ours: smallMap, theirs: smallMap },
  { name: '1 KB map', ours: kilobyteMap, theirs: kilobyteMap },
  { name: 'list of 1000 integers', ours: integers, theirs: integers },
  // erlpack writes JS strings as binaries and has no Buffer input; it gets the same bytes as a string.
  { name: '64 KB binary', ours: binary, theirs: binary.toString('latin1') },
  {
    name: 'list of 100 maps',
    ours: Array.from({ length: 100 }, () => smallMap),
    theirs: Array.from({ length: 100 }, () => smallMap),
  },
];

/** Median ops/s over ROUNDS rounds of ROUND_MS each, after a warm-up round. */
function opsPerSecond(fn: () => unknown): number {
  let sink: unknown;
  const round = (): number => {
    let ops = 0;
    let batch = 1;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < ROUND_MS) {
      for (let i = 0; i < batch; i++) sink = fn();
      ops += batch;
      batch = Math.min(batch * 2, 4096);
      elapsed = performance.now() - start;
    }
    return (ops * 1000) / elapsed;
  };
  round();
  const results = Array.from({ length: ROUNDS }, round).sort((a, b) => a - b);
  if (sink === Symbol.for('never')) console.log(sink);
  return results[Math.floor(ROUNDS / 2)]!;
}

const format = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(11);
const ratio = (ours: number, theirs: number | undefined): string =>
  theirs === undefined ? '     n/a' : `${(ours / theirs).toFixed(2)}x`.padStart(8);

console.log(`ETF codec vs erlpack — node ${process.version}, ${ROUNDS} rounds of ${ROUND_MS} ms, median ops/s`);
console.log(
  `${'term'.padEnd(32)}${'bytes'.padStart(7)}${'eid enc'.padStart(12)}${'erlpack enc'.padStart(12)}${'ratio'.padStart(8)}` +
    `${'eid dec'.padStart(12)}${'erlpack dec'.padStart(12)}${'ratio'.padStart(8)}`,
);
for (const c of cases) {
  const ourBytes = encode(c.ours);
  const ourEncode = opsPerSecond(() => encode(c.ours));
  const ourDecode = opsPerSecond(() => decode(ourBytes));
  let theirEncode: number | undefined;
  let theirDecode: number | undefined;
  if (c.theirsMissing === undefined) {
    const theirBytes = erlpack.pack(c.theirs);
    theirEncode = opsPerSecond(() => erlpack.pack(c.theirs));
    theirDecode = opsPerSecond(() => erlpack.unpack(theirBytes));
  }
  console.log(
    `${c.name.padEnd(32)}${String(ourBytes.length).padStart(7)}${format(ourEncode)} ${theirEncode === undefined ? '        n/a' : format(theirEncode)}${ratio(ourEncode, theirEncode)}` +
      `${format(ourDecode)} ${theirDecode === undefined ? '        n/a' : format(theirDecode)}${ratio(ourDecode, theirDecode)}`,
  );
  if (c.theirsMissing !== undefined) console.log(`${''.padEnd(32)}erlpack cannot express it: ${c.theirsMissing}`);
}
