/**
 * Writes docs/performance.md from docs/performance.template.md and the README's speed paragraph
 * (between its `<!-- bench:speed -->` markers) from docs/readme-speed.template.md, filling the
 * templates' placeholders from a run's JSON summary (bench/all.ts). The prose stays hand-written
 * in the templates; only figures come from the run.
 *
 *   npm run bench:docs [-- --summary bench/results/latest.json --performance PATH --readme PATH --quick-ok]
 *
 * Placeholders: {{run}}, {{date}}, {{load}}, {{summary}}, {{memory}}, {{table BENCH}}, {{notes BENCH}}, and per row
 * {{ratio ID}}, {{iqr ID}}, {{verdict ID}}, {{eid ID}}, {{anchor ID}}, {{limit ID}} (eid's
 * fraction of the limit), {{anchor-limit ID}}. A placeholder for a row of a bench the run did not
 * include reads "not run"; an unknown row of a bench it did include is an error, so the templates
 * cannot silently drift from the benches.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { format, resolveConfig } from 'prettier';
import {
  formatBytes,
  formatFraction,
  formatIqr,
  formatRatio,
  formatValue,
  type BenchResult,
  type Row,
  type Summary,
} from '../bench/harness.ts';

const root = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));
const { values } = parseArgs({
  options: {
    summary: { type: 'string', default: root('bench/results/latest.json') },
    performance: { type: 'string', default: root('docs/performance.md') },
    readme: { type: 'string', default: root('README.md') },
    'quick-ok': { type: 'boolean', default: false },
  },
});

const MARKERS = { start: '<!-- bench:speed:start -->', end: '<!-- bench:speed:end -->' };

const summary = JSON.parse(readFileSync(values.summary, 'utf8')) as Summary;
if (summary.quick && !values['quick-ok'])
  throw new Error(
    `${values.summary} is from a --quick run; its figures mean nothing (pass --quick-ok to use it anyway)`,
  );

const rows = new Map(summary.benches.flatMap((b) => b.rows.map((r) => [r.id, r] as const)));
const benches = new Map(summary.benches.map((b) => [b.bench, b]));

/** Wherever a ratio appears, a loss is bold and a ratio within the noise reads ≈. */
const ratioCell = (r: Row) =>
  r.verdict === 'loss'
    ? `**${formatRatio(r.ratio)}**`
    : r.verdict === 'not distinguishable'
      ? `≈${formatRatio(r.ratio)}`
      : formatRatio(r.ratio);
const verdictCell = (r: Row) => (r.verdict === 'loss' ? '**loss**' : r.verdict);
const escape = (text: string) => text.replaceAll('|', '\\|');

function table(header: string[], align: string[], lines: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...lines.map((l) => `| ${l.map(escape).join(' | ')} |`),
  ].join('\n');
}

function benchTable(bench: BenchResult): string {
  return table(
    ['row', 'unit', 'eid', 'anchor', 'ratio', 'IQR', 'verdict', 'limit', 'eid / limit', 'anchor / limit'],
    ['---', '---', '--:', '--:', '--:', '--:', '---', '--:', '--:', '--:'],
    bench.rows.map((r) => [
      r.name,
      r.better === 'lower' ? `${r.unit}, lower is better` : r.unit,
      formatValue(r.eid),
      r.anchor === null ? 'n/a' : `${formatValue(r.anchor)} (${r.anchorName})`,
      ratioCell(r),
      formatIqr(r.iqr),
      verdictCell(r),
      r.limit === null ? 'n/a' : `${formatValue(r.limit)} (${r.limitName})`,
      formatFraction(r.limitFraction),
      formatFraction(r.anchorLimitFraction),
    ]),
  );
}

function summaryTable(): string {
  return table(
    ['bench', 'row', 'anchor', 'ratio', 'IQR', 'verdict', 'eid / limit'],
    ['---', '---', '---', '--:', '--:', '---', '--:'],
    summary.benches.flatMap((b) =>
      b.rows.map((r) => [
        b.bench,
        r.name,
        r.anchorName,
        ratioCell(r),
        formatIqr(r.iqr),
        verdictCell(r),
        formatFraction(r.limitFraction),
      ]),
    ),
  );
}

function memoryTable(): string {
  return table(
    ['bench', 'eid peak RSS', 'anchor', 'anchor peak RSS', 'what'],
    ['---', '--:', '---', '--:', '---'],
    summary.benches.map((b) => [
      b.bench,
      formatBytes(b.memory.eid),
      b.memory.anchorName,
      formatBytes(b.memory.anchor),
      b.memory.note ?? '',
    ]),
  );
}

