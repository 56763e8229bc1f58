/**
 * Term → External Term Format. Picks the encodings OTP's own term_to_binary picks (with UTF-8
 * atoms, as every OTP 26+ node and every distribution connection uses): the smallest integer
 * form, STRING_EXT for lists of bytes, SMALL_ATOM_UTF8_EXT below 256 bytes, NEW_PID_EXT,
 * NEW_PORT_EXT (V4_PORT_EXT for ids past 32 bits), NEWER_REFERENCE_EXT, maps of up to 32 keys
 * sorted by key.
 */
import { deflateSync } from 'node:zlib';
import { EncodeError } from '../errors.ts';
import { Writer } from '../bytes.ts';
import { compareAtomNames, SORTED_MAP_LIMIT, sortEntries } from './order.ts';
import { flatList, PROPER_TAIL } from './kind.ts';
import { Tag, MAX_ARITY, MAX_ATOM_CHARACTERS, MAX_REFERENCE_IDS, MAX_STRING_EXT_LENGTH } from './tags.ts';
import {
  atom,
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
  isMapObject,
  STRING_KEYS,
  Tuple,
  type Term,
} from './terms.ts';

export interface EncodeOptions {
  /** Prefix the version byte 131 (default true). */
  versionByte?: boolean;
  /** zlib COMPRESSED_EXT; a number is the zlib level (true = 6, like OTP). Used only when smaller. */
  compressed?: boolean | number;
  /** Distribution: the outgoing atom cache index for an atom, written as ATOM_CACHE_REF. */
  atomCache?: (a: Atom) => number | undefined;
}

const OTP_DEFAULT_COMPRESSION = 6;
/** COMPRESSED_EXT's tag and 4-byte uncompressed size, written before the zlib data. */
const COMPRESSED_HEADER_BYTES = 5;
const MAX_PORT_ID = 0xffffffffffffffffn;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const TWO_POW_32 = 0x100000000;
/** In a `u` regex a surrogate class matches only unpaired halves, which UTF-8 cannot carry. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** One writer reused by every top-level encode; a nested call (from an atomCache callback) gets its own. */
const SHARED_CAPACITY = 64 * 1024;
/** After encoding something huge, the shared writer is replaced so it does not pin that memory. */
const SHARED_RETAIN_LIMIT = 1024 * 1024;
let shared = new Writer(SHARED_CAPACITY);
let sharedBusy = false;

export function encode(term: Term, options?: EncodeOptions): Buffer {
  const ownsShared = !sharedBusy;
  const writer = ownsShared ? shared : new Writer();
  sharedBusy = true;
  try {
    writer.reset();
    if (options?.versionByte !== false) writer.u8(Tag.Version);
    const compressed = options?.compressed;
    if (compressed !== undefined && compressed !== false) {
      return encodeCompressed(
        writer,
        term,
        compressed === true ? OTP_DEFAULT_COMPRESSION : compressed,
        options,
      );
    }
    writeTerm(writer, term, options?.atomCache);
    return copyOut(writer);
  } catch (err) {
    throw stackOverflowAsEncodeError(err);
  } finally {
    if (ownsShared) {
      sharedBusy = false;
      if (shared.buf.length > SHARED_RETAIN_LIMIT) shared = new Writer(SHARED_CAPACITY);
    }
  }
}

/** One term, without version byte, appended to `writer` (distribution frames hold several). */
export function encodeInto(writer: Writer, term: Term, options?: EncodeOptions): void {
  try {
    writeTerm(writer, term, options?.atomCache);
  } catch (err) {
    throw stackOverflowAsEncodeError(err);
  }
}

/** Encoding recurses, so a deep enough term meets the JS stack's limit; that must still be the codec's error. */
function stackOverflowAsEncodeError(err: unknown): unknown {
  return err instanceof RangeError
    ? new EncodeError('term nested too deeply for the stack', { cause: err })
    : err;
}

function encodeCompressed(writer: Writer, term: Term, level: number, options: EncodeOptions): Buffer {
  const start = writer.offset;
  writeTerm(writer, term, options.atomCache);
  const plain = writer.buf.subarray(start, writer.offset);
  const packed = deflateSync(plain, { level });
  // Like OTP: keep the plain form unless compression actually saves bytes.
  if (packed.length + COMPRESSED_HEADER_BYTES >= plain.length) return copyOut(writer);
  const size = plain.length;
  writer.offset = start;
  writer.u8(Tag.Compressed);
  writer.u32(size);
  writer.bytes(packed);
  return copyOut(writer);
}

