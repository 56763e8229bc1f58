/**
 * erlang:phash2/1,2 as the emulator computes it (make_hash2 in erts; the same in OTP 25, 27 and 29
 * for the terms here), so a TS node picks the same pool member an Erlang node would: Phoenix.PubSub
 * chooses its broadcast group with `erlang:phash2(self(), PoolSize)`.
 *
 * Facts it relies on (checked against real erlang:phash2 by test/etf/phash2.test.ts):
 * - Bob Jenkins' 96-bit mix on 32-bit words; a word X is mixed as a = C + X, b = C + 0.
 * - A pid hashes its number only (not node, serial or creation): UINT32_HASH(Number, HCONST_5).
 * - Integers within 28 bits signed hash as 32-bit words, others as bignums in 64-bit digits.
 * - An atom's value is the hashpjw of its UTF-8 name (code points 128-255 taken as Latin-1
 *   bytes), used raw when it is the whole term and mixed otherwise.
 * - Binaries go through the lookup2 block hash, lists of bytes in 4-byte words.
 */
import { Atom, Float, ImproperList, Pid, Reference, Tuple, type Term } from './terms.ts';

const HCONST = 0x9e3779b9;
const HCONST_2 = 0x3c6ef372;
const HCONST_3 = 0xdaa66d2b;
const HCONST_4 = 0x78dde6e4;
const HCONST_5 = 0x1715609d;
const HCONST_7 = 0x5384540f;
const HCONST_9 = 0x8ff34781;
const HCONST_10 = 0x2e2ac13a;
const HCONST_11 = 0xcc623af3;
const HCONST_12 = 0x6a99b4ac;
const HCONST_13 = 0x08d12e65;
/** The emulator's tag number for [] (NIL_DEF), mixed in when [] is not the whole term. */
const NIL_DEF = 2;
/** The hash of [] alone. */
const NIL_ALONE = 3468870702;

/** Bob Jenkins' mix of the three 32-bit words in `w` (a, b, c), in place. */
function mixWords(w: Uint32Array): void {
  let [a, b, c] = [w[0]!, w[1]!, w[2]!];
  a = (a - b - c) >>> 0;
  a = (a ^ (c >>> 13)) >>> 0;
  b = (b - c - a) >>> 0;
  b = (b ^ (a << 8)) >>> 0;
  c = (c - a - b) >>> 0;
  c = (c ^ (b >>> 13)) >>> 0;
  a = (a - b - c) >>> 0;
  a = (a ^ (c >>> 12)) >>> 0;
  b = (b - c - a) >>> 0;
  b = (b ^ (a << 16)) >>> 0;
  c = (c - a - b) >>> 0;
  c = (c ^ (b >>> 5)) >>> 0;
  a = (a - b - c) >>> 0;
  a = (a ^ (c >>> 3)) >>> 0;
  b = (b - c - a) >>> 0;
  b = (b ^ (a << 10)) >>> 0;
  c = (c - a - b) >>> 0;
  c = (c ^ (b >>> 15)) >>> 0;
  w[0] = a;
  w[1] = b;
  w[2] = c;
}

const words = new Uint32Array(3);

/** The mix of a, b and c; returns the new c. */
function mix(a: number, b: number, c: number): number {
  words[0] = a;
  words[1] = b;
  words[2] = c;
  mixWords(words);
  return words[2]!;
}

function hash2(x: number, y: number, k: number, h: number): number {
  return mix((k + x) >>> 0, (k + y) >>> 0, h);
}

/** w[i] += v, modulo 2^32 (a Uint32Array wraps on store). */
function add(w: Uint32Array, i: number, v: number): void {
  w[i] = w[i]! + v;
}

/** lookup2's block hash of `bytes` with initial value `init`. */
function blockHash(bytes: Uint8Array, init: number): number {
  // w: a, b, c. Whole 12-byte blocks as three little-endian words, then the tail byte by byte.
  const w = new Uint32Array([HCONST, HCONST, init >>> 0]);
  let k = 0;
  for (; bytes.length - k >= 12; k += 12) {
    for (let i = 0; i < 12; i++) add(w, Math.floor(i / 4), bytes[k + i]! << (8 * (i % 4)));
    mixWords(w);
  }
  add(w, 2, bytes.length);
  // The tail goes into a (bytes 0-3), b (4-7) and c above its length byte (8-10).
  for (let i = 0; k + i < bytes.length; i++) {
    const shift = i < 8 ? 8 * (i % 4) : 8 * (i - 7);
    add(w, Math.floor(i / 4), bytes[k + i]! << shift);
  }
  mixWords(w);
  return w[2]!;
}

/** hashpjw of an atom's name as the atom table computes it. */
export function atomHashValue(name: string): number {
  let h = 0;
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    // Code points up to 255 count as one Latin-1 byte; others as their UTF-8 bytes.
    const bytes = cp < 256 ? [cp] : [...Buffer.from(ch, 'utf8')];
    for (const v of bytes) {
      h = ((h << 4) + v) >>> 0;
      const g = (h & 0xf0000000) >>> 0;
      if (g !== 0) {
        h = (h ^ (g >>> 24)) >>> 0;
        h = (h ^ g) >>> 0;
      }
    }
  }
  return h;
}

