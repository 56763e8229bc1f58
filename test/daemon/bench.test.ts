/**
 * `npm run bench:daemon -- --quick` end to end on Docker test hosts (set 3, the bench's own):
 * every row of its JSON result is complete. No speed is asserted: quick figures mean nothing.
 */
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import type { BenchResult } from '../../bench/harness.ts';
import { checkBench } from '../bench-summary.ts';

test('bench:daemon --quick writes a complete result', async () => {
  const json = join(mkdtempSync(join(tmpdir(), 'eid-bench-daemon-')), 'daemon.json');
  const bench = new URL('../../bench/daemon.ts', import.meta.url).pathname;
  await promisify(execFile)(process.execPath, ['--import', 'tsx', bench, '--quick', '--json', json], {
    timeout: 900_000,
    maxBuffer: 16 << 20,
  });
  const result = JSON.parse(readFileSync(json, 'utf8')) as BenchResult;
  checkBench(result, { rounds: 3, everyRowHasLimit: false, everyRowHasAnchor: true });
  assert.deepEqual(
    result.rows.map((r) => r.id),
    ['daemon.rate', 'daemon.p99', 'daemon.rate-vs-registered', 'daemon.catalog', 'daemon.first-ping'],
  );
  for (const id of ['daemon.rate', 'daemon.p99'])
    assert.notEqual(result.rows.find((r) => r.id === id)?.limit, null);
});
