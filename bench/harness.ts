/**
 * The one bench harness every bench uses: alternating rounds, per-round ratios with their
 * interquartile range, a verdict, each row's fraction of the machine's limit, peak RSS, the
 * printed table and the JSON summary.
 *
 * A row compares eid against its anchor (stock epmd, BEAM-to-BEAM, erlpack) measured in the same
 * run, round by round: eid, anchor, limit, eid, anchor, limit, ... so drift in the load of this
 * shared machine hits every side alike. The row's ratio is the median of the per-round ratios,
 * always oriented so that above 1.0x means eid is better (for a lower-is-better measure such as
 * latency that is anchor time / eid time). When the interquartile range of those ratios contains
 * 1.0x the row is "not distinguishable"; otherwise it is a win or a loss.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Bumped when a field of the summary changes meaning. */
export const SUMMARY_SCHEMA = 1;

export type Better = 'higher' | 'lower';
export type Verdict = 'win' | 'loss' | 'not distinguishable' | 'no anchor';

/** One round of one side: named measures, e.g. `{ rate: 12000, p99: 0.4 }`. */
export type Sample = Readonly<Record<string, number>>;
export type Measure = () => Sample | Promise<Sample>;

export interface Row {
  /** Stable id the doc templates refer to, e.g. `epmd.rate.c1`. */
  id: string;
  bench: string;
  name: string;
  unit: string;
  better: Better;
  eid: number;
  anchorName: string;
  anchor: number | null;
  /** Median of the per-round ratios; above 1 means eid is better (see the file comment). */
  ratio: number | null;
  /** Interquartile range [q1, q3] of the per-round ratios. */
  iqr: [number, number] | null;
  verdict: Verdict;
  limitName: string | null;
  limit: number | null;
  /** eid's fraction of the limit (limit / eid for lower-is-better); 1 means at the limit. */
  limitFraction: number | null;
  anchorLimitFraction: number | null;
  rounds: number;
  note?: string;
}

/** Peak resident set sizes in bytes (null where it could not be read). */
export interface Memory {
  eid: number | null;
  anchorName: string;
  anchor: number | null;
  note?: string;
}

export interface BenchResult {
  bench: string;
  title: string;
  startedAt: string;
  seconds: number;
  quick: boolean;
  rows: Row[];
  memory: Memory;
  notes: string[];
}

export interface Summary {
  schema: number;
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  machine: { cpus: number; node: string; otp: string | null; loadAverage: { start: number; end: number } };
  benches: BenchResult[];
}

const median = (values: readonly number[]): number => quantile(values, 0.5);

/** The `q` quantile of `values`, interpolating linearly between neighbours; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low);
}

/** The verdict of per-round ratios (already oriented so that above 1 is better for eid). */
export function verdictOf(iqr: readonly [number, number]): Verdict {
  if (iqr[0] <= 1 && iqr[1] >= 1) return 'not distinguishable';
  return iqr[0] > 1 ? 'win' : 'loss';
}

/** `a` against `b` oriented so that above 1 means `a` is better. */
const oriented = (better: Better, a: number, b: number): number => (better === 'higher' ? a / b : b / a);

/**
 * Runs `rounds` rounds of every side in turn (the key order of `sides`), after one unrecorded
 * warm-up round each when `warmUp` is set. Returns each side's samples, round by round.
 */
export async function alternate<K extends string>(
  sides: Record<K, Measure>,
  rounds: number,
  warmUp = true,
): Promise<Record<K, Sample[]>> {
  const names = Object.keys(sides) as K[];
  const samples = Object.fromEntries(names.map((n) => [n, [] as Sample[]])) as Record<K, Sample[]>;
  if (warmUp) for (const n of names) await sides[n]();
  for (let r = 0; r < rounds; r++) for (const n of names) samples[n].push(await sides[n]());
  return samples;
}