/** The bytes written, as a Buffer of their own: allocUnsafe (pooled when small, never zero-filled) + memcpy. */
function copyOut(w: Writer): Buffer {
  const out = Buffer.allocUnsafe(w.offset);
  w.buf.copy(out, 0, 0, w.offset);
  return out;
}

function writeTerm(w: Writer, term: Term, cache: EncodeOptions['atomCache']): void {
  switch (typeof term) {
    case 'number':
      if (Number.isInteger(term)) writeInteger(w, term);
      else writeFloat(w, term);
      return;
    case 'string':
      writeStringBinary(w, term);
      return;
    case 'boolean':
      writeNamedAtom(w, term ? 'true' : 'false', cache);
      return;
    case 'bigint':
      writeBigInt(w, term);
      return;
    case 'object':
      if (term === null) break;
      if (term instanceof Atom) return writeAtom(w, term, cache);
      if (Array.isArray(term)) return writeList(w, term, cache);
      if (term instanceof Tuple) return writeTuple(w, term.elements, cache);
      if (term instanceof Uint8Array) return writeBinary(w, term);
      if (term instanceof Map) return writeMap(w, term, cache);
      if (term instanceof Float) return writeFloat(w, term.value);
      if (term instanceof Pid) return writePid(w, term, cache);
      if (term instanceof Reference) return writeReference(w, term, cache);
      if (term instanceof Port) return writePort(w, term, cache);
      if (term instanceof ImproperList) return writeImproperList(w, term, cache);
      if (term instanceof BitString) return writeBitString(w, term);
      if (term instanceof ExportFun) return writeExport(w, term, cache);
      if (term instanceof Fun) return writeOpaque(w, Tag.NewFun, term.bytes);
      if (term instanceof LocalTerm) return writeOpaque(w, Tag.Local, term.bytes);
      if (isMapObject(term)) return writeObject(w, term, cache);
      throw new EncodeError(`cannot encode an instance of ${constructorName(term)} as an Erlang term`);
  }
  throw new EncodeError(`cannot encode ${String(term)} (${typeof term}) as an Erlang term`);
}

