/**
 * Fuzzing the `eid rpc` argument parser: any text gives a term that can be sent or the CLI's usage
 * error (EidError CLI_USAGE), never another exception or a hang; and what formatTerm prints for
 * the terms an argument can hold parses back to the same term.
 * Deterministic: LITERAL_FUZZ_SEED=<n> replays another seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { parseLiteral } from '../../src/cli/rpc.ts';
import { EidError } from '../../src/errors.ts';
import { encode, formatTerm } from '../../src/etf/index.ts';
import { atom, Float, type Term } from '../../src/etf/terms.ts';
import { literalTermArb, literalTextArb } from './literal-arbitraries.ts';

const SEED = Number(process.env['LITERAL_FUZZ_SEED'] ?? 0x11e4a1);
const REPLAY = `replay: LITERAL_FUZZ_SEED=${SEED}`;
/** A hang guard, not a speed test. */
const HANG_BOUND_MS = 2_000;

function runs(numRuns: number): fc.Parameters<unknown> {
  return { seed: SEED, numRuns, endOnFailure: true };
}

/** Parses `text`: the term, or undefined for the usage error; anything else fails the test. */
function tryParse(text: string): Term | undefined {
  const start = performance.now();
  try {
    return parseLiteral(text);
  } catch (err) {
    if (err instanceof EidError && err.code === 'CLI_USAGE') return undefined;
    assert.fail(`${String(err)} escaped for ${JSON.stringify(text.slice(0, 200))} (${REPLAY})`);
  } finally {
    const elapsed = performance.now() - start;
    assert.ok(elapsed < HANG_BOUND_MS, `parse took ${elapsed} ms (${REPLAY})`);
  }
}

test('random text is a term that encodes, or the usage error', () => {
  let parsed = 0;
  fc.assert(
    fc.property(literalTextArb, (text) => {
      const term = tryParse(text);
      if (term === undefined) return;
      parsed++;
      // What parses is sendable: an rpc argument that cannot be encoded is a usage mistake too.
      assert.doesNotThrow(
        () => encode(term),
        `${JSON.stringify(text.slice(0, 200))} parsed but does not encode`,
      );
    }),
    runs(10_000),
  );
  assert.ok(parsed > 500, `only ${parsed} parsed`);
});

// Round trip -------------------------------------------------------------------------------------

test('formatTerm then parseLiteral gives back the same term', () => {
  fc.assert(
    fc.property(literalTermArb, (term) => {
      const text = formatTerm(term);
      const back = tryParse(text);
      assert.ok(back !== undefined, `${text} does not parse back (${REPLAY})`);
      assert.equal(
        encode(back).toString('hex'),
        encode(term).toString('hex'),
        `${text} parsed back differently`,
      );
    }),
    runs(5_000),
  );
});

test('escapes read as Erlang reads them; floats, atoms and nesting past the limits are usage errors', () => {
  const same = (text: string, expected: Term) =>
    assert.equal(encode(parseLiteral(text)).toString('hex'), encode(expected).toString('hex'), text);
  same(
    '"a\\nb\\t\\\\\\"\\s\\e\\d"',
    [...'a\nb\t\\" \x1b\x7f'].map((c) => c.charCodeAt(0)),
  );
  same("'\\101\\x42\\x{43}\\^a'", atom('ABC\x01'));
  same('<<"\\n">>', Buffer.from('\n'));
  same('1.0e-7', 1e-7);
  assert.equal(formatTerm(1e-7), '1.0e-7');
  assert.equal(formatTerm(new Float(1e21)), '1.0e+21');
  assert.equal(formatTerm(new Float(-0)), '-0.0');
  const usage = (text: string) =>
    assert.throws(
      () => parseLiteral(text),
      (e: unknown) => e instanceof EidError && e.code === 'CLI_USAGE',
      text.slice(0, 40),
    );
  usage('1.0e400');
  usage(`'${'a'.repeat(256)}'`);
  usage('a'.repeat(256));
  usage('['.repeat(100_000));
  usage(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
  usage('"\\x{110000}"');
  same(`'${'é'.repeat(255)}'`, atom('é'.repeat(255)));
});

test('a binary that is not valid UTF-8 prints as bytes, even when its length matches the text it decodes to', () => {
  // F2 BB BD is a cut-off 4-byte sequence: it decodes to U+FFFD, itself 3 bytes.
  const bytes = Buffer.from([0x2c, 0x50, 0xf2, 0xbb, 0xbd]);
  assert.equal(formatTerm(bytes), '<<44,80,242,187,189>>');
  assert.deepEqual(parseLiteral(formatTerm(bytes)), bytes);
});