export interface RowSpec {
  id: string;
  bench: string;
  name: string;
  unit: string;
  better: Better;
  /** Which measure of each sample this row reads. */
  measure: string;
  eid: readonly Sample[];
  anchorName: string;
  anchor?: readonly Sample[];
  limitName?: string;
  limit?: readonly Sample[];
  note?: string;
}

/** Turns the samples of alternating rounds into a row. Rounds are paired by index. */
export function row(spec: RowSpec): Row {
  const pick = (samples: readonly Sample[]) =>
    samples.map((s) => {
      const v = s[spec.measure];
      if (v === undefined) throw new Error(`${spec.id}: a sample has no measure ${spec.measure}`);
      return v;
    });
  const eid = pick(spec.eid);
  const anchor = spec.anchor === undefined ? undefined : pick(spec.anchor);
  const limit = spec.limit === undefined ? undefined : pick(spec.limit);
  let ratio: number | null = null;
  let iqr: [number, number] | null = null;
  if (anchor !== undefined) {
    const ratios = eid.map((e, i) => oriented(spec.better, e, anchor[i]!));
    ratio = median(ratios);
    iqr = [quantile(ratios, 0.25), quantile(ratios, 0.75)];
  }
  const eidMedian = median(eid);
  const anchorMedian = anchor === undefined ? null : median(anchor);
  const limitMedian = limit === undefined ? null : median(limit);
  const fraction = (v: number | null) =>
    v === null || limitMedian === null ? null : oriented(spec.better, v, limitMedian);
  return {
    id: spec.id,
    bench: spec.bench,
    name: spec.name,
    unit: spec.unit,
    better: spec.better,
    eid: eidMedian,
    anchorName: spec.anchorName,
    anchor: anchorMedian,
    ratio,
    iqr,
    verdict: iqr === null ? 'no anchor' : verdictOf(iqr),
    limitName: spec.limitName ?? null,
    limit: limitMedian,
    limitFraction: fraction(eidMedian),
    anchorLimitFraction: fraction(anchorMedian),
    rounds: eid.length,
    ...(spec.note === undefined ? {} : { note: spec.note }),
  };
}