function constructorName(value: object): string {
  const ctor: unknown = (value as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' ? ctor.name : 'an unknown class';
}

function writeInteger(w: Writer, n: number): void {
  if (n >= 0 && n <= 0xff) {
    w.ensure(2);
    const b = w.buf;
    b[w.offset] = Tag.SmallInteger;
    b[w.offset + 1] = n;
    w.offset += 2;
  } else if (n >= INT32_MIN && n <= INT32_MAX) {
    w.ensure(5);
    const b = w.buf;
    const o = w.offset;
    b[o] = Tag.Integer;
    b[o + 1] = n >>> 24;
    b[o + 2] = n >>> 16;
    b[o + 3] = n >>> 8;
    b[o + 4] = n;
    w.offset = o + 5;
  } else if (Number.isSafeInteger(n)) {
    // At most 7 little-endian digit bytes; split in two 32-bit halves to stay exact.
    const magnitude = Math.abs(n);
    const low = magnitude % TWO_POW_32;
    const high = (magnitude - low) / TWO_POW_32;
    const count = high === 0 ? 4 : high <= 0xff ? 5 : high <= 0xffff ? 6 : 7;
    w.ensure(3 + count);
    const b = w.buf;
    let o = w.offset;
    b[o++] = Tag.SmallBig;
    b[o++] = count;
    b[o++] = n < 0 ? 1 : 0;
    b[o++] = low;
    b[o++] = low >>> 8;
    b[o++] = low >>> 16;
    b[o++] = low >>> 24;
    for (let rest = high, i = 4; i < count; i++, rest >>>= 8) b[o++] = rest & 0xff;
    w.offset = o;
  } else {
    writeBigInt(w, BigInt(n));
  }
}

function writeBigInt(w: Writer, n: bigint): void {
  if (n >= -0x80000000n && n <= 0x7fffffffn) return writeInteger(w, Number(n));
  const negative = n < 0n;
  const hex = (negative ? -n : n).toString(16);
  const count = (hex.length + 1) >> 1;
  const padded = hex.length & 1 ? '0' + hex : hex;
  if (count <= 0xff) {
    w.ensure(3 + count);
    w.buf[w.offset++] = Tag.SmallBig;
    w.buf[w.offset++] = count;
  } else {
    w.ensure(6 + count);
    w.buf[w.offset++] = Tag.LargeBig;
    w.u32(count);
  }
  const b = w.buf;
  b[w.offset++] = negative ? 1 : 0;
  // Digits are little-endian: the last hex pair is the first byte.
  let o = w.offset;
  for (let i = padded.length - 2; i >= 0; i -= 2) b[o++] = parseInt(padded.substring(i, i + 2), 16);
  w.offset = o;
}

function writeFloat(w: Writer, v: number): void {
  if (!Number.isFinite(v)) throw new EncodeError(`Erlang has no float ${v}`);
  w.ensure(9);
  w.buf[w.offset++] = Tag.NewFloat;
  w.buf.writeDoubleBE(v, w.offset);
  w.offset += 8;
}

function writeAtom(w: Writer, a: Atom, cache: EncodeOptions['atomCache']): void {
  if (cache !== undefined && writeCachedAtom(w, a, cache)) return;
  writeAtomName(w, a.name);
}

/** Writes ATOM_CACHE_REF when the distribution's cache has the atom. */
function writeCachedAtom(w: Writer, a: Atom, cache: NonNullable<EncodeOptions['atomCache']>): boolean {
  const index = cache(a);
  if (index === undefined) return false;
  if (!Number.isInteger(index) || index < 0 || index > 0xff) {
    throw new EncodeError(`atom cache index must be 0..255, got ${index}`);
  }
  w.ensure(2);
  w.buf[w.offset++] = Tag.AtomCacheRef;
  w.buf[w.offset++] = index;
  return true;
}

function writeNamedAtom(w: Writer, name: string, cache: EncodeOptions['atomCache']): void {
  if (cache !== undefined && writeCachedAtom(w, atom(name), cache)) return;
  writeAtomName(w, name);
}

function writeAtomName(w: Writer, name: string): void {
  const length = name.length;
  w.ensure(3 + length * 3);
  const b = w.buf;
  const start = w.offset;
  // Fast path: ASCII names are written char by char straight into the small form.
  let o = start + 2;
  let i = 0;
  for (; i < length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x80) break;
    b[o++] = c;
  }
  if (i === length) {
    if (length > MAX_ATOM_CHARACTERS) throw atomTooLong(name);
    b[start] = Tag.SmallAtomUtf8;
    b[start + 1] = length;
    w.offset = o;
    return;
  }
  if (LONE_SURROGATE.test(name))
    throw new EncodeError(`atom name is not valid Unicode: ${JSON.stringify(name)}`);
  if ([...name].length > MAX_ATOM_CHARACTERS) throw atomTooLong(name);
  const byteLength = b.write(name, start + 3, 'utf8');
  if (byteLength < 256) {
    b[start] = Tag.SmallAtomUtf8;
    b[start + 1] = byteLength;
    b.copyWithin(start + 2, start + 3, start + 3 + byteLength);
    w.offset = start + 2 + byteLength;
  } else {
    b[start] = Tag.AtomUtf8;
    b.writeUInt16BE(byteLength, start + 1);
    w.offset = start + 3 + byteLength;
  }
}

function atomTooLong(name: string): EncodeError {
  return new EncodeError(`atom has more than ${MAX_ATOM_CHARACTERS} characters: ${name.slice(0, 40)}...`);
}

function writeList(w: Writer, list: readonly Term[], cache: EncodeOptions['atomCache']): void {
  const length = list.length;
  if (length === 0) {
    w.u8(Tag.Nil);
    return;
  }
  if (length <= MAX_STRING_EXT_LENGTH && isByteList(list)) {
    w.ensure(3 + length);
    const b = w.buf;
    let o = w.offset;
    b[o++] = Tag.String;
    b[o++] = length >>> 8;
    b[o++] = length;
    for (let i = 0; i < length; i++) b[o++] = list[i] as number;
    w.offset = o;
    return;
  }
  writeListHeader(w, length);
  for (let i = 0; i < length; i++) writeTerm(w, list[i]!, cache);
  w.u8(Tag.Nil);
}