function runLine(): string {
  const m = summary.machine;
  const rounds = [...new Set(summary.benches.flatMap((b) => b.rows.map((r) => r.rounds)))].join('/');
  return (
    `${summary.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${m.cpus} cores, Node ${m.node}, OTP ${m.otp ?? 'n/a'}, ` +
    `${rounds} alternating rounds per row, load average ${m.loadAverage.start.toFixed(1)} at the start and ` +
    `${m.loadAverage.end.toFixed(1)} at the end; the benches started at ` +
    summary.benches.map((b) => `${b.startedAt.slice(11, 16)} (${b.bench})`).join(', ') +
    (summary.quick ? ' (a --quick run: the figures mean nothing)' : '')
  );
}

const perRow: Record<string, (r: Row) => string> = {
  ratio: ratioCell,
  iqr: (r) => formatIqr(r.iqr),
  verdict: verdictCell,
  eid: (r) => formatValue(r.eid),
  anchor: (r) => formatValue(r.anchor),
  limit: (r) => formatFraction(r.limitFraction),
  'anchor-limit': (r) => formatFraction(r.anchorLimitFraction),
};

function fill(template: string, file: string): string {
  return template.replace(
    /\{\{([\w-]+)(?: ([\w.-]+))?\}\}/g,
    (whole, kind: string, arg: string | undefined) => {
      if (kind === 'run') return runLine();
      if (kind === 'date') return summary.startedAt.slice(0, 10);
      if (kind === 'load')
        return `load average ${summary.machine.loadAverage.start.toFixed(1)} to ${summary.machine.loadAverage.end.toFixed(1)}`;
      if (kind === 'summary') return summaryTable();
      if (kind === 'memory') return memoryTable();
      if (arg === undefined) throw new Error(`${file}: ${whole} needs an argument`);
      if (kind === 'table' || kind === 'notes') {
        const bench = benches.get(arg);
        if (bench === undefined) return '(not run)';
        return kind === 'table' ? benchTable(bench) : bench.notes.map((n) => `- ${n}`).join('\n');
      }
      const format = perRow[kind];
      if (format === undefined) throw new Error(`${file}: unknown placeholder ${whole}`);
      const row = rows.get(arg);
      if (row !== undefined) return format(row);
      if (!benches.has(arg.split('.')[0]!)) return 'not run';
      throw new Error(`${file}: ${whole} names no row of the run (rows: ${[...rows.keys()].join(', ')})`);
    },
  );
}

/**
 * Writes markdown as the repository's prettier would format it, so `npm run lint` stays clean;
 * `rewrap` rewraps prose where placeholders made lines ragged (prettier --check accepts either).
 */
async function writeMarkdown(path: string, text: string, rewrap: boolean): Promise<void> {
  const config = await resolveConfig(root('README.md'));
  const wrap = rewrap ? { proseWrap: 'always' as const, printWidth: 100 } : {};
  writeFileSync(path, await format(text, { ...config, ...wrap, parser: 'markdown' }));
}

const performanceTemplate = root('docs/performance.template.md');
await writeMarkdown(
  values.performance,
  `<!-- Generated by npm run bench:docs from docs/performance.template.md: edit that file, not this one. -->\n\n` +
    fill(readFileSync(performanceTemplate, 'utf8'), performanceTemplate),
  true,
);

const readmeTemplate = root('docs/readme-speed.template.md');
const readme = readFileSync(values.readme, 'utf8');
const start = readme.indexOf(MARKERS.start);
const end = readme.indexOf(MARKERS.end);
if (start < 0 || end < start) throw new Error(`${values.readme} has no ${MARKERS.start} … ${MARKERS.end}`);
// The paragraph alone is wrapped to the README's width (the rest of the README keeps its own wrapping).
const paragraph = (
  await format(fill(readFileSync(readmeTemplate, 'utf8'), readmeTemplate), {
    parser: 'markdown',
    proseWrap: 'always',
    printWidth: 100,
  })
).trim();
await writeMarkdown(
  values.readme,
  `${readme.slice(0, start + MARKERS.start.length)}\n${paragraph}\n${readme.slice(end)}`,
  false,
);
process.stdout.write(`wrote ${values.performance} and the speed paragraph of ${values.readme}\n`);
