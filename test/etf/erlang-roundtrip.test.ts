/**
 * Property tests against one long-lived real Erlang process (etf_peer.erl):
 *  - random TypeScript terms: TS encode → Erlang binary_to_term → term_to_binary → TS decode, deep-equal;
 *  - random Erlang terms: Erlang term_to_binary → TS decode → TS encode → Erlang compares =:=.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { atom, decode, encode, type Term } from '../../src/index.ts';
import { ErlangPeer } from './erlang-peer.ts';
import { hasLargeMap, termArb } from './arbitraries.ts';

const TS_TO_ERLANG_RUNS = 5000;
const ERLANG_TO_TS_RUNS = 10000;
/** A fresh range of Erlang seeds each run (more coverage across runs); ETF_SEED=<n> replays one. */
const BASE_SEED = Number(process.env['ETF_SEED'] ?? Math.floor(Math.random() * 2 ** 30));

let peer: ErlangPeer;
before(() => {
  peer = ErlangPeer.start();
});
after(() => peer.stop());

test(`TS terms survive Erlang binary_to_term/term_to_binary (${TS_TO_ERLANG_RUNS} cases)`, async () => {
  await fc.assert(
    fc.asyncProperty(termArb, async (term) => {
      const ours = encode(term);
      const theirs = await peer.roundTrip(ours);
      assert.deepStrictEqual(decode(theirs), term);
      assert.ok(encode(decode(theirs)).equals(theirs), 'OTP bytes re-encode identically');
      // Same bytes as OTP's encoder, maps sorted by key included (only maps over 32 keys use hash order).
      if (!hasLargeMap(term)) assert.equal(ours.toString('hex'), theirs.toString('hex'));
    }),
    { numRuns: TS_TO_ERLANG_RUNS },
  );
});

test(`Erlang-generated terms decode and re-encode to =:= terms and identical bytes (${ERLANG_TO_TS_RUNS} cases)`, async () => {
  for (let seed = BASE_SEED; seed < BASE_SEED + ERLANG_TO_TS_RUNS; seed++) {
    const theirs = await peer.generate(seed, 1 + (seed % 60));
    const term = decode(theirs);
    const ours = encode(term);
    assert.equal(
      ours.toString('hex'),
      theirs.toString('hex'),
      `seed ${seed} (replay: ETF_SEED=${BASE_SEED})`,
    );
    assert.ok(
      await peer.sameTerm(theirs, ours),
      `seed ${seed}: Erlang says not =:= (replay: ETF_SEED=${BASE_SEED})`,
    );
    if (seed % 10 === 0) {
      assert.ok(await peer.sameTerm(theirs, encode(term, { compressed: 9 })), `seed ${seed} compressed`);
    }
  }
});

test('JS strings reach Erlang as UTF-8 binaries and plain objects as maps with atom keys', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.dictionary(fc.string({ unit: 'binary-ascii', maxLength: 20 }), fc.integer()),
      async (text, object) => {
        assert.deepStrictEqual(decode(await peer.roundTrip(encode(text))), Buffer.from(text, 'utf8'));
        const asMap = new Map<Term, Term>(Object.entries(object).map(([k, v]) => [atom(k), v]));
        assert.deepStrictEqual(decode(await peer.roundTrip(encode(object))), asMap);
      },
    ),
    { numRuns: 300 },
  );
});

test('lists of bytes: STRING_EXT up to 65535 elements, LIST_EXT beyond, as OTP writes them', async () => {
  for (const length of [0, 1, 65535, 65536]) {
    const list = Array.from({ length }, (_, i) => i % 256);
    const ours = encode(list);
    assert.equal((await peer.roundTrip(ours)).toString('hex'), ours.toString('hex'), `length ${length}`);
  }
});
