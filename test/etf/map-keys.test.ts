/**
 * Issue 9 item 6: duplicate map keys are found in time linear in the input. Keys that are maps
 * holding maps as keys used to be re-encoded at every level (quadratic in the depth).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode, DecodeError, encode, Float, Tag, termEquals, tuple, type Term } from '../../src/index.ts';
import { KeyIdentities, keyIdentityWork } from '../../src/etf/key-identity.ts';
import { termArb } from './arbitraries.ts';

/** `#{#{#{... 1 ...} => 1} => 1}`: `depth` maps, each the only key of the next, each key also in a tuple. */
function nestedKeys(depth: number): Buffer {
  let key: Term = 1;
  for (let i = 0; i < depth; i++) key = new Map<Term, Term>([[tuple(key, i), i]]);
  return encode(key);
}

/** Sub-terms the duplicate check visits to decode `bytes`. */
function keyWork(bytes: Buffer): number {
  const before = keyIdentityWork.visits;
  decode(bytes);
  return keyIdentityWork.visits - before;
}

test('nested map keys: the duplicate check does work linear in the depth, not quadratic', () => {
  const depth = 200;
  const work = keyWork(nestedKeys(depth));
  const doubled = keyWork(nestedKeys(2 * depth));
  // Each level has a constant number of sub-terms (tuple, its two elements, the map's value).
  assert.ok(work <= 5 * depth, `${work} visits for depth ${depth}`);
  assert.ok(doubled <= 2.1 * work, `depth ${2 * depth}: ${doubled} visits, depth ${depth}: ${work}`);
  // The check still runs at every level: a duplicate at the bottom is found.
  const inner = new Map<Term, Term>([[tuple(1), 1]]);
  const bytes = Buffer.from(encode(new Map<Term, Term>([[tuple(inner), 1]])));
  const twice = Buffer.concat([
    Buffer.from([Tag.Version, Tag.Map, 0, 0, 0, 2]),
    encode(tuple(1), { versionByte: false }),
    Buffer.from([Tag.SmallInteger, 1]),
    encode(tuple(1), { versionByte: false }),
    Buffer.from([Tag.SmallInteger, 2]),
  ]);
  assert.ok(decode(bytes) instanceof Map);
  assert.throws(() => decode(twice), DecodeError);
});

/** MAP_EXT of `entries` (small integers), in the order given, without version byte. */
function smallIntegerMap(entries: [number, number][]): number[] {
  const out = [Tag.Map, 0, 0, 0, entries.length];
  for (const [k, v] of entries) out.push(Tag.SmallInteger, k, Tag.SmallInteger, v);
  return out;
}

test('map keys that are maps with the same entries in another order are duplicates, as binary_to_term says', () => {
  // Both checked on OTP 25: binary_to_term raises badarg. Over 32 keys the order used to matter.
  for (const size of [2, 33]) {
    const entries = Array.from({ length: size }, (_, i): [number, number] => [i + 1, i + 101]);
    const bytes = Buffer.from([
      ...[Tag.Version, Tag.Map, 0, 0, 0, 2],
      ...smallIntegerMap(entries),
      ...[Tag.SmallInteger, 1],
      ...smallIntegerMap([...entries].reverse()),
      ...[Tag.SmallInteger, 2],
    ]);
    assert.throws(
      () => decode(bytes),
      (err: unknown) => err instanceof DecodeError && /duplicate map key/.test(err.message),
      `maps of ${size} keys`,
    );
  }
});

test('key identities agree with termEquals on decoded terms', () => {
  const ids = new KeyIdentities();
  // Pairs that are often equal: a term and its decoded copy, or two terms from a small pool.
  const small = fc.oneof(
    fc.constantFrom<Term>(0, 1, 1.5, new Float(1), new Float(-0), new Float(0), [], [0], tuple(), tuple(0)),
    termArb,
  );
  fc.assert(
    fc.property(small, small, (a, b) => {
      const da = decode(encode(a));
      const db = decode(encode(b));
      assert.equal(ids.of(da), ids.of(decode(encode(a))), 'a decoded copy has the same identity');
      assert.equal(ids.of(da) === ids.of(db), termEquals(da, db));
    }),
    { numRuns: 500 },
  );
});