const SMALL28_MIN = -(2 ** 27);
const SMALL28_MAX = 2 ** 27 - 1;

function hashInteger(n: bigint, h: number): number {
  if (n >= BigInt(SMALL28_MIN) && n <= BigInt(SMALL28_MAX)) {
    const y = Number(n);
    if (y < 0) h = hash2(-y >>> 0, 0, HCONST, h);
    return hash2(y >>> 0, 0, HCONST, h);
  }
  // A bignum: its magnitude in 64-bit digits, low first, each as (low word, high word).
  const con = n < 0n ? HCONST_10 : HCONST_11;
  let m = n < 0n ? -n : n;
  do {
    const lo = Number(m & 0xffffffffn);
    const hi = Number((m >> 32n) & 0xffffffffn);
    h = hash2(lo, hi, con, h);
    m >>= 64n;
  } while (m > 0n);
  return h;
}

function hashFloat(v: number, h: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v === 0 ? 0 : v); // -0.0 hashes as 0.0
  return hash2(view.getUint32(0), view.getUint32(4), HCONST_12, h);
}

/** A term the hash does not cover (maps, funs, ports, bitstrings). */
export class Phash2Unsupported extends TypeError {}

/** erlang:phash2(Term) over the full 32 bits (make_hash2). */
export function makeHash2(term: Term): number {
  // The emulator's explicit stack: terms still to hash, left to right.
  const stack: Term[] = [term];
  let h = 0;
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (typeof t === 'number' || typeof t === 'bigint') {
      if (typeof t === 'number' && !Number.isInteger(t)) h = hashFloat(t, h);
      else h = hashInteger(BigInt(t), h);
    } else if (t instanceof Float) {
      h = hashFloat(t.value, h);
    } else if (t instanceof Atom || typeof t === 'boolean') {
      const v = atomHashValue(typeof t === 'boolean' ? String(t) : t.name);
      h = h === 0 ? v : hash2(v, 0, HCONST_3, h);
    } else if (t instanceof Pid) {
      h = hash2(t.id >>> 0, 0, HCONST_5, h);
    } else if (t instanceof Reference) {
      h = hash2((t.ids[0] ?? 0) >>> 0, 0, HCONST_7, h);
    } else if (t instanceof Tuple) {
      h = hash2(t.length, 0, HCONST_9, h);
      for (let i = t.length - 1; i >= 0; i--) stack.push(t.elements[i]!);
    } else if (typeof t === 'string' || t instanceof Uint8Array) {
      const bytes = typeof t === 'string' ? Buffer.from(t, 'utf8') : t;
      const con = (HCONST_13 + h) >>> 0;
      h = bytes.length === 0 ? con : blockHash(bytes, con);
    } else if (Array.isArray(t) || t instanceof ImproperList) {
      const elements = Array.isArray(t) ? t : t.elements;
      const tail: Term = Array.isArray(t) ? [] : t.tail;
      if (elements.length === 0) {
        h = h === 0 ? NIL_ALONE : hash2(NIL_DEF, 0, HCONST_2, h);
        continue;
      }
      h = hashList(elements, tail, h, stack);
    } else {
      throw new Phash2Unsupported(
        `phash2: unsupported term ${typeof t === 'object' ? t.constructor.name : typeof t}`,
      );
    }
  }
  return h;
}

const isByte = (x: Term | undefined): x is number =>
  typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 256;

/**
 * A list: a leading run of bytes is hashed 4 at a time; at the first non-byte element, that
 * element is hashed next and the rest of the list after it (pushed back as a list).
 */
function hashList(elements: Term[], tail: Term, h: number, stack: Term[]): number {
  let i = 0;
  let sh = 0;
  let c = 0;
  while (i < elements.length && isByte(elements[i])) {
    sh = ((sh << 8) + (elements[i] as number)) >>> 0;
    if (c === 3) {
      h = hash2(sh, 0, HCONST_4, h);
      c = 0;
      sh = 0;
    } else c++;
    i++;
  }
  if (c > 0) h = hash2(sh, 0, HCONST_4, h);
  if (i === elements.length) {
    stack.push(tail);
    return h;
  }
  const rest = elements.slice(i + 1);
  stack.push(
    rest.length === 0
      ? tail
      : tail instanceof Array && tail.length === 0
        ? rest
        : new ImproperList(rest, tail),
  );
  stack.push(elements[i]!);
  return h;
}

/** erlang:phash2(Term, Range): a hash in [0, Range). */
export function phash2(term: Term, range = 2 ** 27): number {
  if (!Number.isInteger(range) || range < 1 || range > 2 ** 32)
    throw new RangeError('phash2: range must be an integer from 1 to 2^32');
  return makeHash2(term) % range;
}