function isByteList(list: readonly Term[]): boolean {
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v !== 'number' || !(v >= 0 && v <= 0xff) || !Number.isInteger(v)) return false;
  }
  return true;
}

function writeListHeader(w: Writer, length: number): void {
  w.ensure(5);
  w.buf[w.offset++] = Tag.List;
  w.u32(length);
}

function writeImproperList(w: Writer, list: ImproperList, cache: EncodeOptions['atomCache']): void {
  // [a | [b]] is the proper list [a, b]: list tails are flattened so the term encodes as OTP would.
  const { elements, tail } = flatList(list);
  if (tail === PROPER_TAIL) return writeList(w, elements, cache);
  if (elements.length === 0) return writeTerm(w, tail, cache);
  writeListHeader(w, elements.length);
  for (const element of elements) writeTerm(w, element, cache);
  writeTerm(w, tail, cache);
}

function writeTuple(w: Writer, elements: readonly Term[], cache: EncodeOptions['atomCache']): void {
  const arity = elements.length;
  if (arity <= 0xff) {
    w.ensure(2);
    w.buf[w.offset++] = Tag.SmallTuple;
    w.buf[w.offset++] = arity;
  } else {
    w.ensure(5);
    w.buf[w.offset++] = Tag.LargeTuple;
    w.u32(arity);
  }
  for (let i = 0; i < arity; i++) writeTerm(w, elements[i]!, cache);
}

function writeBinary(w: Writer, bytes: Uint8Array): void {
  const length = bytes.length;
  const spliced = length >= w.spliceMin;
  w.ensure(spliced ? 5 : 5 + length);
  const b = w.buf;
  let o = w.offset;
  b[o++] = Tag.Binary;
  b[o++] = length >>> 24;
  b[o++] = length >>> 16;
  b[o++] = length >>> 8;
  b[o++] = length;
  if (spliced) {
    w.offset = o;
    w.splice(bytes);
    return;
  }
  if (length < 16) for (let i = 0; i < length; i++) b[o++] = bytes[i]!;
  else {
    b.set(bytes, o);
    o += length;
  }
  w.offset = o;
}

/** Short strings are copied char by char while ASCII: cheaper than a call into the UTF-8 encoder. */
const SHORT_STRING = 64;

function writeStringBinary(w: Writer, s: string): void {
  const length = s.length;
  w.ensure(5 + length * 3);
  const b = w.buf;
  const start = w.offset;
  b[start] = Tag.Binary;
  if (length <= SHORT_STRING) {
    let o = start + 5;
    let i = 0;
    for (; i < length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[o++] = c;
    }
    if (i === length) {
      b.writeUInt32BE(length, start + 1);
      w.offset = o;
      return;
    }
  }
  w.offset = start + 5;
  b.writeUInt32BE(w.utf8(s), start + 1);
}

function writeBitString(w: Writer, bits: BitString): void {
  const { bytes } = bits;
  if (!Number.isInteger(bits.bits) || bits.bits < 1 || bits.bits > 8 || bytes.length === 0) {
    throw new EncodeError(`BitString needs at least one byte and 1..8 bits in its last, got ${bits.bits}`);
  }
  if (bits.bits === 8) return writeBinary(w, bytes);
  w.ensure(6 + bytes.length);
  w.buf[w.offset++] = Tag.BitBinary;
  w.u32(bytes.length);
  w.buf[w.offset++] = bits.bits;
  w.bytes(bytes);
  // Bits past the end are not part of the term; OTP writes them as zero.
  const last = w.offset - 1;
  w.buf[last] = w.buf[last]! & ((0xff << (8 - bits.bits)) & 0xff);
}

/** Maps of up to 32 keys are written in key order, as OTP writes them; larger ones in iteration order. */
function writeMap(w: Writer, map: ReadonlyMap<Term, Term>, cache: EncodeOptions['atomCache']): void {
  w.ensure(5);
  w.buf[w.offset++] = Tag.Map;
  w.u32(map.size);
  const entries = map.size > 1 && map.size <= SORTED_MAP_LIMIT ? sortEntries([...map]) : map;
  for (const [key, value] of entries) {
    writeTerm(w, key, cache);
    writeTerm(w, value, cache);
  }
}

