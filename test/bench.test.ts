/**
 * The bench harness end to end, cheaply: `npm run bench -- --quick` for the benches that need no
 * Docker hosts (the daemon's is test/daemon/bench.test.ts), its JSON summary, and
 * `npm run bench:docs` on that summary. No speed is asserted: quick figures mean nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { row, verdictOf, type Summary } from '../bench/harness.ts';
import { checkBench } from './bench-summary.ts';

const run = promisify(execFile);
const root = (path: string) => new URL(`../${path}`, import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'eid-bench-test-'));
const summaryPath = join(dir, 'summary.json');

test('a row: the median of per-round ratios, oriented so above 1 is better, and its verdict', () => {
  const ms = (...values: number[]) => values.map((v) => ({ ms: v }));
  // Latency: eid took half the anchor's time in every round, so eid is 2x better.
  const faster = row({
    ...{ id: 'x.latency', bench: 'x', name: 'latency', unit: 'ms', better: 'lower', measure: 'ms' },
    ...{ eid: ms(1, 2, 3), anchorName: 'a', anchor: ms(2, 4, 6), limitName: 'l', limit: ms(0.5, 0.5, 0.5) },
  });
  assert.deepEqual([faster.ratio, faster.iqr, faster.verdict], [2, [2, 2], 'win']);
  assert.equal(faster.eid, 2);
  assert.equal(faster.limitFraction, 0.25);
  assert.equal(faster.anchorLimitFraction, 0.125);
  const rate = (...values: number[]) => values.map((v) => ({ rate: v }));
  const mixed = row({
    ...{ id: 'x.rate', bench: 'x', name: 'rate', unit: '/s', better: 'higher', measure: 'rate' },
    ...{ eid: rate(9, 10, 11, 12, 8), anchorName: 'a', anchor: rate(10, 10, 10, 10, 10) },
  });
  assert.equal(mixed.ratio, 1);
  assert.deepEqual(mixed.iqr, [0.9, 1.1]);
  assert.equal(mixed.verdict, 'not distinguishable');
  assert.equal(mixed.limitFraction, null);
  assert.equal(verdictOf([0.5, 0.99]), 'loss');
  assert.equal(verdictOf([1.01, 3]), 'win');
  assert.equal(verdictOf([0.9, 1]), 'not distinguishable');
});

test('npm run bench -- --quick (etf, epmd, dist) writes a summary every row of which is complete', async () => {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', root('bench/all.ts'), '--quick', '--only', 'etf,epmd,dist', '--json', summaryPath],
    { timeout: 600_000, maxBuffer: 16 << 20 },
  );
  assert.match(stdout, /== summary/);
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as Summary;
  assert.equal(summary.quick, true);
  assert.deepEqual(
    summary.benches.map((b) => b.bench),
    ['etf', 'epmd', 'dist'],
  );
  for (const b of summary.benches) {
    checkBench(b, { rounds: 3, everyRowHasLimit: true, everyRowHasAnchor: b.bench !== 'etf' });
  }
  const dist = summary.benches.find((b) => b.bench === 'dist')!;
  for (const shape of ['small', 'gen-call', 'pubsub', 'binary-1m'])
    for (const way of ['ts-beam', 'beam-ts'])
      assert.ok(dist.rows.some((r) => r.id === `dist.${shape}.${way}`));
  assert.equal(dist.rows.find((r) => r.id === 'dist.rtt')?.better, 'lower');
  // Over TLS, and 1 MB again with OTP reading 256 KiB per call (docs/tls.md step 6), each against its own anchor.
  for (const link of ['tls', 'tls-buffer'])
    for (const way of ['ts-beam', 'beam-ts'])
      assert.ok(dist.rows.some((r) => r.id === `dist.${link}.binary-1m.${way}`));
  assert.match(dist.rows.find((r) => r.id === 'dist.tls-buffer.binary-1m.ts-beam')!.anchorName, /256 KiB/);
});

test('npm run bench:dist -- --sender-profile: the sending BEAM node toward a BEAM node and toward the TS node', async () => {
  const { stdout } = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      root('bench/dist.ts'),
      '--sender-profile',
      '--rounds',
      '1',
      '--small',
      '200',
      '--big',
      '2',
    ],
    { timeout: 300_000, maxBuffer: 16 << 20 },
  );
  // One line per shape and peer; the sender's dist socket counters cover at least the messages' bytes.
  for (const [shape, leastBytes] of [
    ['GenServer call', 100 * 40],
    ['1 MB binaries', 2 * 1024 * 1024],
  ] as const)
    for (const peer of ['BEAM', 'TS']) {
      const line = stdout.split('\n').find((l) => l.startsWith(`${shape} BEAM→${peer}, round 1:`));
      assert.ok(line !== undefined, `${shape} BEAM→${peer} in:\n${stdout}`);
      const [, writes, average] = /(\d+) writes of (\d+) bytes/.exec(line) ?? [];
      assert.ok(Number(writes) * (Number(average) + 1) >= leastBytes, line);
      assert.match(line, /busy_dist_port \d+, schedulers .*; receiver CPU \d+ ms$/);
    }
});

test('npm run bench:docs fills both templates from a summary', async () => {
  const performance = join(dir, 'performance.md');
  const readme = join(dir, 'README.md');
  copyFileSync(root('README.md'), readme);
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as Summary;
  await assert.rejects(
    run(process.execPath, ['--import', 'tsx', root('scripts/bench-docs.ts'), '--summary', summaryPath]),
    /--quick run/,
    'a quick summary is refused unless asked for',
  );
  await run(process.execPath, [
    ...['--import', 'tsx', root('scripts/bench-docs.ts'), '--quick-ok'],
    ...['--summary', summaryPath, '--performance', performance, '--readme', readme],
  ]);
  const doc = readFileSync(performance, 'utf8');
  assert.doesNotMatch(doc, /\{\{/);
  // Every row is in a table: a cell holding its name (prettier pads cells to the column's width).
  const cell = (text: string) => new RegExp(`\\| ${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +\\|`);
  for (const r of summary.benches.flatMap((b) => b.rows)) assert.match(doc, cell(r.name));
  const text = readFileSync(readme, 'utf8');
  assert.doesNotMatch(text, /\{\{/);
  const original = readFileSync(root('README.md'), 'utf8');
  const outside = (t: string) => t.replace(/<!-- bench:speed:start -->[^]*<!-- bench:speed:end -->/, '');
  assert.equal(outside(text), outside(original), 'only the paragraph between the markers changes');
});
