/** The option readers every subcommand shares: ports go through src/ports.ts and accept what they always did. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { integerOption, listenPortOption, portOption, runCommand } from '../../src/cli/command.ts';
import { EidError } from '../../src/errors.ts';

const usage = (e: unknown) => e instanceof EidError && e.code === 'CLI_USAGE';

/** What the port flags accepted when they were integerOption(name, raw, min, 65535). */
function accepted(raw: string, min: number): number | undefined {
  try {
    return integerOption('--port', raw, min, 65535);
  } catch (err) {
    assert.ok(usage(err));
    return undefined;
  }
}

const portText = fc.oneof(
  fc.integer({ min: -5, max: 70_000 }).map(String),
  fc.constantFrom('0', '00', '0080', '65535', '65536', '', ' 80', '80 ', '0x50', '1e3', '8.0', '+80', '-0'),
  fc.string({ maxLength: 8 }),
);

/** `read` accepts exactly what integerOption(name, raw, min, 65535) did, and gives the same number. */
function acceptsAsBefore(read: (name: string, raw: string) => number, min: number): void {
  fc.assert(
    fc.property(portText, (raw) => {
      const want = accepted(raw, min);
      if (want === undefined) assert.throws(() => read('--port', raw), usage);
      else assert.equal(read('--port', raw), want);
    }),
    { numRuns: 5_000 },
  );
}

test('port flags (--port, --epmd-port, --listen-port): 1..65535, the same values as before', () => {
  acceptsAsBefore(portOption, 1);
  assert.throws(() => portOption('--port', 'nope'), /--port must be an integer from 1 to 65535, not 'nope'/);
});

test("eid epmd's --port: 0 (any free port) to 65535, the same values as before", () => {
  acceptsAsBefore(listenPortOption, 0);
  assert.equal(listenPortOption('--port', '0'), 0);
  assert.throws(
    () => listenPortOption('--port', '65536'),
    /--port must be an integer from 0 to 65535, not '65536'/,
  );
});

test('runCommand: usage errors exit 2, library errors exit 1, anything else is thrown', async () => {
  const stderr = process.stderr.write.bind(process.stderr);
  let written = '';
  process.stderr.write = ((chunk: string) => {
    written += chunk;
    return true;
  }) as typeof process.stderr.write;
  try {
    assert.equal(await runCommand('x', () => Promise.resolve(0)), 0);
    assert.equal(await runCommand('x', () => Promise.reject(new EidError('CLI_USAGE', 'bad flag'))), 2);
    assert.equal(written, 'eid x: bad flag\n(see eid x --help)\n');
    written = '';
    assert.equal(await runCommand('x', () => Promise.reject(new EidError('EPMD_REFUSED', 'refused'))), 1);
    assert.equal(written, 'eid x: refused\n');
    await assert.rejects(
      runCommand('x', () => Promise.reject(new TypeError('bug'))),
      TypeError,
    );
  } finally {
    process.stderr.write = stderr;
  }
});
