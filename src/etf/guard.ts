/**
 * Runtime checks of term shapes that are also TypeScript type guards, so a received term can be
 * given a type honestly: `check(is.tuple(is.atom('ok'), is.string), reply)` is typed
 * `Tuple & { elements: [Atom, string] }` and throws {@link TermMismatchError} otherwise, and
 * `proc.receive(guard)` is a selective receive of the messages of that shape.
 */
import { TermMismatchError } from '../errors.ts';
import { formatTerm } from './format.ts';
import { Atom, Float, isMapObject, Pid, Reference, Tuple, type Term } from './terms.ts';

/** A type guard that also says what it expects (for error messages). */
export interface Guard<T> {
  (value: unknown): value is T;
  readonly expected: string;
}

/** The type a guard checks for. */
export type Guarded<G> = G extends Guard<infer T> ? T : never;

/** A tuple whose elements are known: what `is.tuple` checks for. */
export type TupleOf<T extends readonly unknown[]> = Tuple & { readonly elements: T };

function guard<T>(expected: string, test: (value: unknown) => boolean): Guard<T> {
  return Object.assign((value: unknown): value is T => test(value), { expected });
}

type GuardsOf<T extends readonly unknown[]> = { readonly [K in keyof T]: Guard<T[K]> };

/** Guards for the shapes of terms; combine them, then `check` a value or `receive` by one. */
export const is = {
  /** Anything (a term). */
  any: guard<Term>('term()', () => true),
  /** An atom, or the atom `name` (`true`/`false` decode to booleans: use `is.boolean`). */
  atom: (name?: string): Guard<Atom> =>
    name === undefined
      ? guard('atom()', (v) => v instanceof Atom)
      : guard(formatTerm(new Atom(name)), (v) => v instanceof Atom && v.name === name),
  boolean: guard<boolean>('boolean()', (v) => typeof v === 'boolean'),
  /** A JS string: a UTF-8 binary in the JS-friendly mapping (`terms: 'js'`). */
  string: guard<string>('string()', (v) => typeof v === 'string'),
  /** A binary in either form: bytes, or a string in the JS-friendly mapping. */
  binary: guard<Uint8Array | string>('binary()', (v) => v instanceof Uint8Array || typeof v === 'string'),
  /** An integer: a number, or a bigint past 2^53. */
  integer: guard<number | bigint>(
    'integer()',
    (v) => (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint',
  ),
  /** An integer or a float (`Float` for integral floats). */
  number: guard<number | bigint | Float>(
    'number()',
    (v) => typeof v === 'number' || typeof v === 'bigint' || v instanceof Float,
  ),
  pid: guard<Pid>('pid()', (v) => v instanceof Pid),
  reference: guard<Reference>('reference()', (v) => v instanceof Reference),
  /** A proper list whose every element passes `of`. */
  list: <T>(of: Guard<T>): Guard<T[]> =>
    guard(`[${of.expected}]`, (v) => Array.isArray(v) && v.every((e) => of(e))),
  /** A tuple of exactly these elements. */
  tuple: <T extends readonly unknown[]>(...elements: GuardsOf<T>): Guard<TupleOf<T>> =>
    guard(
      `{${elements.map((g) => g.expected).join(',')}}`,
      (v) =>
        v instanceof Tuple &&
        v.elements.length === elements.length &&
        elements.every((g, i) => g(v.elements[i])),
    ),
  /**
   * An object of the JS-friendly mapping (or a plain object) with these keys, each passing its
   * guard; other keys may be there too.
   */
  object: <S extends Record<string, Guard<unknown>>>(shape: S): Guard<{ [K in keyof S]: Guarded<S[K]> }> =>
    guard(
      `#{${Object.entries(shape)
        .map(([k, g]) => `${k} := ${g.expected}`)
        .join(', ')}}`,
      (v) => isMapObject(v) && Object.entries(shape).every(([k, g]) => Object.hasOwn(v, k) && g(v[k])),
    ),
  /** Any one of the guards. */
  oneOf: <G extends readonly Guard<unknown>[]>(...guards: G): Guard<Guarded<G[number]>> =>
    guard(guards.map((g) => g.expected).join(' | '), (v) => guards.some((g) => g(v))),
};

/** `value` typed as the guard's type; throws {@link TermMismatchError} when it does not pass. */
export function check<T>(guard: Guard<T>, value: unknown): T {
  if (guard(value)) return value;
  let shown: string;
  try {
    shown = formatTerm(value as Term);
  } catch {
    shown = String(value);
  }
  throw new TermMismatchError(`expected ${guard.expected}, got ${shown}`, value, {
    expected: guard.expected,
  });
}
