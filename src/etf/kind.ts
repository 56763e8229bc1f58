/**
 * Which Erlang type a value of the term model stands for, and the small accessors that read it
 * whichever JS form it takes. Equality (equals.ts) and ordering (order.ts) both start here, so the
 * two cannot disagree on what a value is.
 */
import {
  Atom,
  BitString,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  LocalTerm,
  Pid,
  Port,
  Reference,
  STRING_KEYS,
  Tuple,
  type Term,
} from './terms.ts';

export const Kind = {
  Integer: 0,
  Float: 1,
  Atom: 2,
  /** Whole bytes: Uint8Array, JS string (its UTF-8) or a BitString with 8 bits in its last byte. */
  Binary: 3,
  BitString: 4,
  /** Proper (arrays, `[]` included) and improper lists. */
  List: 5,
  Tuple: 6,
  /** `Map` and plain objects (atom keys). */
  Map: 7,
  Pid: 8,
  Port: 9,
  Reference: 10,
  Export: 11,
  Fun: 12,
  Local: 13,
} as const;
export type KindValue = (typeof Kind)[keyof typeof Kind];

export function kind(t: Term): KindValue {
  switch (typeof t) {
    case 'number':
      return Number.isInteger(t) ? Kind.Integer : Kind.Float;
    case 'bigint':
      return Kind.Integer;
    case 'boolean':
      return Kind.Atom;
    case 'string':
      return Kind.Binary;
  }
  if (t instanceof Atom) return Kind.Atom;
  if (Array.isArray(t)) return Kind.List;
  if (t instanceof Uint8Array) return Kind.Binary;
  if (t instanceof Tuple) return Kind.Tuple;
  if (t instanceof Map) return Kind.Map;
  if (t instanceof Float) return Kind.Float;
  if (t instanceof ImproperList) return Kind.List;
  if (t instanceof BitString) return t.bits === 8 ? Kind.Binary : Kind.BitString;
  if (t instanceof Pid) return Kind.Pid;
  if (t instanceof Port) return Kind.Port;
  if (t instanceof Reference) return Kind.Reference;
  if (t instanceof ExportFun) return Kind.Export;
  if (t instanceof Fun) return Kind.Fun;
  if (t instanceof LocalTerm) return Kind.Local;
  return Kind.Map;
}

/** The value of a term of kind Float. */
export function floatValue(t: Term): number {
  return t instanceof Float ? t.value : (t as number);
}

/** The name of a term of kind Atom. */
export function atomName(t: Term): string {
  return typeof t === 'boolean' ? String(t) : (t as Atom).name;
}

/** A plain object's entries as an Erlang map's: atom keys, or binary keys for a {@link STRING_KEYS} object. */
export function objectEntries(t: Term): [Term, Term][] {
  const entries = Object.entries(t as Record<string, Term>);
  if (Object.getPrototypeOf(t) === STRING_KEYS) return entries;
  return entries.map(([k, v]) => [new Atom(k), v]);
}

/** The tail {@link flatList} gives a proper list; never the tail of an improper one. */
export const PROPER_TAIL: Term[] = [];

/**
 * A list as all its elements and the tail after them: `[a | [b | c]]` is `[a, b | c]` and
 * `[a | [b]]` the proper `[a, b]` (tail {@link PROPER_TAIL}), as OTP sees them.
 */
export function flatList(t: Term[] | ImproperList): { elements: readonly Term[]; tail: Term } {
  if (Array.isArray(t)) return { elements: t, tail: PROPER_TAIL };
  let elements = t.elements;
  let tail = t.tail;
  while (Array.isArray(tail) || tail instanceof ImproperList) {
    if (Array.isArray(tail)) return { elements: [...elements, ...tail], tail: PROPER_TAIL };
    elements = [...elements, ...tail.elements];
    tail = tail.tail;
  }
  return { elements, tail };
}
