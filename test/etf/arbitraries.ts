/** fast-check generators for terms in the exact shape decode returns (docs/etf.md). */
import fc from 'fast-check';
import {
  atom,
  BitString,
  encode,
  ExportFun,
  Float,
  ImproperList,
  Pid,
  Port,
  Reference,
  Tuple,
  type Atom,
  type Term,
} from '../../src/index.ts';

const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const atomArb: fc.Arbitrary<Atom | boolean> = fc
  .oneof(
    fc.constantFrom('true', 'false', 'undefined', 'nil', '', 'ok', 'error'),
    fc.string({ unit: 'binary', maxLength: 255 }),
    fc.string({ unit: 'binary-ascii', minLength: 200, maxLength: 255 }),
  )
  .map((name) => (name === 'true' ? true : name === 'false' ? false : atom(name)));

/** Node names of other nodes: the peer's own node (nonode@nohost) has stricter rules for local ids. */
const nodeArb = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 40 })
  .filter((name) => name !== 'nonode@nohost')
  .map((name) => atom(name));

const integerArb: fc.Arbitrary<Term> = fc
  .oneof(
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: -0x80000000, max: 0x7fffffff }),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
    fc.bigInt({ min: -(2n ** 4000n), max: 2n ** 4000n }),
  )
  .map((n) =>
    typeof n === 'bigint' && n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(n)
      : n,
  );

const floatArb: fc.Arbitrary<Term> = fc
  .oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 1, -1, 1e300, 2 ** 53))
  .map((v) => (Number.isInteger(v) ? new Float(v) : v));

const binaryArb = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b));

const bitStringArb = fc
  .tuple(fc.uint8Array({ minLength: 1, maxLength: 16 }), fc.integer({ min: 1, max: 7 }))
  .map(([bytes, bits]) => {
    const copy = Buffer.from(bytes);
    copy[copy.length - 1] = copy[copy.length - 1]! & ((0xff << (8 - bits)) & 0xff);
    return new BitString(copy, bits);
  });

const pidArb = fc
  .tuple(nodeArb, u32, u32, u32)
  .map(([node, id, serial, creation]) => new Pid(node, id, serial, creation));
const portArb = fc
  .tuple(nodeArb, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), u32)
  .map(([node, id, creation]) => new Port(node, id, creation));
const referenceArb = fc
  .tuple(nodeArb, u32, fc.array(u32, { minLength: 1, maxLength: 5 }))
  .map(([node, creation, ids]) => new Reference(node, creation, ids));
const exportArb = fc
  .tuple(atomArb, atomArb, fc.integer({ min: 0, max: 255 }))
  .map(([m, f, arity]) => new ExportFun(toAtom(m), toAtom(f), arity));

function toAtom(a: Atom | boolean): Atom {
  return typeof a === 'boolean' ? atom(String(a)) : a;
}

const leafArb: fc.Arbitrary<Term> = fc.oneof(
  integerArb,
  floatArb,
  atomArb,
  binaryArb,
  bitStringArb,
  fc.constant<Term>([]),
  fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 30 }),
  pidArb,
  portArb,
  referenceArb,
  exportArb,
);

/**
 * A key for "distinct map keys": the canonical encoding, with -0.0 read as 0.0 because OTP 25
 * (unlike OTP 27) treats them as the same key.
 */
const NEGATIVE_ZERO = '\x46\x80' + '\0'.repeat(7);
const termKey = (t: Term): string =>
  encode(t)
    .toString('latin1')
    .replaceAll(NEGATIVE_ZERO, '\x46' + '\0'.repeat(8));

export const termArb: fc.Arbitrary<Term> = fc.letrec<{ term: Term }>((tie) => ({
  term: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('term'), { maxLength: 6 }),
    fc
      .tuple(fc.array(tie('term'), { minLength: 1, maxLength: 4 }), leafArb)
      .filter(([, tail]) => !Array.isArray(tail))
      .map(([elements, tail]) => new ImproperList(elements, tail)),
    fc.array(tie('term'), { maxLength: 6 }).map((elements) => new Tuple(elements)),
    fc
      .uniqueArray(fc.tuple(tie('term'), tie('term')), { maxLength: 6, selector: ([k]) => termKey(k) })
      .map((pairs) => new Map(pairs)),
  ),
})).term;

/** Whether a map of more than 32 keys occurs anywhere (OTP writes those in its internal hash order). */
export function hasLargeMap(t: Term): boolean {
  if (t instanceof Map) return t.size > 32 || [...t].some(([k, v]) => hasLargeMap(k) || hasLargeMap(v));
  if (Array.isArray(t)) return t.some(hasLargeMap);
  if (t instanceof Tuple) return t.elements.some(hasLargeMap);
  if (t instanceof ImproperList) return t.elements.some(hasLargeMap) || hasLargeMap(t.tail);
  return false;
}
