/**
 * The logger never writes control characters it was given (peer names and reasons reach it),
 * and LogSummary turns a flood of events into one line per interval.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, escapeControls, LogSummary, type LogFormat } from '../src/log.ts';

// eslint-disable-next-line no-control-regex -- what must never reach the output
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
const nasty = 'a\u001b[31mred\u0007\n\u007f\u009b2J\u2028z';

for (const format of ['pretty', 'json'] as LogFormat[]) {
  test(`${format}: C0, DEL, C1 and separator characters in the message, keys and values are escaped`, () => {
    const lines: string[] = [];
    const log = createLogger({ format, write: (l) => lines.push(l) });
    log.warn(`msg ${nasty}`, {
      node: nasty,
      [`k${nasty}`]: 1,
      nested: { reason: [nasty] },
      plain: 'noSpace\u001b',
    });
    assert.equal(lines.length, 1);
    assert.doesNotMatch(lines[0]!, RAW_CONTROL, lines[0]);
    assert.match(lines[0]!, /\\u001b\[31mred/);
    assert.match(lines[0]!, /\\u009b2J/);
    if (format === 'json') {
      const parsed = JSON.parse(lines[0]!) as Record<string, unknown>;
      assert.equal(parsed.node, nasty);
      assert.equal(parsed.msg, `msg ${nasty}`);
    }
  });
}

test('escapeControls leaves ordinary text (and non-ASCII letters) alone', () => {
  assert.equal(escapeControls('node@host ä 日本'), 'node@host ä 日本');
  assert.equal(escapeControls('\u001b'), '\\u001b');
});

test('LogSummary: counts per key, one line per flush; with firstMsg the first of each key is logged at once', () => {
  const lines: string[] = [];
  const log = createLogger({ format: 'json', write: (l) => lines.push(l) });
  const plain = new LogSummary(log, 'refused');
  for (let i = 0; i < 5; i++) plain.count('too many');
  plain.count('timeout');
  assert.equal(lines.length, 0);
  plain.flush();
  plain.flush();
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]!).reasons, { 'too many': 5, timeout: 1 });
  lines.length = 0;
  const first = new LogSummary(log, 'failed', { firstMsg: 'one failed', field: 'codes' });
  first.count('A', { peer: 'p1' });
  first.count('A', { peer: 'p2' });
  first.count('B', { peer: 'p3' });
  assert.deepEqual(
    lines.map((l) => JSON.parse(l).peer),
    ['p1', 'p3'],
  );
  first.flush();
  assert.deepEqual(JSON.parse(lines[2]!).codes, { A: 1 });
  assert.equal(lines.length, 3);
});
