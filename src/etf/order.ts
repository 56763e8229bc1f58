/**
 * Erlang's term order in its exact form (the one map keys are sorted by): OTP writes maps of up to
 * 32 keys in this order, so the encoder sorts them the same way. Orders observed on OTP 25 and
 * checked by the property tests (bytes equal to term_to_binary) for every type the tests generate.
 */
import {
  BitString,
  ExportFun,
  Fun,
  ImproperList,
  LocalTerm,
  type Pid,
  type Port,
  type Reference,
  type Term,
  type Tuple,
} from './terms.ts';
import { Kind, atomName, floatValue, kind, objectEntries, type KindValue } from './kind.ts';
import { NewFunLayout } from './tags.ts';

/** OTP sorts maps up to this many keys; larger ones are hash tries in an order of their own. */
export const SORTED_MAP_LIMIT = 32;

/** number < atom < reference < fun < port < pid < tuple < map < nil < list < bitstring. */
const Rank = {
  Integer: 0,
  Float: 1,
  Atom: 2,
  Reference: 3,
  Fun: 4,
  Port: 5,
  Pid: 6,
  Tuple: 7,
  Map: 8,
  Nil: 9,
  List: 10,
  Bits: 11,
} as const;
type RankValue = (typeof Rank)[keyof typeof Rank];

/** Where each kind sorts. LOCAL_EXT is opaque: ordered by its bytes, the only thing known about it. */
const RANK_OF_KIND: Record<KindValue, RankValue> = {
  [Kind.Integer]: Rank.Integer,
  [Kind.Float]: Rank.Float,
  [Kind.Atom]: Rank.Atom,
  [Kind.Binary]: Rank.Bits,
  [Kind.BitString]: Rank.Bits,
  [Kind.List]: Rank.List,
  [Kind.Tuple]: Rank.Tuple,
  [Kind.Map]: Rank.Map,
  [Kind.Pid]: Rank.Pid,
  [Kind.Port]: Rank.Port,
  [Kind.Reference]: Rank.Reference,
  [Kind.Export]: Rank.Fun,
  [Kind.Fun]: Rank.Fun,
  [Kind.Local]: Rank.Bits,
};

function rank(t: Term): RankValue {
  // [] sorts apart from the other lists: after maps, before any non-empty list.
  if (Array.isArray(t) && t.length === 0) return Rank.Nil;
  return RANK_OF_KIND[kind(t)];
}

/** Negative, zero or positive as `a` sorts before, with or after `b` (integers before floats). */
export function compareTerms(a: Term, b: Term): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case Rank.Integer:
      return compareIntegers(a as number | bigint, b as number | bigint);
    case Rank.Float:
      return sign(floatValue(a) - floatValue(b));
    case Rank.Atom:
      return compareAtomNames(atomName(a), atomName(b));
    case Rank.Bits:
      return compareBits(a, b);
    case Rank.Tuple:
      return compareSequences((a as Tuple).elements, (b as Tuple).elements, true);
    case Rank.Nil:
      return 0;
    case Rank.List:
      return compareLists(a, b);
    case Rank.Map:
      return compareMaps(asEntries(a), asEntries(b));
    case Rank.Pid: {
      // Observed on OTP 25: serial, then id, then node, then creation.
      const x = a as Pid;
      const y = b as Pid;
      return (
        x.serial - y.serial ||
        x.id - y.id ||
        compareAtomNames(x.node.name, y.node.name) ||
        x.creation - y.creation
      );
    }
    case Rank.Port: {
      const x = a as Port;
      const y = b as Port;
      return (
        compareAtomNames(x.node.name, y.node.name) ||
        x.creation - y.creation ||
        compareIntegers(BigInt(x.id), BigInt(y.id))
      );
    }
    case Rank.Reference: {
      const x = a as Reference;
      const y = b as Reference;
      return (
        compareAtomNames(x.node.name, y.node.name) ||
        x.creation - y.creation ||
        compareReferenceIds(x.ids, y.ids)
      );
    }
    case Rank.Fun:
      return compareFuns(a as ExportFun | Fun, b as ExportFun | Fun);
  }
}

function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

function compareIntegers(a: number | bigint, b: number | bigint): number {
  if (typeof a === 'number' && typeof b === 'number') return sign(a - b);
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Code point order, which is the order of the UTF-8 bytes OTP compares. */
export function compareAtomNames(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 order differs from code point order only where surrogates meet U+E000..U+FFFF.
    if (x < 0xd800 && y < 0xd800) return x - y;
    return (a.codePointAt(i) ?? 0) - (b.codePointAt(i) ?? 0);
  }
  return a.length - b.length;
}

function bitsOf(t: Term): { bytes: Uint8Array; bitLength: number } {
  if (typeof t === 'string') {
    const bytes = Buffer.from(t, 'utf8');
    return { bytes, bitLength: bytes.length * 8 };
  }
  if (t instanceof BitString) return { bytes: t.bytes, bitLength: (t.bytes.length - 1) * 8 + t.bits };
  const bytes = t instanceof LocalTerm ? t.bytes : (t as Uint8Array);
  return { bytes, bitLength: bytes.length * 8 };
}

