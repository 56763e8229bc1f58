/**
 * The JS-friendly mapping (docs/etf.md, "Terms a JS developer can read"): binaries that are valid
 * UTF-8 become strings, maps whose keys are all atoms or all such binaries become objects. It is
 * a view of the same Erlang terms: the encoder reads it back to the same term (a string is a
 * binary, an object made from binary keys keeps them binary), so only the JavaScript side differs.
 * `decode(bytes, { terms: 'js' })` builds it directly; {@link toJS} converts a decoded term.
 */
import { isUtf8 } from 'node:buffer';
import {
  Atom,
  atom,
  ATOM_KEYS,
  BitString,
  ImproperList,
  isMapObject,
  STRING_KEYS,
  Tuple,
  type Term,
} from './terms.ts';

/** Which model decoding produces: the exact term model, or the JS-friendly mapping. */
export type TermsMode = 'erlang' | 'js';

/** Binaries up to this long are checked for ASCII byte by byte (cheaper than a call for short text). */
const SHORT_TEXT = 64;

/** ASCII up to this long is made from char codes in JS. */
const TINY_TEXT = 24;
const CHAR_CODES: number[][] = Array.from({ length: TINY_TEXT + 1 }, (_, n) => new Array<number>(n).fill(0));
const fromCharCodes = String.fromCharCode as (...codes: number[]) => string;

