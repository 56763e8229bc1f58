/**
 * Checks that a bench result is complete and self-consistent: what `npm run bench:docs` and
 * anyone reading bench/results/*.json rely on. It checks the harness, never a speed.
 */
import assert from 'node:assert/strict';
import type { BenchResult, Row } from '../bench/harness.ts';

const finitePositive = (v: unknown, what: string) =>
  assert.ok(typeof v === 'number' && Number.isFinite(v) && v > 0, `${what} is ${String(v)}`);

/** One row: its fields are present and its ratio, IQR, verdict and limit fraction agree with its figures. */
export function checkRow(r: Row, rounds: number): void {
  const what = (field: string) => `${r.id}.${field}`;
  assert.match(r.id, new RegExp(`^${r.bench}\\.`), 'a row id starts with its bench');
  assert.ok(r.name.length > 0 && r.unit.length > 0, what('name/unit'));
  assert.ok(r.better === 'higher' || r.better === 'lower', what('better'));
  assert.equal(r.rounds, rounds, what('rounds'));
  finitePositive(r.eid, what('eid'));
  for (const key of ['anchor', 'ratio', 'iqr', 'verdict', 'limit', 'limitFraction', 'anchorLimitFraction'])
    assert.ok(key in r, what(key));
  if (r.anchor === null) {
    assert.equal(r.ratio, null, what('ratio'));
    assert.equal(r.verdict, 'no anchor', what('verdict'));
  } else {
    finitePositive(r.anchor, what('anchor'));
    finitePositive(r.ratio, what('ratio'));
    assert.ok(r.iqr !== null, what('iqr'));
    const [q1, q3] = r.iqr;
    assert.ok(q1 <= r.ratio! && r.ratio! <= q3, `${what('ratio')} ${r.ratio} lies in its IQR ${q1}..${q3}`);
    const expected = q1 <= 1 && q3 >= 1 ? 'not distinguishable' : q1 > 1 ? 'win' : 'loss';
    assert.equal(r.verdict, expected, what('verdict'));
  }
  if (r.limit === null) {
    assert.equal(r.limitFraction, null, what('limitFraction'));
  } else {
    finitePositive(r.limit, what('limit'));
    assert.ok(typeof r.limitName === 'string' && r.limitName.length > 0, what('limitName'));
    const fraction = r.better === 'higher' ? r.eid / r.limit : r.limit / r.eid;
    assert.ok(Math.abs(r.limitFraction! - fraction) < 1e-9 * fraction, what('limitFraction'));
  }
}

/** A bench's result: rows (each checked), every row with an anchor or a limit as `expect` says, and memory. */
export function checkBench(
  b: BenchResult,
  expect: { rounds: number; everyRowHasLimit: boolean; everyRowHasAnchor: boolean },
): void {
  assert.ok(b.rows.length > 0, `${b.bench} has rows`);
  assert.equal(new Set(b.rows.map((r) => r.id)).size, b.rows.length, `${b.bench} row ids are unique`);
  for (const r of b.rows) {
    assert.equal(r.bench, b.bench);
    checkRow(r, expect.rounds);
    if (expect.everyRowHasLimit) assert.notEqual(r.limit, null, `${r.id} has a limit`);
    if (expect.everyRowHasAnchor) assert.notEqual(r.anchor, null, `${r.id} has an anchor`);
  }
  finitePositive(b.memory.eid, `${b.bench} eid peak RSS`);
  finitePositive(b.memory.anchor, `${b.bench} anchor peak RSS`);
  assert.ok(b.memory.anchorName.length > 0);
}
