/**
 * ETF codec speed against erlpack (Discord's native codec), measured in the same run.
 *   npm run bench:etf            (BENCH_MS=<ms per measurement round>, default 300)
 * Each term is given to both libraries as the JavaScript value each one maps to that Erlang term;
 * each decoder reads the bytes its own encoder wrote. Where erlpack has no way to express a term,
 * the row says so.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { atom, decode, encode, Pid, tuple, type DecodeOptions, type Term } from '../src/index.ts';

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
  /** Our decode options for this row (the default otherwise). */
  decodeOptions?: DecodeOptions;
}

const pid = new Pid(atom('worker@host-a'), 117, 0, 1700000000);
const smallMap = { op: 2, pid: 123456789, name: 'cluster-worker-017', data: [1, 2, 3, 300], ok: true };
const kilobyteMap = Object.fromEntries(
  Array.from({ length: 43 }, (_, i) => [
    `field_${i}`,
    i % 3 === 0 ? `value number ${i} of the map` : i * 1000,
  ]),
);
const integers = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 100_000);
const binary = Buffer.alloc(64 * 1024, 0x61);

const cases: Case[] = [
  {
    name: "control tuple {2, '', Pid}",
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
    name: '64 KB binary, binaryViews',
    ours: binary,
    theirs: binary.toString('latin1'),
    decodeOptions: { binaryViews: true },
  },
  {
    name: 'list of 100 maps',
    ours: Array.from({ length: 100 }, () => smallMap),
    theirs: Array.from({ length: 100 }, () => smallMap),
  },
];

/** Ops/s of `fn` over one round of ROUND_MS. */
function round(fn: () => unknown): number {
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
}
let sink: unknown;

const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * The two codecs run in alternating rounds so both see the same load (the machine is shared);
 * reported are median ops/s and the median of the per-round ratios.
 */
function compare(
  ours: () => unknown,
  theirs: (() => unknown) | undefined,
): { ours: number; theirs?: number; ratio?: number } {
  round(ours);
  if (theirs === undefined) return { ours: median(Array.from({ length: ROUNDS }, () => round(ours))) };
  round(theirs);
  const pairs = Array.from({ length: ROUNDS }, () => [round(ours), round(theirs)] as const);
  return {
    ours: median(pairs.map(([o]) => o)),
    theirs: median(pairs.map(([, t]) => t)),
    ratio: median(pairs.map(([o, t]) => o / t)),
  };
}

const format = (n: number | undefined): string =>
  (n === undefined ? 'n/a' : Math.round(n).toLocaleString('en-US')).padStart(12);
const ratio = (r: number | undefined): string => (r === undefined ? 'n/a' : `${r.toFixed(2)}x`).padStart(8);

console.log(`ETF codec vs erlpack — node ${process.version}, ${ROUNDS} alternating rounds of ${ROUND_MS} ms`);
console.log(
  `${'term'.padEnd(32)}${'bytes'.padStart(7)}${'eid enc/s'.padStart(12)}${'erlpack'.padStart(12)}${'ratio'.padStart(8)}` +
    `${'eid dec/s'.padStart(12)}${'erlpack'.padStart(12)}${'ratio'.padStart(8)}`,
);
for (const c of cases) {
  const ourBytes = encode(c.ours);
  const theirBytes = c.theirsMissing === undefined ? erlpack.pack(c.theirs) : undefined;
  const enc = compare(
    () => encode(c.ours),
    theirBytes === undefined ? undefined : () => erlpack.pack(c.theirs),
  );
  const dec = compare(
    () => decode(ourBytes, c.decodeOptions),
    theirBytes === undefined ? undefined : () => erlpack.unpack(theirBytes),
  );
  console.log(
    `${c.name.padEnd(32)}${String(ourBytes.length).padStart(7)}${format(enc.ours)}${format(enc.theirs)}${ratio(enc.ratio)}` +
      `${format(dec.ours)}${format(dec.theirs)}${ratio(dec.ratio)}`,
  );
  if (c.theirsMissing !== undefined)
    console.log(`${''.padEnd(39)}erlpack cannot express it: ${c.theirsMissing}`);
}
if (sink === Symbol.for('never')) console.log(sink);
