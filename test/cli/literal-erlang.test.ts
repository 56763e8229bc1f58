/**
 * `eid rpc` literals against Erlang's own parser (erl_scan + erl_parse:parse_term in the ETF
 * peer): every text parseLiteral accepts, Erlang reads as the same term; and what Erlang prints
 * for a term (~tw and ~tp) parseLiteral reads back as that term.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseLiteral } from '../../src/cli/rpc.ts';
import { EidError } from '../../src/errors.ts';
import { decode, encode } from '../../src/etf/index.ts';
import { Tuple, type Term } from '../../src/etf/terms.ts';
import { formatTerm } from '../../src/etf/format.ts';
import { ErlangPeer } from '../etf/erlang-peer.ts';
import { literalTermArb, literalTextArb } from './literal-arbitraries.ts';

const SEED = Number(process.env['LITERAL_FUZZ_SEED'] ?? 0x11e4a1);
const REPLAY = `replay: LITERAL_FUZZ_SEED=${SEED}`;

let peer: ErlangPeer;
before(() => {
  peer = ErlangPeer.start();
});
after(() => peer.stop());

/** Our reading of `text`, or undefined for the CLI's usage error. */
function ours(text: string): Term | undefined {
  try {
    return parseLiteral(text);
  } catch (err) {
    if (err instanceof EidError && err.code === 'CLI_USAGE') return undefined;
    throw err;
  }
}

const hex = (t: Term) => encode(t).toString('hex');

test('every text parseLiteral accepts, erl_parse:parse_term reads as the same term', async () => {
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(literalTextArb, async (text) => {
      const term = ours(text);
      if (term === undefined) return;
      accepted++;
      const theirs = decode(await peer.parseTerm(text));
      const label = `${JSON.stringify(text.slice(0, 200))} (${REPLAY})`;
      assert.ok(theirs instanceof Tuple, `Erlang does not read ${label} as a term`);
      assert.equal(hex(term), hex(theirs.elements[1]!), `Erlang reads ${label} as another term`);
    }),
    { seed: SEED, numRuns: 4000, endOnFailure: true },
  );
  assert.ok(accepted > 200, `only ${accepted} texts parsed`);
});

test('what Erlang prints for a term (~tw, ~tp) parseLiteral reads as that term', async () => {
  await fc.assert(
    fc.asyncProperty(literalTermArb, async (term) => {
      const texts = decode(await peer.print(encode(term))) as Uint8Array[];
      for (const bytes of texts) {
        const text = Buffer.from(bytes).toString('utf8');
        const back = ours(text);
        assert.ok(back !== undefined, `Erlang's ${text} does not parse (${REPLAY})`);
        assert.equal(hex(back), hex(term), `Erlang's ${text} parsed as another term (${REPLAY})`);
      }
    }),
    { seed: SEED, numRuns: 1500, endOnFailure: true },
  );
});

test('binary strings read as Erlang reads them: Latin-1 bare, UTF-8 with /utf8; formatTerm writes what Erlang reads back', async () => {
  const erlang = async (text: string): Promise<Term> => {
    const reply = decode(await peer.parseTerm(text));
    assert.ok(reply instanceof Tuple, `Erlang does not read ${text}`);
    return reply.elements[1]!;
  };
  for (const text of ['<<"é">>', '<<"é"/utf8>>', '<<"a", 1, "€"/utf8>>', '<<"ÿ\\n"/utf8, 255>>']) {
    assert.equal(hex(ours(text)!), hex(await erlang(text)), text);
  }
  // Bare <<"é">> is the one byte 233 in Erlang: it was read as UTF-8 (two bytes) before.
  assert.deepEqual(ours('<<"é">>'), Buffer.of(0xe9));
  assert.equal(
    ours('<<"€">>'),
    undefined,
    'Erlang keeps only the low 8 bits of €: refused rather than guessed',
  );
  for (const bytes of [
    Buffer.from('é', 'utf8'),
    Buffer.from('naïve 😀\n', 'utf8'),
    Buffer.of(0xe9),
    Buffer.from('abc'),
  ]) {
    const text = formatTerm(bytes);
    assert.equal(hex(await erlang(text)), hex(bytes), `Erlang reads ${text} as another binary`);
    assert.equal(hex(ours(text)!), hex(bytes), text);
  }
  assert.equal(formatTerm(Buffer.from('é', 'utf8')), '<<"é"/utf8>>');
});
