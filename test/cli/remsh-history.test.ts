/**
 * eid remsh's history file (src/cli/remsh-history.ts): where it lives and how to turn it off, its
 * mode, its bound, sessions side by side, and files it did not write (huge, garbage, widened).
 * The terminal recalling a line of an earlier session with Up: test/cli/remsh-tls.test.ts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { HISTORY_ENTRIES, MAX_ENTRY_CHARS, HistoryFile, historyPath } from '../../src/cli/remsh-history.ts';
import { fuzzing } from '../fuzz.ts';

const dir = mkdtempSync(join(tmpdir(), 'eid-remsh-history-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const fresh = () => join(dir, `h${files++}`, 'eid', 'remsh_history');

test('the path: EID_REMSH_HISTORY, else XDG_STATE_HOME, else ~/.local/state; empty turns it off', () => {
  assert.equal(historyPath({}, '/home/op'), '/home/op/.local/state/eid/remsh_history');
  assert.equal(historyPath({ XDG_STATE_HOME: '/st' }, '/home/op'), '/st/eid/remsh_history');
  assert.equal(
    historyPath({ XDG_STATE_HOME: 'relative' }, '/home/op'),
    '/home/op/.local/state/eid/remsh_history',
    'a relative XDG_STATE_HOME is ignored, as the XDG spec says',
  );
  assert.equal(historyPath({ EID_REMSH_HISTORY: '/h', XDG_STATE_HOME: '/st' }, '/home/op'), '/h');
  assert.equal(historyPath({ EID_REMSH_HISTORY: '', XDG_STATE_HOME: '/st' }, '/home/op'), undefined);
});

test('lines are kept newest first, blank ones not; the file and its new directory are private', () => {
  const path = fresh();
  const history = new HistoryFile(path);
  assert.deepEqual(history.load(), [], 'no file yet');
  for (const line of ['node().', '   ', '', 'lists:seq(1,', '3).']) history.add(line);
  assert.deepEqual(new HistoryFile(path).load(), ['3).', 'lists:seq(1,', 'node().']);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
});

test('two sessions side by side both keep their lines; a later one sees them all', () => {
  const path = fresh();
  const one = new HistoryFile(path);
  const two = new HistoryFile(path);
  one.load();
  two.load();
  one.add('a().');
  two.add('b().');
  one.add('c().');
  assert.deepEqual(new HistoryFile(path).load(), ['c().', 'b().', 'a().']);
});

test('a repeated line is recalled once, at its newest place', () => {
  const path = fresh();
  const history = new HistoryFile(path);
  for (const line of ['x.', 'y.', 'x.', 'z.', 'x.']) history.add(line);
  assert.deepEqual(new HistoryFile(path).load(), ['x.', 'z.', 'y.']);
});

test('the bound: a session loads the newest entries; the file is cut back once it holds twice the bound', () => {
  const path = fresh();
  const bound = 5;
  const history = new HistoryFile(path, bound);
  history.load();
  for (let i = 0; i < 2 * bound - 1; i++) history.add(`e${i}.`);
  assert.equal(readFileSync(path, 'utf8').split('\n').length - 1, 2 * bound - 1, 'not cut yet');
  assert.deepEqual(new HistoryFile(path, bound).load(), ['e8.', 'e7.', 'e6.', 'e5.', 'e4.']);
  history.add('e9.');
  assert.equal(readFileSync(path, 'utf8'), 'e5.\ne6.\ne7.\ne8.\ne9.\n');
  assert.equal(statSync(path).mode & 0o777, 0o600, 'the rewritten file is private too');
  assert.equal(HISTORY_ENTRIES, 1000);
});

test('a line too long to be worth recalling is not saved', () => {
  const path = fresh();
  const history = new HistoryFile(path);
  history.add('x'.repeat(MAX_ENTRY_CHARS + 1));
  history.add('kept.');
  assert.deepEqual(new HistoryFile(path).load(), ['kept.']);
});

test('a file made readable by others is made private again; an unwritable path is no error', () => {
  const path = fresh();
  new HistoryFile(path).add('secret().');
  chmodSync(path, 0o644);
  assert.deepEqual(new HistoryFile(path).load(), ['secret().']);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const blocked = join(dir, 'a-file');
  writeFileSync(blocked, '');
  const nowhere = new HistoryFile(join(blocked, 'remsh_history'));
  assert.deepEqual(nowhere.load(), []);
  assert.doesNotThrow(() => nowhere.add('lost.'));
});

test('a huge file is read from its tail only, starting at a whole line', () => {
  const path = join(dir, 'huge');
  const bound = 3;
  const filler = `${'f'.repeat(MAX_ENTRY_CHARS)}\n`.repeat(2 * bound + 10);
  writeFileSync(path, `first.\n${filler}last.\n`);
  const loaded = new HistoryFile(path, bound).load();
  assert.deepEqual(loaded, ['last.', 'f'.repeat(MAX_ENTRY_CHARS)]);
});

test('fuzz: any bytes in the file load as at most the bound of single lines, never an error', () => {
  /** load() throws nothing at all: no error class may escape the guard. */
  class NeverThrown extends Error {}
  const fuzz = fuzzing('HISTORY_FUZZ_SEED', 0x1414, NeverThrown);
  const path = join(dir, 'fuzzed');
  const bound = 8;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      writeFileSync(path, bytes);
      const loaded = fuzz.guarded('load', () => new HistoryFile(path, bound).load());
      assert.ok(Array.isArray(loaded), fuzz.replay);
      writeFileSync(path, Buffer.concat([Buffer.from(bytes), Buffer.from('\nnewest.\n')]));
      assert.equal(new HistoryFile(path, bound).load()[0], 'newest.', fuzz.replay);
      assert.ok(loaded.length <= bound, fuzz.replay);
      for (const line of loaded) assert.ok(!line.includes('\n') && line.trim() !== '', fuzz.replay);
      assert.equal(new Set(loaded).size, loaded.length, fuzz.replay);
    }),
    fuzz.runs(100),
  );
});
