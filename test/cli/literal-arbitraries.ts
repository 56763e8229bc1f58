/**
 * Arbitraries for the `eid rpc` literal parser tests: text made of literal syntax (often deep in the
 * grammar, sometimes past its limits), and the terms an argument can hold.
 */
import fc from 'fast-check';
import { encode } from '../../src/etf/index.ts';
import { atom, Float, ImproperList, Tuple, type Term } from '../../src/etf/terms.ts';

/** Pieces of literal syntax, so random text often gets deep into the grammar. */
const TOKENS = [
  '{',
  '}',
  '[',
  ']',
  '|',
  ',',
  '<<',
  '>>',
  '#{',
  '=>',
  '"',
  "'",
  '\\',
  '-',
  '.',
  'e',
  'e+',
  '1',
  '0',
  '255',
  '256',
  '1.5',
  '1.0e400',
  '-0.0',
  '99999999999999999999',
  'ok',
  'true',
  'A',
  '_',
  '@',
  ' ',
  '\n',
  '\\n',
  '\\x{41}',
  '\\101',
  '\\^a',
  'é',
  '😀',
  '/utf8',
  '/',
  'utf8',
  '<<"é"',
  '<<"a"/utf8,',
  '\0',
];

export const literalTextArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((t) => t.join('')),
  // Deep nesting and long atoms, where a recursive parser or the atom limit give way.
  fc
    .tuple(fc.constantFrom('[', '{', '#{a=>', '[a|', '<<'), fc.integer({ min: 1, max: 20_000 }), fc.boolean())
    .map(([open, depth, closed]) => open.repeat(depth) + (closed ? ']'.repeat(depth) : '')),
  fc.integer({ min: 250, max: 300 }).map((n) => `'${'a'.repeat(n)}'`),
  fc.integer({ min: 250, max: 300 }).map((n) => 'b'.repeat(n)),
);

const floatArb = fc
  .double({ noNaN: true, noDefaultInfinity: true })
  .map((v): Term => (Number.isInteger(v) ? new Float(v) : v));

/** The terms an argument can hold (no pids, ports, references or funs: they have no literal). */
export const literalTermArb: fc.Arbitrary<Term> = fc.letrec<{ term: Term }>((tie) => ({
  term: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
    floatArb,
    fc.string({ unit: 'binary', maxLength: 20 }).map((name) => atom(name)),
    fc.constantFrom<Term>(true, false, atom('ok'), atom("it's"), atom('back\\slash'), atom('')),
    fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)),
    fc.string({ unit: 'binary', maxLength: 12 }).map((s) => Buffer.from(s, 'utf8')),
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 8 }),
    fc.array(tie('term'), { maxLength: 4 }),
    fc.array(tie('term'), { maxLength: 4 }).map((e) => new Tuple(e)),
    fc
      .tuple(fc.array(tie('term'), { minLength: 1, maxLength: 3 }), tie('term'))
      .filter(([, tail]) => !Array.isArray(tail))
      .map(([elements, tail]) => new ImproperList(elements, tail)),
    fc
      .uniqueArray(fc.tuple(tie('term'), tie('term')), {
        maxLength: 3,
        selector: ([k]) => encode(k).toString('hex'),
      })
      .map((pairs) => new Map(pairs)),
  ),
})).term;