/** Buffer's own slice-to-string methods: what toString calls, without its argument handling. */
interface StringSlices {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/** The text of `length` bytes at `from` when they are valid UTF-8, else undefined. */
export function utf8Text(buf: Buffer, from: number, length: number): string | undefined {
  const end = from + length;
  if (length <= TINY_TEXT) {
    // Short ASCII is read into a reused array of char codes: cheaper than a call into C++.
    const codes = CHAR_CODES[length]!;
    let i = 0;
    for (; i < length; i++) {
      const c = buf[from + i]!;
      if (c >= 0x80) break;
      codes[i] = c;
    }
    if (i === length) return fromCharCodes(...codes);
  } else if (length <= SHORT_TEXT) {
    let i = from;
    while (i < end && buf[i]! < 0x80) i++;
    if (i === end) return (buf as unknown as StringSlices).latin1Slice(from, end);
  }
  if (!isUtf8(buf.subarray(from, end))) return undefined;
  return (buf as unknown as StringSlices).utf8Slice(from, end);
}

const KEY_SLOTS = 1024;
/** Keys up to this long are cached: the field names of maps, seen over and over. */
const MAX_CACHED_KEY = 32;
const cachedKeyBytes: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(KEY_SLOTS).fill(
  undefined,
);
const cachedKeyText: string[] = new Array<string>(KEY_SLOTS).fill('');
const copyBytes = Uint8Array.prototype.slice;

/**
 * {@link utf8Text} for a map key: short keys come from a fixed-size table keyed by their bytes, so
 * the same field name is the same string each time (V8 then finds the object property at once
 * instead of hashing a fresh string). The table only replaces entries, so input cannot grow it.
 */
export function keyText(buf: Buffer, from: number, length: number): string | undefined {
  if (length > MAX_CACHED_KEY) return utf8Text(buf, from, length);
  // The slot comes from the length and three sampled bytes, not every byte: the comparison below
  // reads every byte anyway, and field names differ in those places far more often than not.
  const hash =
    length === 0
      ? 0
      : Math.imul(
          (buf[from]! << 16) ^ (buf[from + (length >>> 1)]! << 8) ^ buf[from + length - 1]! ^ (length << 24),
          0x9e3779b1,
        );
  const slot = (hash >>> 22) & (KEY_SLOTS - 1);
  const known = cachedKeyBytes[slot];
  if (known !== undefined && known.length === length) {
    let i = 0;
    while (i < length && known[i] === buf[from + i]) i++;
    if (i === length) return cachedKeyText[slot];
  }
  const text = utf8Text(buf, from, length);
  if (text === undefined) return undefined;
  cachedKeyBytes[slot] = copyBytes.call(buf, from, from + length);
  cachedKeyText[slot] = text;
  return text;
}

/** The key an object property of an atom-keyed object stands for. */
export function atomKey(name: string): Term {
  return name === 'true' ? true : name === 'false' ? false : atom(name);
}

/** What a map key is, for the object-or-Map choice: an atom's name, a string, or neither. */
export function keyName(key: Term, stringKeys: boolean): string | undefined {
  if (stringKeys) return typeof key === 'string' ? key : undefined;
  if (key instanceof Atom) return key.name;
  return typeof key === 'boolean' ? String(key) : undefined;
}

/** A new object of the mapping: atom keys, or binary keys with `stringKeys`. */
export function keyedObject(stringKeys: boolean): Record<string, Term> {
  return Object.create(stringKeys ? STRING_KEYS : ATOM_KEYS) as Record<string, Term>;
}

/** An object of the mapping as the `Map` its keys stand for (when a later key does not fit it). */
export function objectToMap(object: Record<string, Term>): Map<Term, Term> {
  const stringKeys = Object.getPrototypeOf(object) === STRING_KEYS;
  const map = new Map<Term, Term>();
  for (const name of Object.keys(object)) map.set(stringKeys ? name : atomKey(name), object[name]!);
  return map;
}

/**
 * `t` in the JS-friendly mapping: valid UTF-8 binaries as strings; maps whose keys are all atoms
 * (or all such strings) as objects with no inherited keys (a map whose keys mix the two stays a
 * `Map`, with its binary keys as strings); the same inside lists, tuples and maps. Atoms,
 * integers (bigints past 2^53), charlists, pids and the rest are unchanged.
 */
export function toJS(t: Term): Term {
  if (typeof t !== 'object') return t;
  if (t instanceof Uint8Array) return utf8Text(asBuffer(t), 0, t.length) ?? t;
  if (Array.isArray(t)) return t.length === 0 ? t : t.map(toJS);
  if (t instanceof Tuple) return new Tuple(t.elements.map(toJS));
  if (t instanceof Map) return mapToJS(t);
  if (t instanceof ImproperList) return new ImproperList(t.elements.map(toJS), toJS(t.tail));
  if (t instanceof BitString) return t.bits === 8 ? toJS(t.bytes) : t;
  if (isMapObject(t)) {
    const out = keyedObject(Object.getPrototypeOf(t) === STRING_KEYS);
    for (const name of Object.keys(t)) out[name] = toJS(t[name]!);
    return out;
  }
  return t;
}

function mapToJS(map: ReadonlyMap<Term, Term>): Term {
  const entries: [Term, Term][] = [];
  let atoms = 0;
  let strings = 0;
  for (const [k, v] of map) {
    const key = toJS(k);
    if (typeof key === 'string') strings++;
    else if (keyName(key, false) !== undefined) atoms++;
    entries.push([key, toJS(v)]);
  }
  if (atoms === entries.length || strings === entries.length) {
    const stringKeys = strings === entries.length && entries.length > 0;
    const out = keyedObject(stringKeys);
    for (const [k, v] of entries) {
      const name = keyName(k, stringKeys)!;
      // Two keys that are one term (a Buffer and a string of its text) stay apart in a Map.
      if (out[name] !== undefined) return new Map(entries);
      out[name] = v;
    }
    return out;
  }
  return new Map(entries);
}

/**
 * The exact term model of a value of the mapping (the inverse of {@link toJS}): strings as
 * `Buffer`s, objects as `Map`s with atom keys (binary keys for {@link stringKeyed} objects).
 */
export function fromJS(t: Term): Term {
  if (typeof t === 'string') return Buffer.from(t, 'utf8');
  if (typeof t !== 'object') return t;
  if (Array.isArray(t)) return t.length === 0 ? t : t.map(fromJS);
  if (t instanceof Tuple) return new Tuple(t.elements.map(fromJS));
  if (t instanceof Map) return new Map([...t].map(([k, v]) => [fromJS(k), fromJS(v)]));
  if (t instanceof ImproperList) return new ImproperList(t.elements.map(fromJS), fromJS(t.tail));
  if (isMapObject(t) && !(t instanceof Uint8Array)) {
    const stringKeys = Object.getPrototypeOf(t) === STRING_KEYS;
    const map = new Map<Term, Term>();
    for (const name of Object.keys(t)) {
      map.set(stringKeys ? Buffer.from(name, 'utf8') : atomKey(name), fromJS(t[name]!));
    }
    return map;
  }
  return t;
}

/**
 * A copy of `object` whose keys encode as binaries (Elixir's `%{"user_id" => 7}`); a plain
 * object's keys encode as atoms. Objects decoded from binary-keyed maps are already like this.
 */
export function stringKeyed(object: { readonly [key: string]: Term }): { [key: string]: Term } {
  return Object.assign(keyedObject(true), object);
}

/** Whether `t` is an object whose keys encode as binaries ({@link stringKeyed}, or decoded so). */
export function isStringKeyed(t: unknown): boolean {
  return typeof t === 'object' && t !== null && Object.getPrototypeOf(t) === STRING_KEYS;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}