function writeObject(
  w: Writer,
  object: { readonly [key: string]: Term },
  cache: EncodeOptions['atomCache'],
): void {
  const keys = Object.keys(object);
  w.ensure(5);
  w.buf[w.offset++] = Tag.Map;
  w.u32(keys.length);
  if (Object.getPrototypeOf(object) === STRING_KEYS) {
    if (keys.length <= SORTED_MAP_LIMIT) keys.sort(compareUtf8);
    for (const key of keys) {
      writeStringBinary(w, key);
      writeTerm(w, object[key]!, cache);
    }
    return;
  }
  if (keys.length <= SORTED_MAP_LIMIT) sortNames(keys);
  for (const key of keys) {
    writeNamedAtom(w, key, cache);
    writeTerm(w, object[key]!, cache);
  }
}

/**
 * Strings in the order of their UTF-8 bytes (Erlang's order of binaries), which is code point
 * order: UTF-16 units order the same except that a surrogate (a code point past U+FFFF) must
 * come after every other unit.
 */
function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && x <= 0xdfff) x += 0x10000;
    if (y >= 0xd800 && y <= 0xdfff) y += 0x10000;
    return x - y;
  }
  return a.length - b.length;
}

/** Insertion sort: at most 32 short names, often nearly sorted; cheaper than Array#sort's callbacks here. */
function sortNames(names: string[]): void {
  for (let i = 1; i < names.length; i++) {
    const name = names[i]!;
    let j = i - 1;
    while (j >= 0 && compareAtomNames(names[j]!, name) > 0) {
      names[j + 1] = names[j]!;
      j--;
    }
    names[j + 1] = name;
  }
}

/** Identifier fields are unsigned 32-bit on the wire; anything else would silently wrap. */
function u32Field(w: Writer, value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new EncodeError(`${what} must be an integer in 0..2^32-1, got ${value}`);
  }
  w.u32(value);
}

function writePid(w: Writer, pid: Pid, cache: EncodeOptions['atomCache']): void {
  w.u8(Tag.NewPid);
  writeAtom(w, pid.node, cache);
  u32Field(w, pid.id, 'pid id');
  u32Field(w, pid.serial, 'pid serial');
  u32Field(w, pid.creation, 'pid creation');
}

function writePort(w: Writer, port: Port, cache: EncodeOptions['atomCache']): void {
  // A non-integral number would make BigInt() throw a RangeError, which reads as a stack overflow.
  const id = typeof port.id === 'bigint' || Number.isInteger(port.id) ? BigInt(port.id) : undefined;
  if (id === undefined || id < 0n || id > MAX_PORT_ID) {
    throw new EncodeError(`port id must fit in 64 bits, got ${String(port.id)}`);
  }
  const wide = id > 0xffffffffn;
  w.u8(wide ? Tag.V4Port : Tag.NewPort);
  writeAtom(w, port.node, cache);
  if (wide) w.u64(id);
  else w.u32(Number(id));
  u32Field(w, port.creation, 'port creation');
}

function writeReference(w: Writer, ref: Reference, cache: EncodeOptions['atomCache']): void {
  if (ref.ids.length > MAX_REFERENCE_IDS) {
    throw new EncodeError(`a reference has at most ${MAX_REFERENCE_IDS} ids, got ${ref.ids.length}`);
  }
  w.u8(Tag.NewerReference);
  w.u16(ref.ids.length);
  writeAtom(w, ref.node, cache);
  u32Field(w, ref.creation, 'reference creation');
  for (const id of ref.ids) u32Field(w, id, 'reference id');
}

function writeExport(w: Writer, fun: ExportFun, cache: EncodeOptions['atomCache']): void {
  if (!Number.isInteger(fun.arity) || fun.arity < 0 || fun.arity > MAX_ARITY) {
    throw new EncodeError(`fun arity must be 0..${MAX_ARITY}, got ${fun.arity}`);
  }
  w.u8(Tag.Export);
  writeAtom(w, fun.module, cache);
  writeAtom(w, fun.name, cache);
  writeInteger(w, fun.arity);
}

function writeOpaque(w: Writer, tag: number, bytes: Uint8Array): void {
  w.u8(tag);
  w.bytes(bytes);
}
