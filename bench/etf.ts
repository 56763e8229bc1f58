/**
 * ETF codec speed against erlpack (Discord's native codec), measured in the same run, with
 * `Buffer.copy` of the same number of bytes as the limit (no codec moves its bytes faster).
 *   npm run bench:etf [-- --quick --rounds N --ms <ms per round> --json PATH]
 * Each term is given to both libraries as the JavaScript value each one maps to that Erlang term;
 * each decoder reads the bytes its own encoder wrote. Where erlpack has no way to express a term,
 * the row says so. Peak RSS comes from one child process per codec (`--memory eid|erlpack`).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import {
  atom,
  decode,
  encode,
  Pid,
  stringKeyed,
  tuple,
  type DecodeOptions,
  type Term,
} from '../src/index.ts';
import { alternate, BenchRun, ownPeakRss, parseBenchArgs, type Measure, type Sample } from './harness.ts';

const require = createRequire(import.meta.url);
const erlpack = require('erlpack') as { pack(value: unknown): Buffer; unpack(bytes: Buffer): unknown };

const { common, values } = parseBenchArgs({ ms: { type: 'string' }, memory: { type: 'string' } });
const ROUND_MS = Number(values.ms ?? (common.quick ? 20 : 200));

interface Case {
  id: string;
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
/** What an Elixir service sends: %{"user_id" => 7, ...}, binary keys, binary and integer values. */
const elixirMap = {
  user_id: 7,
  name: 'Ann Smith',
  email: 'ann@example.com',
  team: 'platform',
  logins: 1234,
};
const integers = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 100_000);
const binary = Buffer.alloc(64 * 1024, 0x61);

const cases: Case[] = [
  {
    id: 'control',
    name: "control tuple {2, '', Pid}",
    ours: tuple(2, atom(''), pid),
    theirs: undefined,
    theirsMissing: 'no tuples, atoms or pids in pack; no NEW_PID_EXT in unpack',
  },
  { id: 'map', name: 'map {op, pid, name, data, ok}', ours: smallMap, theirs: smallMap },
  {
    id: 'elixir-map-js',
    name: 'Elixir map, 5 binary keys, terms: js',
    ours: stringKeyed(elixirMap),
    theirs: elixirMap,
    decodeOptions: { terms: 'js' },
  },
  { id: 'map1k', name: '1 KB map', ours: kilobyteMap, theirs: kilobyteMap },
  { id: 'integers', name: 'list of 1000 integers', ours: integers, theirs: integers },
  // erlpack writes JS strings as binaries and has no Buffer input; it gets the same bytes as a string.
  { id: 'binary64k', name: '64 KB binary', ours: binary, theirs: binary.toString('latin1') },
  {
    id: 'binary64k-views',
    name: '64 KB binary, binaryViews',
    ours: binary,
    theirs: binary.toString('latin1'),
    decodeOptions: { binaryViews: true },
  },
  {
    id: 'maps100',
    name: 'list of 100 maps',
    ours: Array.from({ length: 100 }, () => smallMap),
    theirs: Array.from({ length: 100 }, () => smallMap),
  },
];

let sink: unknown;

/** One round: ops/s of `fn` over ROUND_MS, in batches that double so the clock is read rarely. */
function opsPerSecond(fn: () => unknown): Measure {
  return (): Sample => {
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
    return { ops: (ops * 1000) / elapsed };
  };
}

/** The limit for a row that moves `bytes` bytes: copying them from one buffer to another. */
function copyOf(bytes: number): Measure {
  const from = Buffer.alloc(bytes, 0x61);
  const to = Buffer.alloc(bytes);
  return opsPerSecond(() => from.copy(to));
}

/** `--memory eid|erlpack`: run one codec over every case, then print this process's peak RSS. */
function memoryChild(codec: string): void {
  for (const c of cases) {
    if (codec === 'eid') {
      const bytes = encode(c.ours);
      opsPerSecond(() => encode(c.ours))();
      opsPerSecond(() => decode(bytes, c.decodeOptions))();
    } else if (c.theirsMissing === undefined) {
      const bytes = erlpack.pack(c.theirs);
      opsPerSecond(() => erlpack.pack(c.theirs))();
      opsPerSecond(() => erlpack.unpack(bytes))();
    }
  }
  process.stdout.write(`${JSON.stringify({ peakRss: ownPeakRss() })}\n`);
}

function childPeakRss(codec: string): number | null {
  const args = [
    '--import',
    'tsx',
    fileURLToPath(import.meta.url),
    '--memory',
    codec,
    '--ms',
    String(ROUND_MS),
  ];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`memory child for ${codec} failed: ${child.stderr}`);
  return (JSON.parse(child.stdout.trim()) as { peakRss: number }).peakRss;
}

async function main(): Promise<void> {
  const run = new BenchRun('etf', `ETF codec vs erlpack (node ${process.version})`, common);
  for (const c of cases) {
    const ourBytes = encode(c.ours);
    const theirBytes = c.theirsMissing === undefined ? erlpack.pack(c.theirs) : undefined;
    const limitName = 'Buffer.copy of as many bytes';
    for (const op of ['encode', 'decode'] as const) {
      const eid = op === 'encode' ? () => encode(c.ours) : () => decode(ourBytes, c.decodeOptions);
      const theirs =
        theirBytes === undefined
          ? undefined
          : op === 'encode'
            ? () => erlpack.pack(c.theirs)
            : () => erlpack.unpack(theirBytes);
      const samples = await alternate(
        {
          eid: opsPerSecond(eid),
          ...(theirs === undefined ? {} : { anchor: opsPerSecond(theirs) }),
          limit: copyOf(ourBytes.length),
        } as Record<'eid' | 'anchor' | 'limit', Measure>,
        common.rounds,
      );
      run.add({
        id: `etf.${c.id}.${op}`,
        name: `${c.name} (${ourBytes.length} B), ${op}`,
        unit: `${op}s/s`,
        better: 'higher',
        measure: 'ops',
        eid: samples.eid,
        anchorName: 'erlpack',
        ...(theirs === undefined ? {} : { anchor: samples.anchor }),
        limitName,
        limit: samples.limit,
        ...(c.theirsMissing === undefined ? {} : { note: `erlpack cannot express it: ${c.theirsMissing}` }),
      });
    }
  }
  run.memory = {
    eid: childPeakRss('eid'),
    anchorName: 'erlpack',
    anchor: childPeakRss('erlpack'),
    note: 'one Node process per codec running every row once',
  };
  run.notes.push('limit: Buffer.copy (memcpy) of as many bytes as eid encodes for the term');
  run.finish();
}

if (values.memory !== undefined) memoryChild(values.memory);
else await main();
if (sink === Symbol.for('never')) console.log(sink);