/** Peak RSS (VmHWM) of a live process, in bytes; null once it is gone or unreadable. */
export function peakRss(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

/** Peak RSS of this process, in bytes. */
export const ownPeakRss = (): number => process.resourceUsage().maxRSS * 1024;

/** Options every bench takes, besides its own. */
const COMMON_OPTIONS = {
  quick: { type: 'boolean', default: false },
  json: { type: 'string' },
  rounds: { type: 'string' },
} as const;

export interface CommonOptions {
  quick: boolean;
  /** Where to write this bench's result as JSON, if anywhere. */
  json: string | undefined;
  rounds: number;
}

/**
 * Parses the common options (`--quick`, `--json PATH`, `--rounds N`) and the bench's own.
 * Rounds default to 5 (the least a row is reported on), 3 with --quick.
 */
export function parseBenchArgs<O extends NonNullable<ParseArgsConfig['options']>>(
  own: O,
): { common: CommonOptions; values: ReturnType<typeof parseArgs<{ options: O }>>['values'] } {
  const { values } = parseArgs({ options: { ...COMMON_OPTIONS, ...own }, allowPositionals: false });
  const all = values as Record<string, unknown>;
  const quick = all['quick'] === true;
  const rounds = all['rounds'] === undefined ? (quick ? 3 : 5) : Number(all['rounds']);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer`);
  const json = typeof all['json'] === 'string' ? all['json'] : undefined;
  return { common: { quick, json, rounds }, values: values as never };
}

/** Collects a bench's rows, then prints its table and writes its JSON. */
export class BenchRun {
  readonly rows: Row[] = [];
  readonly notes: string[] = [];
  memory: Memory = { eid: null, anchorName: '', anchor: null };
  private readonly started = new Date();

  constructor(
    readonly bench: string,
    readonly title: string,
    readonly options: CommonOptions,
  ) {}

  add(spec: Omit<RowSpec, 'bench'>): Row {
    const r = row({ ...spec, bench: this.bench });
    this.rows.push(r);
    return r;
  }

  result(): BenchResult {
    return {
      bench: this.bench,
      title: this.title,
      startedAt: this.started.toISOString(),
      seconds: (Date.now() - this.started.getTime()) / 1000,
      quick: this.options.quick,
      rows: this.rows,
      memory: this.memory,
      notes: this.notes,
    };
  }

  /** Prints the table and writes the JSON (when asked to). */
  finish(): BenchResult {
    const result = this.result();
    process.stdout.write(`${formatBench(result)}\n`);
    if (this.options.json !== undefined) writeJson(this.options.json, result);
    return result;
  }
}

export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** A measure for a table: 3 significant digits, thousands separated. */
export function formatValue(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(3)).toString();
}

/** Two decimals (none from 10 up), or three where two would show 1.00 for a ratio that is not 1 (the verdict turns on it). */
const ratioDigits = (r: number): string => {
  if (r >= 10) return r.toFixed(0);
  const two = r.toFixed(2);
  return two === '1.00' && r !== 1 ? r.toFixed(3) : two;
};
export const formatRatio = (r: number | null): string => (r === null ? 'n/a' : `${ratioDigits(r)}x`);
export const formatIqr = (iqr: readonly [number, number] | null): string =>
  iqr === null ? 'n/a' : `${ratioDigits(iqr[0])}–${ratioDigits(iqr[1])}`;
export const formatFraction = (f: number | null): string =>
  f === null ? 'n/a' : f >= 10 ? `${f.toFixed(0)}x` : `${(f * 100).toFixed(f < 0.1 ? 1 : 0)}%`;
export const formatBytes = (b: number | null): string =>
  b === null ? 'n/a' : `${(b / 1024 / 1024).toFixed(1)} MiB`;

/** The plain-text table of one bench. */
export function formatBench(result: BenchResult): string {
  const header = ['row', 'unit', 'eid', 'anchor', 'ratio', 'IQR', 'verdict', 'limit', 'eid/lim', 'anc/lim'];
  const lines = result.rows.map((r) => [
    r.name,
    `${r.unit}${r.better === 'lower' ? ' (lower)' : ''}`,
    formatValue(r.eid),
    formatValue(r.anchor),
    formatRatio(r.ratio),
    formatIqr(r.iqr),
    r.verdict,
    formatValue(r.limit),
    formatFraction(r.limitFraction),
    formatFraction(r.anchorLimitFraction),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const render = (cells: string[]) =>
    cells.map((c, i) => (i < 2 || i === 6 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const anchors = [...new Set(result.rows.map((r) => r.anchorName))].join(', ');
  const limits = [...new Set(result.rows.flatMap((r) => (r.limitName === null ? [] : [r.limitName])))];
  return [
    `\n== ${result.title} (${result.rows[0]?.rounds ?? 0} alternating rounds${result.quick ? ', quick' : ''}, ${result.seconds.toFixed(0)} s)`,
    `   anchor: ${anchors}; limit: ${limits.join(', ') || 'none'}; ratio > 1.00x means eid is better`,
    render(header),
    ...lines.map(render),
    `peak RSS: eid ${formatBytes(result.memory.eid)}, ${result.memory.anchorName} ${formatBytes(result.memory.anchor)}` +
      (result.memory.note === undefined ? '' : ` (${result.memory.note})`),
    ...result.notes.map((n) => `note: ${n}`),
  ].join('\n');
}

/** The machine fields of a summary. */
export function machine(otp: string | null, loadStart: number): Summary['machine'] {
  return {
    cpus: cpus().length,
    node: process.version,
    otp,
    loadAverage: { start: loadStart, end: loadavg()[0]! },
  };
}
