/**
 * Runs every bench, one child process each, and writes one JSON summary of the run.
 *   npm run bench [-- --quick --only etf,epmd --rounds N --json PATH --update]
 * --update keeps the other benches of the summary already at PATH and replaces those that ran
 * (to run bench:daemon apart, e.g. while the Docker test hosts are busy).
 * The summary (default bench/results/latest.json, git-ignored) is what `npm run bench:docs`
 * turns into docs/performance.md and the README's speed paragraph.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  formatFraction,
  formatIqr,
  formatRatio,
  machine,
  SUMMARY_SCHEMA,
  writeJson,
  type BenchResult,
  type Summary,
} from './harness.ts';

export const BENCHES = ['etf', 'epmd', 'dist', 'daemon'] as const;
export const DEFAULT_SUMMARY = fileURLToPath(new URL('results/latest.json', import.meta.url));

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    rounds: { type: 'string' },
    json: { type: 'string', default: DEFAULT_SUMMARY },
    update: { type: 'boolean', default: false },
  },
});
const only = values.only?.split(',') ?? [...BENCHES];
const unknown = only.filter((b) => !(BENCHES as readonly string[]).includes(b));
if (unknown.length > 0)
  throw new Error(`unknown bench ${unknown.join(', ')}; the benches are ${BENCHES.join(', ')}`);

const otpRelease = (): string | null => {
  const erl = spawnSync(
    'erl',
    ['-noshell', '-eval', 'io:format("~s", [erlang:system_info(otp_release)]), halt().'],
    {
      encoding: 'utf8',
    },
  );
  return erl.status === 0 ? erl.stdout : null;
};

const startedAt = new Date().toISOString();
const loadStart = loadavg()[0]!;
const dir = mkdtempSync(join(tmpdir(), 'eid-bench-run-'));
const benches: BenchResult[] = [];
const failed: string[] = [];
try {
  for (const bench of BENCHES.filter((b) => only.includes(b))) {
    const json = join(dir, `${bench}.json`);
    const args = ['--import', 'tsx', fileURLToPath(new URL(`${bench}.ts`, import.meta.url)), '--json', json];
    if (values.quick) args.push('--quick');
    if (values.rounds !== undefined) args.push('--rounds', values.rounds);
    process.stdout.write(`\n-- bench:${bench}\n`);
    const child = spawnSync(process.execPath, args, { stdio: 'inherit' });
    if (child.status === 0) benches.push(JSON.parse(readFileSync(json, 'utf8')) as BenchResult);
    else failed.push(bench);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const previous = values.update ? (JSON.parse(readFileSync(values.json, 'utf8')) as Summary) : undefined;
if (previous !== undefined && previous.quick !== values.quick)
  throw new Error('--update mixes a --quick run with a full one');
const kept = (previous?.benches ?? []).filter((b) => !benches.some((ran) => ran.bench === b.bench));
const summary: Summary = {
  schema: SUMMARY_SCHEMA,
  startedAt: previous?.startedAt ?? startedAt,
  finishedAt: new Date().toISOString(),
  quick: values.quick,
  machine: machine(otpRelease(), previous?.machine.loadAverage.start ?? loadStart),
  benches: BENCHES.flatMap((name) => [...kept, ...benches].filter((b) => b.bench === name)),
};
writeJson(values.json, summary);

process.stdout.write(
  `\n== summary (ratio > 1.00x: eid better; load average ${loadStart.toFixed(1)} → ${summary.machine.loadAverage.end.toFixed(1)})\n`,
);
for (const r of benches.flatMap((b) => b.rows)) {
  process.stdout.write(
    `${r.id.padEnd(26)} ${formatRatio(r.ratio).padStart(7)}  IQR ${formatIqr(r.iqr).padEnd(11)} ${r.verdict.padEnd(20)} ` +
      `of limit: eid ${formatFraction(r.limitFraction)}, anchor ${formatFraction(r.anchorLimitFraction)}\n`,
  );
}
process.stdout.write(`\nwrote ${values.json}\n`);
if (failed.length > 0) {
  process.stderr.write(`failed: ${failed.join(', ')}\n`);
  process.exitCode = 1;
}