/** Bitstrings compare bit by bit; a prefix sorts first. */
function compareBits(a: Term, b: Term): number {
  const x = bitsOf(a);
  const y = bitsOf(b);
  const common = Math.min(x.bitLength, y.bitLength);
  const whole = common >> 3;
  for (let i = 0; i < whole; i++) if (x.bytes[i] !== y.bytes[i]) return x.bytes[i]! - y.bytes[i]!;
  const rest = common & 7;
  if (rest > 0) {
    const mask = (0xff << (8 - rest)) & 0xff;
    const diff = (x.bytes[whole]! & mask) - (y.bytes[whole]! & mask);
    if (diff !== 0) return diff;
  }
  return x.bitLength - y.bitLength;
}

function compareSequences(a: readonly Term[], b: readonly Term[], sizeFirst: boolean): number {
  if (sizeFirst && a.length !== b.length) return a.length - b.length;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const c = compareTerms(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** Lists compare cell by cell; where one runs out of cells its tail is compared with the other's rest. */
function compareLists(a: Term, b: Term): number {
  const x = listCells(a);
  const y = listCells(b);
  const length = Math.min(x.elements.length, y.elements.length);
  for (let i = 0; i < length; i++) {
    const c = compareTerms(x.elements[i]!, y.elements[i]!);
    if (c !== 0) return c;
  }
  return compareTerms(rest(x, length), rest(y, length));
}

function listCells(t: Term): { elements: readonly Term[]; tail: Term } {
  if (Array.isArray(t)) return { elements: t, tail: [] };
  const list = t as ImproperList;
  return { elements: list.elements, tail: list.tail };
}

function rest(list: { elements: readonly Term[]; tail: Term }, from: number): Term {
  if (from >= list.elements.length) return list.tail;
  const elements = list.elements.slice(from);
  return Array.isArray(list.tail) ? elements : new ImproperList(elements, list.tail);
}

/** Maps: size, then the keys in order, then the values in key order. */
function compareMaps(a: [Term, Term][], b: [Term, Term][]): number {
  if (a.length !== b.length) return a.length - b.length;
  const x = sortEntries(a);
  const y = sortEntries(b);
  for (let i = 0; i < x.length; i++) {
    const c = compareTerms(x[i]![0], y[i]![0]);
    if (c !== 0) return c;
  }
  for (let i = 0; i < x.length; i++) {
    const c = compareTerms(x[i]![1], y[i]![1]);
    if (c !== 0) return c;
  }
  return 0;
}

function asEntries(t: Term): [Term, Term][] {
  return t instanceof Map ? [...(t as Map<Term, Term>)] : objectEntries(t);
}

/** Entries in key order; returns the same array when it is already sorted (the common case). */
export function sortEntries<T extends readonly [Term, Term]>(entries: T[]): T[] {
  for (let i = 1; i < entries.length; i++) {
    if (compareTerms(entries[i - 1]![0], entries[i]![0]) > 0) {
      return [...entries].sort((p, q) => compareTerms(p[0], q[0]));
    }
  }
  return entries;
}

/** References compare as one number whose least significant word is `ids[0]`. */
function compareReferenceIds(a: readonly number[], b: readonly number[]): number {
  const la = significantLength(a);
  const lb = significantLength(b);
  if (la !== lb) return la - lb;
  for (let i = la - 1; i >= 0; i--) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function significantLength(ids: readonly number[]): number {
  let n = ids.length;
  while (n > 0 && ids[n - 1] === 0) n--;
  return n;
}

/** Local funs before external ones; external by module, name, arity; local by module first. */
function compareFuns(a: ExportFun | Fun, b: ExportFun | Fun): number {
  if (a instanceof Fun !== b instanceof Fun) return a instanceof Fun ? -1 : 1;
  const byModule = compareAtomNames(a.module.name, b.module.name);
  if (byModule !== 0) return byModule;
  if (a instanceof ExportFun && b instanceof ExportFun) {
    return compareAtomNames(a.name.name, b.name.name) || a.arity - b.arity;
  }
  return compareLocalFuns(a as Fun, b as Fun);
}

/** Local funs of one module: by index, then uniq, then free variables (count first). */
function compareLocalFuns(a: Fun, b: Fun): number {
  const { UNIQ_AT, INDEX_AT } = NewFunLayout;
  const x = Buffer.from(a.bytes.buffer, a.bytes.byteOffset, a.bytes.length);
  const y = Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.length);
  return (
    x.readUInt32BE(INDEX_AT) - y.readUInt32BE(INDEX_AT) ||
    Buffer.compare(x.subarray(UNIQ_AT, INDEX_AT), y.subarray(UNIQ_AT, INDEX_AT)) ||
    compareSequences(a.free, b.free, true)
  );
}
