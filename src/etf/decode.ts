/**
 * External Term Format → Term. Every length is checked against the bytes actually left before
 * anything sized by it is allocated; nesting and decompressed size are bounded; maps decode to
 * `Map` (never plain objects), so untrusted keys cannot reach any prototype.
 */
import { inflateSync } from 'node:zlib';
import { DecodeError } from '../errors.ts';
import { Writer, type Reader } from '../bytes.ts';
import {
  Tag,
  FLOAT_EXT_TEXT_BYTES,
  MAX_ARITY,
  MAX_ATOM_CHARACTERS,
  MAX_REFERENCE_IDS,
  NewFunLayout,
} from './tags.ts';
import { decodeAtomBytes } from './atom-cache.ts';
import { Cost, TERM_COST_PER_INPUT_BYTE, defaultTermCost, type TermBudget } from './budget.ts';
import { DEFAULT_MAX_DECOMPRESSED_SIZE, DEFAULT_MAX_DEPTH, type DecodeOptions } from './decode-options.ts';
import { KeyIdentities } from './key-identity.ts';
import * as js from './js.ts';
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
  someAtomsUninterned,
  Tuple,
  type Term,
} from './terms.ts';
import { encodeInto } from './encode.ts';

export { DEFAULT_MAX_DEPTH, DEFAULT_MAX_DECOMPRESSED_SIZE, type DecodeOptions } from './decode-options.ts';

const MAX_SAFE_DIGIT_BYTES = 6;
/**
 * Up to this size TypedArray#slice (an on-heap copy) is the fastest copy; above, Buffer.allocUnsafe
 * (pooled under 4 KiB, never zero-filled, unlike Buffer.from's large path) plus one memcpy.
 */
const SMALL_BINARY = 64;
/** The pre-OTP-23 forms (PID_EXT, PORT_EXT, REFERENCE_EXT, NEW_REFERENCE_EXT) carry a 2-bit creation... */
const LEGACY_MAX_CREATION = 3;
/** ...and their references only 18 significant bits in the first id word; OTP rejects more. */
const LEGACY_MAX_FIRST_REFERENCE_ID = (1 << 18) - 1;
/** Every `[]` decoded is this one array: an empty list costs no allocation. Frozen, since it is shared. */
const NIL: Term[] = Object.freeze([]) as unknown as Term[];

export function decode(buf: Uint8Array, options?: DecodeOptions): Term {
  const d = new Decoder(buf, 0, buf.length, options);
  if (options?.versionByte !== false) d.expectVersion();
  const term = d.topTerm();
  if (d.pos !== d.end) d.fail(`${d.end - d.pos} trailing bytes after the term`, 'end of input');
  if (options?.budget !== undefined) options.budget.remaining = d.remaining;
  return term;
}

/** One term at `reader.offset` (no version byte); advances the reader past it. */
export function decodeFrom(reader: Reader, options?: DecodeOptions): Term {
  const d = new Decoder(reader.buf, reader.offset, reader.end, options);
  const term = d.topTerm();
  reader.offset = d.pos;
  if (options?.budget !== undefined) options.budget.remaining = d.remaining;
  return term;
}

class Decoder {
  pos: number;
  private depth = 0;
  private readonly maxDepth: number;
  private readonly maxDecompressedSize: number;
  private readonly atomCache: readonly (Atom | undefined)[] | undefined;
  /** ATOM_CACHE_REFs resolved so far; a fun that contains one cannot keep its bytes verbatim. */
  private cacheRefsResolved = 0;
  /** Binaries of at least this many bytes are views (Infinity: none). */
  private readonly viewMin: number;
  /** A Buffer view of the input, so slices of it are Buffers too. */
  private readonly buf: Buffer;
  /** Cost units left (written back to a budget given in the options when the term is done). */
  remaining: number;
  /** No budget was given: the default one, which COMPRESSED_EXT may raise. */
  private readonly defaultBudget: boolean;
  /** Identities of composite map keys, made on the first such key. */
  private keyIdentities: KeyIdentities | undefined;
  /** The JS-friendly mapping (`terms: 'js'`). */
  private readonly js: boolean;

