import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { eidBin } from '../support/processes.ts';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

// The installed command: bin/eid.js runs the compiled dist/, as users get it from npm.
const eid = (args: string[]) => run(process.execPath, [eidBin, ...args]);

test('eid --version prints the package version', async () => {
  const { stdout } = await eid(['--version']);
  assert.equal(stdout.trim(), pkg.version);
});

test('eid --help lists usage', async () => {
  const { stdout } = await eid(['--help']);
  assert.match(stdout, /Usage: eid <command>/);
});

test('eid with an unknown command exits 2 with usage on stderr', async () => {
  await assert.rejects(eid(['no-such-command']), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 2);
    assert.match(err.stderr, /unknown command 'no-such-command'/);
    return true;
  });
});
