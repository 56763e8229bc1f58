/**
 * compareTerms against Erlang's own term order. compareTerms is the exact order (the one OTP sorts
 * map keys by: integers before floats, 1 < 1.0); off numbers it is also the standard order of < and
 * lists:sort/1. Lists of random terms (from TypeScript, and from the Erlang peer's generator) are
 * sorted by lists:sort/2 in Erlang's exact order and by compareTerms, and each adjacent pair is
 * compared by both.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareTerms } from '../../src/etf/order.ts';
import { decode, encode } from '../../src/etf/index.ts';
import { Float, Fun, ImproperList, Tuple, type Term } from '../../src/etf/terms.ts';
import { formatTerm as show } from '../../src/etf/format.ts';
import { ErlangPeer } from './erlang-peer.ts';
import { termArb } from './arbitraries.ts';

const SEED = Number(process.env['ORDER_SEED'] ?? 0x50e7);
const REPLAY = `replay: ORDER_SEED=${SEED}`;

let peer: ErlangPeer;
before(() => {
  peer = ErlangPeer.start();
});
after(() => peer.stop());

/** Whether a float occurs anywhere in `t`: only there can the exact and the standard order differ. */
function hasFloat(t: Term): boolean {
  if (t instanceof Float || (typeof t === 'number' && !Number.isInteger(t))) return true;
  if (Array.isArray(t)) return t.some(hasFloat);
  if (t instanceof Tuple) return t.elements.some(hasFloat);
  if (t instanceof ImproperList) return t.elements.some(hasFloat) || hasFloat(t.tail);
  if (t instanceof Map) return [...t].some(([k, v]) => hasFloat(k) || hasFloat(v));
  if (t instanceof Fun) return t.free.some(hasFloat);
  return false;
}

/** Asserts that compareTerms orders `list` as Erlang does. */
async function agreesWithErlang(list: Term[]): Promise<void> {
  const reply = decode(await peer.sort(encode(list)));
  assert.ok(reply instanceof Tuple);
  const [sorted, exact, standard] = reply.elements as [Term[], number[], number[]];
  list.slice(1).forEach((b, i) => {
    const a = list[i]!;
    const ours = Math.sign(compareTerms(a, b));
    const pair = `${show(a)} vs ${show(b)} (${REPLAY})`;
    assert.equal(ours, exact[i], `exact order: ${pair}`);
    // Without floats the two orders are one (they differ in 1 < 1.0 against 1 == 1.0).
    if (!hasFloat(a) && !hasFloat(b)) assert.equal(ours, standard[i], `standard order: ${pair}`);
  });
  // Sorted by compareTerms, each position holds the term Erlang sorts there.
  const ours = [...list].sort(compareTerms);
  ours.forEach((t, i) =>
    assert.equal(compareTerms(t, sorted[i]!), 0, `position ${i}: ${show(t)} vs ${show(sorted[i]!)}`),
  );
}

test('compareTerms agrees with Erlang on random TypeScript terms', async () => {
  await fc.assert(fc.asyncProperty(fc.array(termArb, { minLength: 2, maxLength: 8 }), agreesWithErlang), {
    seed: SEED,
    numRuns: 1500,
    endOnFailure: true,
  });
});

test('compareTerms agrees with Erlang on terms Erlang generates, and on near-equal numbers', async () => {
  for (let seed = SEED; seed < SEED + 300; seed += 6) {
    const terms = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (i) => decode(await peer.generate(seed + i, 1 + ((seed + i) % 12)))),
    );
    await agreesWithErlang(terms);
  }
  // Integers against floats where doubles lose precision; zero of both signs.
  const big = 2n ** 53n;
  const float = (v: number) => new Float(v);
  await agreesWithErlang([big + 1n, float(2 ** 53), big, float(-0), float(0), 0, 1, float(1), -(2n ** 64n)]);
  await agreesWithErlang([float(-(2 ** 64)), -(2n ** 64n), big - 1n, float(2 ** 53 - 1), float(0.5), 0]);
  await agreesWithErlang([float(2.5), float(-1e300), float(1e-300), float(-0), float(0), float(2.5)]);
});