  constructor(
    input: Uint8Array,
    start: number,
    public end: number,
    options: DecodeOptions | undefined,
  ) {
    this.buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.length);
    const views = options?.binaryViews ?? false;
    this.viewMin = views === true ? 0 : views === false ? Infinity : views;
    this.pos = start;
    this.maxDepth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.maxDecompressedSize = options?.maxDecompressedSize ?? DEFAULT_MAX_DECOMPRESSED_SIZE;
    this.atomCache = options?.atomCache;
    this.js = options?.terms === 'js';
    const budget: TermBudget | undefined = options?.budget;
    this.defaultBudget = budget === undefined;
    this.remaining = budget === undefined ? defaultTermCost(end - start) : budget.remaining;
  }

  fail(message: string, expected: string, at = this.pos): never {
    throw new DecodeError(message, { offset: at, expected });
  }

  /** Spends `units` of the budget, before what they pay for is made; `at` is where that term starts. */
  private charge(units: number, at: number): void {
    if ((this.remaining -= units) < 0) {
      this.fail('the decoded term would exceed the decode budget', 'a term within the decode budget', at);
    }
  }

  /** Throws unless `n` bytes are left; called before anything sized by `n` is allocated. */
  need(n: number, expected: string): void {
    if (n > this.end - this.pos) {
      this.fail(`truncated: ${expected} needs ${n} bytes, ${this.end - this.pos} left`, expected);
    }
  }

  expectVersion(): void {
    this.need(1, 'version byte 131');
    if (this.buf[this.pos] !== Tag.Version)
      this.fail(`version byte is ${this.buf[this.pos]}`, 'version byte 131');
    this.pos++;
  }

  /** A whole term: the only place COMPRESSED_EXT and LOCAL_EXT may appear. */
  topTerm(): Term {
    this.need(1, 'tag');
    const tag = this.buf[this.pos]!;
    if (tag === Tag.Compressed) return this.compressed();
    if (tag === Tag.Local) {
      // The format after LOCAL_EXT is private to the emitting node and carries no length: it runs to the end.
      this.charge(Cost.OBJECT + Cost.BINARY + this.end - this.pos, this.pos);
      const bytes = Buffer.from(this.buf.subarray(this.pos + 1, this.end));
      this.pos = this.end;
      return new LocalTerm(bytes);
    }
    try {
      return this.term();
    } catch (err) {
      // A nesting limit above what the JS stack holds must still end in the codec's own error.
      if (err instanceof RangeError) this.fail('nesting too deep for the stack', 'shallower term');
      throw err;
    }
  }

  private compressed(): Term {
    const at = this.pos;
    this.pos++;
    this.need(4, 'uncompressed size');
    const size = this.u32();
    if (size > this.maxDecompressedSize) {
      this.fail(
        `declared uncompressed size ${size} exceeds ${this.maxDecompressedSize}`,
        'smaller term',
        at + 1,
      );
    }
    let plain: Buffer;
    try {
      plain = inflateSync(this.buf.subarray(this.pos, this.end), { maxOutputLength: Math.max(size, 1) });
    } catch (cause) {
      throw new DecodeError('zlib data does not inflate to the declared size', {
        offset: this.pos,
        expected: `zlib stream of ${size} bytes`,
        cause,
      });
    }
    if (plain.length !== size) {
      this.fail(`zlib data inflates to ${plain.length} bytes, header says ${size}`, 'declared size');
    }
    // A default budget grows with the bytes actually decoded; a given one is a hard limit.
    if (this.defaultBudget) this.remaining += TERM_COST_PER_INPUT_BYTE * size;
    const inner = new Decoder(plain, 0, plain.length, {
      maxDepth: this.maxDepth,
      maxDecompressedSize: this.maxDecompressedSize,
      atomCache: this.atomCache,
      binaryViews: this.viewMin,
      budget: { remaining: this.remaining },
      terms: this.js ? 'js' : 'erlang',
    });
    let term: Term;
    try {
      term = inner.term();
      if (inner.pos !== inner.end)
        inner.fail('trailing bytes inside compressed term', 'end of compressed data');
    } catch (err) {
      if (err instanceof DecodeError) {
        this.fail(`in compressed data: ${err.message}`, err.expected ?? 'term', this.pos);
      }
      if (err instanceof RangeError) this.fail('nesting too deep for the stack', 'shallower term');
      throw err;
    }
    this.remaining = inner.remaining;
    this.pos = this.end;
    return term;
  }

  private u32(): number {
    const b = this.buf;
    const o = this.pos;
    this.pos = o + 4;
    return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
  }

  private u16(): number {
    const b = this.buf;
    const o = this.pos;
    this.pos = o + 2;
    return (b[o]! << 8) | b[o + 1]!;
  }

  private enter(): void {
    if (++this.depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`, 'shallower term');
  }

  term(): Term {
    const b = this.buf;
    if (this.pos >= this.end) this.fail('truncated: term needs a tag, 0 bytes left', 'tag');
    const tagAt = this.pos;
    const tag = b[this.pos++]!;
    switch (tag) {
      case Tag.SmallInteger:
        this.need(1, 'SMALL_INTEGER_EXT value');
        return b[this.pos++]!;
      case Tag.Integer: {
        this.need(4, 'INTEGER_EXT value');
        return this.u32() | 0;
      }
      case Tag.SmallAtomUtf8:
      case Tag.AtomUtf8:
      case Tag.SmallAtom:
      case Tag.Atom:
      case Tag.AtomCacheRef: {
        this.pos = tagAt;
        const a = this.atom();
        return a.name === 'true' ? true : a.name === 'false' ? false : a;
      }
      case Tag.SmallTuple:
        this.need(1, 'SMALL_TUPLE_EXT arity');
        return this.tuple(b[this.pos++]!, tagAt);
      case Tag.LargeTuple:
        this.need(4, 'LARGE_TUPLE_EXT arity');
        return this.tuple(this.u32(), tagAt);
      case Tag.Nil:
        return NIL;
      case Tag.String: {
        this.need(2, 'STRING_EXT length');
        const length = this.u16();
        this.need(length, 'STRING_EXT bytes');
        if (length === 0) return NIL;
        this.charge(Cost.ARRAY + Cost.SLOT * length, tagAt);
        const out = new Array<number>(length);
        for (let i = 0, o = this.pos; i < length; i++) out[i] = b[o + i]!;
        this.pos += length;
        return out;
      }
      case Tag.List:
        return this.list(tagAt);
      case Tag.Binary: {
        this.need(4, 'BINARY_EXT length');
        const length = this.u32();
        this.need(length, 'BINARY_EXT bytes');
        const from = this.pos;
        this.pos += length;
        if (this.js) {
          // Charged as a copy would be: a string costs at most that.
          this.charge(BINARY_COST + length, tagAt);
          const text = utf8Text(b, from, length);
          if (text !== undefined) return text;
          this.remaining += BINARY_COST + length;
        }
        if (length >= this.viewMin) {
          this.charge(Cost.BINARY_VIEW, tagAt);
          return b.subarray(from, from + length);
        }
        this.charge(Cost.BINARY + length, tagAt);
        if (length <= SMALL_BINARY) return slice.call(b, from, from + length) as Buffer;
        const copy = Buffer.allocUnsafe(length);
        b.copy(copy, 0, from, from + length);
        return copy;
      }
      case Tag.Map:
        this.need(4, 'MAP_EXT arity');
        return this.js ? this.jsMap(tagAt) : this.map(tagAt);
      case Tag.NewFloat: {
        this.need(8, 'NEW_FLOAT_EXT value');
        const v = b.readDoubleBE(this.pos);
        this.pos += 8;
        return this.float(v, tagAt);
      }
      case Tag.Float:
        return this.oldFloat(tagAt);
      case Tag.SmallBig:
        this.need(2, 'SMALL_BIG_EXT header');
        return this.big(b[this.pos++]!, tagAt);
      case Tag.LargeBig:
        this.need(5, 'LARGE_BIG_EXT header');
        return this.big(this.u32(), tagAt);
      case Tag.BitBinary:
        return this.bitBinary(tagAt);
      case Tag.NewPid:
      case Tag.Pid:
        this.pos = tagAt;
        this.charge(Cost.OBJECT, tagAt);
        return this.pid();
      case Tag.NewPort:
      case Tag.V4Port:
      case Tag.Port: {
        const node = this.atom();
        const wide = tag === Tag.V4Port;
        this.need(wide ? 12 : tag === Tag.NewPort ? 8 : 5, 'port id and creation');
        const id = wide ? (BigInt(this.u32()) << 32n) | BigInt(this.u32()) : BigInt(this.u32());
        const creation = tag === Tag.Port ? this.legacyCreation() : this.u32();
        this.charge(Cost.OBJECT + Cost.HEAP_NUMBER, tagAt);
        return new Port(node, id, creation);
      }
      case Tag.NewerReference:
      case Tag.NewReference: {
        this.need(2, 'reference id count');
        const count = this.u16();
        if (count > MAX_REFERENCE_IDS)
          this.fail(`reference with ${count} ids`, `at most ${MAX_REFERENCE_IDS} ids`);
        const node = this.atom();
        const newer = tag === Tag.NewerReference;
        this.need((newer ? 4 : 1) + 4 * count, 'reference creation and ids');
        const creation = newer ? this.u32() : this.legacyCreation();
        const ids = new Array<number>(count);
        for (let i = 0; i < count; i++) ids[i] = this.u32();
        if (!newer && count > 0) this.checkLegacyReferenceId(ids[0]!);
        this.charge(Cost.OBJECT + Cost.ARRAY + Cost.SLOT * count, tagAt);
        return new Reference(node, creation, ids);
      }
      case Tag.Reference: {
        const node = this.atom();
        this.need(5, 'REFERENCE_EXT id and creation');
        const id = this.u32();
        this.checkLegacyReferenceId(id);
        this.charge(Cost.OBJECT + Cost.ARRAY + Cost.SLOT, tagAt);
        return new Reference(node, this.legacyCreation(), [id]);
      }
      case Tag.Export: {
        const module = this.atom();
        const name = this.atom();
        const arityAt = this.pos;
        const arity = this.term();
        if (typeof arity !== 'number' || arity < 0 || arity > MAX_ARITY) {
          this.fail(`EXPORT_EXT arity is not 0..${MAX_ARITY}`, 'SMALL_INTEGER_EXT arity', arityAt);
        }
        this.charge(Cost.OBJECT, tagAt);
        return new ExportFun(module, name, arity);
      }
      case Tag.NewFun:
        return this.fun();
      case Tag.Compressed:
      case Tag.Local:
        return this.fail(`tag ${tag} may only start a whole term`, 'term tag', tagAt);
    }
    return this.fail(`unknown tag ${tag}`, 'term tag', tagAt);
  }

  /** Any atom encoding, for places (pid node, fun module) where only an atom may stand. */
  atom(): Atom {
    this.need(1, 'atom tag');
    const at = this.pos;
    const tag = this.buf[this.pos++]!;
    let length: number;
    switch (tag) {
      case Tag.SmallAtomUtf8:
      case Tag.SmallAtom:
        this.need(1, 'atom length');
        length = this.buf[this.pos++]!;
        break;
      case Tag.AtomUtf8:
      case Tag.Atom:
        this.need(2, 'atom length');
        length = this.u16();
        break;
      case Tag.AtomCacheRef: {
        this.need(1, 'atom cache index');
        const index = this.buf[this.pos++]!;
        const cached = this.atomCache?.[index];
        if (cached === undefined) this.fail(`ATOM_CACHE_REF ${index} has no entry`, 'atom cache entry', at);
        this.cacheRefsResolved++;
        return cached;
      }
      default:
        return this.fail(`tag ${tag} where an atom must be`, 'atom', at);
    }
    this.need(length, 'atom text');
    const latin1 = tag === Tag.Atom || tag === Tag.SmallAtom;
    if (latin1 && length > MAX_ATOM_CHARACTERS) {
      this.fail(`atom of ${length} characters`, `at most ${MAX_ATOM_CHARACTERS} characters`, at);
    }
    const a = decodeAtomBytes(this.buf, this.pos, length, latin1);
    if (a === undefined) this.fail('atom text is not valid UTF-8 of at most 255 characters', 'atom text', at);
    this.pos += length;
    return a;
  }

  private pid(): Pid {
    const tag = this.buf[this.pos++]!;
    const node = this.atom();
    const newer = tag === Tag.NewPid;
    this.need(newer ? 12 : 9, 'pid id, serial and creation');
    const id = this.u32();
    const serial = this.u32();
    const creation = newer ? this.u32() : this.legacyCreation();
    return new Pid(node, id, serial, creation);
  }

  private legacyCreation(): number {
    const creation = this.buf[this.pos]!;
    if (creation > LEGACY_MAX_CREATION)
      this.fail(`legacy creation ${creation}`, `creation 0..${LEGACY_MAX_CREATION}`);
    this.pos++;
    return creation;
  }

  private checkLegacyReferenceId(id: number): void {
    if (id > LEGACY_MAX_FIRST_REFERENCE_ID) {
      this.fail(`legacy reference id ${id}`, `first id below 2^18`, this.pos - 4);
    }
  }

  private float(v: number, at: number): Term {
    if (!Number.isFinite(v)) this.fail(`float ${v} is not an Erlang float`, 'finite float', at);
    if (!Number.isInteger(v)) {
      this.charge(Cost.HEAP_NUMBER, at);
      return v;
    }
    this.charge(Cost.FLOAT, at);
    return new Float(v);
  }

  private oldFloat(at: number): Term {
    this.need(FLOAT_EXT_TEXT_BYTES, 'FLOAT_EXT text');
    const raw = this.buf.toString('latin1', this.pos, this.pos + FLOAT_EXT_TEXT_BYTES);
    this.pos += FLOAT_EXT_TEXT_BYTES;
    // The text ends at the first NUL; OTP ignores what the field holds after it.
    const nul = raw.indexOf('\0');
    const text = nul === -1 ? raw : raw.slice(0, nul);
    // OTP's syntax: digits on both sides of the point (which may be a comma), optional exponent.
    const match = /^([+-]?\d+)[.,](\d+(?:[eE][+-]?\d+)?)$/.exec(text);
    if (match === null) this.fail('FLOAT_EXT text is not a float', 'float text', at);
    return this.float(Number(`${match[1]}.${match[2]}`), at);
  }

  private big(count: number, at: number): Term {
    this.need(1 + count, 'big integer digits');
    this.charge(Cost.HEAP_NUMBER + count, at);
    const b = this.buf;
    // Like OTP, any non-zero sign byte means negative.
    const sign = b[this.pos++]!;
    const start = this.pos;
    this.pos += count;
    if (count <= MAX_SAFE_DIGIT_BYTES) {
      let v = 0;
      for (let i = count - 1; i >= 0; i--) v = v * 256 + b[start + i]!;
      return sign && v !== 0 ? -v : v;
    }
    let hex = '';
    for (let i = count - 1; i >= 0; i--) hex += HEX[b[start + i]!];
    const magnitude = BigInt('0x' + hex);
    const v = sign ? -magnitude : magnitude;
    return v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v;
  }

  private tuple(arity: number, at: number): Tuple {
    // Each element takes at least one byte: a lying arity fails here, before the array exists.
    this.need(arity, 'tuple elements');
    this.charge(Cost.TUPLE + Cost.SLOT * arity, at);
    this.enter();
    const elements = new Array<Term>(arity);
    for (let i = 0; i < arity; i++) elements[i] = this.term();
    this.depth--;
    return new Tuple(elements);
  }

  /**
   * LIST_EXT. A tail that is itself a list is folded in (OTP never writes one, but `[1 | [2]]`
   * is the proper list `[1, 2]`), so proper lists always come back as arrays.
   */
  private list(at: number): Term {
    this.enter();
    const b = this.buf;
    this.need(4, 'LIST_EXT length');
    let length = this.u32();
    this.need(length + 1, 'list elements and tail');
    this.charge(Cost.ARRAY + Cost.SLOT * length, at);
    // The length is known and paid for: one allocation of the right size, not repeated growth.
    const elements = new Array<Term>(length);
    for (let i = 0; i < length; i++) elements[i] = this.term();
    for (;;) {
      this.need(1, 'list tail');
      if (b[this.pos] !== Tag.List) break;
      this.pos++;
      this.need(4, 'LIST_EXT length');
      length = this.u32();
      this.need(length + 1, 'list elements and tail');
      this.charge(Cost.SLOT * length, at);
      for (let i = 0; i < length; i++) elements.push(this.term());
    }
    const tail = this.term();
    this.depth--;
    if (Array.isArray(tail)) {
      for (const element of tail) elements.push(element);
      return elements.length === 0 ? NIL : elements;
    }
    return elements.length === 0 ? tail : new ImproperList(elements, tail);
  }

  private map(at: number): Map<Term, Term> {
    const count = this.u32();
    this.need(count * 2, 'map keys and values');
    this.charge(Cost.MAP + Cost.MAP_ENTRY * count, at);
    this.enter();
    const map = new Map<Term, Term>();
    this.fillMap(map, count, undefined);
    this.depth--;
    return map;
  }

  /**
   * The entries still to come into `map`, `count` of them; `key` (with its offset) when the
   * first one's key is already read.
   */
  private fillMap(map: Map<Term, Term>, count: number, first: { key: Term; at: number } | undefined): void {
    let keyIds: Set<number> | undefined;
    // Atom keys already in `map` (from jsMap) may be other instances than the same atoms read later.
    if (map.size > 0 && someAtomsUninterned()) {
      this.keyIdentities ??= new KeyIdentities();
      keyIds = new Set();
      for (const key of map.keys()) if (typeof key === 'object') keyIds.add(this.keyIdentities.of(key));
    }
    for (let i = 0; i < count; i++) {
      const keyAt = i === 0 && first !== undefined ? first.at : this.pos;
      const key = i === 0 && first !== undefined ? first.key : this.term();
      // Distinct objects can be the same Erlang term (so can atoms, once some are not interned).
      if (typeof key === 'object' && (!(key instanceof Atom) || someAtomsUninterned())) {
        this.keyIdentities ??= new KeyIdentities();
        keyIds ??= new Set();
        const id = this.keyIdentities.of(key);
        if (keyIds.has(id)) this.fail('duplicate map key', 'distinct map keys', keyAt);
        keyIds.add(id);
      }
      const size = map.size;
      map.set(key, this.term());
      if (map.size === size) this.fail('duplicate map key', 'distinct map keys', keyAt);
    }
  }

  /**
   * A map in the JS-friendly mapping: an object while every key is an atom, or every key a
   * string (the first key decides which); at the first key that fits neither, a `Map`.
   */
  private jsMap(at: number): Term {
    const count = this.u32();
    this.need(count * 2, 'map keys and values');
    this.charge(MAP_COST + MAP_ENTRY_COST * count, at);
    if (count === 0) return keyedObject(false);
    this.enter();
    let keyAt = this.pos;
    let key = this.jsKey();
    const stringKeys = typeof key === 'string';
    const object = keyedObject(stringKeys);
    for (let i = 0; ;) {
      const name = stringKeys
        ? typeof key === 'string'
          ? key
          : undefined
        : key instanceof Atom
          ? key.name
          : typeof key === 'boolean'
            ? String(key)
            : undefined;
      if (name === undefined) {
        const map = objectToMap(object);
        this.fillMap(map, count - i, { key, at: keyAt });
        this.depth--;
        return map;
      }
      if (object[name] !== undefined) this.fail('duplicate map key', 'distinct map keys', keyAt);
      object[name] = this.term();
      if (++i === count) break;
      keyAt = this.pos;
      key = this.jsKey();
    }
    this.depth--;
    return object;
  }

  /** A map key in the JS-friendly mapping: a binary's text through the key cache, else any term. */
  private jsKey(): Term {
    const b = this.buf;
    const at = this.pos;
    if (b[at] !== Tag.Binary || this.end - at < 5) return this.term();
    const length = b[at + 1]! * 0x1000000 + ((b[at + 2]! << 16) | (b[at + 3]! << 8) | b[at + 4]!);
    if (length > this.end - at - 5) return this.term();
    this.charge(BINARY_COST + length, at);
    const text = keyText(b, at + 5, length);
    if (text === undefined) {
      this.remaining += BINARY_COST + length;
      return this.term();
    }
    this.pos = at + 5 + length;
    return text;
  }

  private bitBinary(at: number): Term {
    this.need(5, 'BIT_BINARY_EXT header');
    const length = this.u32();
    const bits = this.buf[this.pos++]!;
    if (bits < 1 || bits > 8 || length === 0) {
      this.fail(
        `BIT_BINARY_EXT of ${length} bytes with ${bits} bits in the last`,
        '1..8 bits in a last byte',
        at,
      );
    }
    this.need(length, 'BIT_BINARY_EXT bytes');
    this.charge(Cost.OBJECT + Cost.BINARY + length, at);
    if (bits === 8 && this.js) {
      const text = utf8Text(this.buf, this.pos, length);
      this.pos += length;
      if (text !== undefined) return text;
      return Buffer.from(this.buf.subarray(this.pos - length, this.pos));
    }
    const bytes = Buffer.from(this.buf.subarray(this.pos, this.pos + length));
    this.pos += length;
    if (bits === 8) return bytes;
    // Bits past the end are not part of the term; OTP ignores them, so they are cleared.
    bytes[length - 1] = bytes[length - 1]! & ((0xff << (8 - bits)) & 0xff);
    return new BitString(bytes, bits);
  }

  /**
   * NEW_FUN_EXT: kept byte for byte; the fields are parsed for inspection and to find where it
   * ends. Like OTP, the size field is not trusted for that (OTP ignores it) and is rewritten.
   */
  private fun(): Fun {
    const start = this.pos;
    const refsBefore = this.cacheRefsResolved;
    this.need(NewFunLayout.FIXED_BYTES, 'NEW_FUN_EXT header');
    const arity = this.buf[start + NewFunLayout.ARITY_AT]!;
    this.pos = start + NewFunLayout.NUM_FREE_AT;
    const freeCount = this.u32();
    const module = this.atom();
    const oldIndexAndUniq: number[] = [];
    for (const field of ['old index', 'old uniq']) {
      const fieldAt = this.pos;
      const value = this.term();
      if (typeof value !== 'number') this.fail(`NEW_FUN_EXT ${field} is not an integer`, 'integer', fieldAt);
      oldIndexAndUniq.push(value);
    }
    this.need(1, 'NEW_FUN_EXT pid');
    const pidTag = this.buf[this.pos];
    if (pidTag !== Tag.NewPid && pidTag !== Tag.Pid) this.fail('NEW_FUN_EXT pid is not a pid', 'pid');
    const pid = this.pid();
    this.need(freeCount, 'NEW_FUN_EXT free variables');
    this.charge(Cost.OBJECT + Cost.ARRAY + Cost.SLOT * freeCount, start - 1);
    this.enter();
    const free = new Array<Term>(freeCount);
    for (let i = 0; i < freeCount; i++) free[i] = this.term();
    this.depth--;
    this.charge(Cost.BINARY + this.pos - start, start - 1);
    if (this.cacheRefsResolved === refsBefore) {
      const bytes = Buffer.from(this.buf.subarray(start, this.pos));
      // The size field is not trusted; the kept bytes carry the true size, as OTP re-encodes it.
      bytes.writeUInt32BE(bytes.length, 0);
      return new Fun(bytes, module, arity, pid, free);
    }
    // Atom cache references mean something only inside the message that carried them, so the
    // fun's bytes are rebuilt with plain atoms: the Fun can then be sent anywhere unchanged.
    const w = new Writer(this.pos - start + 64);
    w.bytes(this.buf.subarray(start, start + NewFunLayout.FIXED_BYTES));
    for (const field of [module, ...oldIndexAndUniq, pid, ...free]) encodeInto(w, field);
    w.buf.writeUInt32BE(w.offset, 0);
    return new Fun(w.toBuffer(), module, arity, pid, free);
  }
}

const slice = Uint8Array.prototype.slice;
// Module-local bindings: the hot paths then read a local, not another module's export.
const { keyedObject, keyText, objectToMap, utf8Text } = js;
const { BINARY: BINARY_COST, MAP: MAP_COST, MAP_ENTRY: MAP_ENTRY_COST } = Cost;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
