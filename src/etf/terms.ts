/**
 * The JavaScript model of Erlang terms. docs/etf.md has the full mapping table.
 *
 * Plain JavaScript values are used where they are lossless (integers, non-integral floats,
 * booleans, proper lists, binaries); small classes carry everything else.
 */

/**
 * An Erlang atom. Compare by `name` (or with `termEquals`); atoms made with {@link atom} are
 * interned while the intern table has room, and then `===` works too (docs/etf.md, "Atoms").
 */
export class Atom {
  constructor(readonly name: string) {}
  toString(): string {
    return this.name;
  }
}

/** The intern table holds at most this many names... */
const INTERN_LIMIT = 1 << 16;
/** ...of at most this many bytes in all, so peers sending long atoms cannot pin much memory either. */
const INTERN_BYTE_LIMIT = 8 * 1024 * 1024;
/** What one interned name is counted as: the Map entry and Atom, plus 2 bytes per UTF-16 unit (the worst case). */
const INTERN_ENTRY_BYTES = 96;
const interned = new Map<string, Atom>();
let internedBytes = 0;
let internRefused = false;

/**
 * The interned atom for `name`. The intern table is bounded in names and bytes so that untrusted
 * input cannot grow it forever (unlike Erlang's atom table); past the bound, names not yet in it
 * get fresh instances, equal by `name` but not `===`.
 */
export function atom(name: string): Atom {
  let a = interned.get(name);
  if (a === undefined) {
    a = new Atom(name);
    const bytes = INTERN_ENTRY_BYTES + 2 * name.length;
    if (interned.size < INTERN_LIMIT && internedBytes + bytes <= INTERN_BYTE_LIMIT) {
      interned.set(name, a);
      internedBytes += bytes;
    } else {
      internRefused = true;
    }
  }
  return a;
}

/** False until {@link atom} first makes a fresh instance: until then, atoms it made are equal iff `===`. */
export function someAtomsUninterned(): boolean {
  return internRefused;
}

/** A float whose value is integral (1.0, -0.0, 1.0e300). Non-integral floats are plain numbers. */
export class Float {
  constructor(readonly value: number) {}
  valueOf(): number {
    return this.value;
  }
}

/** An Erlang tuple. */
export class Tuple {
  readonly elements: Term[];
  constructor(elements: Term[]) {
    this.elements = elements;
  }
  get length(): number {
    return this.elements.length;
  }
  at(index: number): Term | undefined {
    return this.elements[index];
  }
  [Symbol.iterator](): Iterator<Term> {
    return this.elements[Symbol.iterator]();
  }
}

export function tuple(...elements: Term[]): Tuple {
  return new Tuple(elements);
}

/** A list whose tail is not `[]`: `[a, b | tail]`. Proper lists are plain arrays. */
export class ImproperList {
  constructor(
    readonly elements: Term[],
    readonly tail: Term,
  ) {}
}

/** A bitstring whose last byte holds only `bits` (1..7) significant high bits. */
export class BitString {
  constructor(
    readonly bytes: Uint8Array,
    readonly bits: number,
  ) {}
}

export class Pid {
  constructor(
    readonly node: Atom,
    readonly id: number,
    readonly serial: number,
    readonly creation: number,
  ) {}
}

export class Port {
  constructor(
    readonly node: Atom,
    readonly id: bigint,
    readonly creation: number,
  ) {}
}

export class Reference {
  constructor(
    readonly node: Atom,
    readonly creation: number,
    readonly ids: readonly number[],
  ) {}
}

/** `fun Module:Function/Arity`. */
export class ExportFun {
  constructor(
    readonly module: Atom,
    readonly name: Atom,
    readonly arity: number,
  ) {}
}

/**
 * A local fun (NEW_FUN_EXT). Kept opaque: `bytes` is the whole encoding after the tag,
 * re-encoded byte for byte; the parsed fields are for inspection only.
 */
export class Fun {
  constructor(
    readonly bytes: Uint8Array,
    readonly module: Atom,
    readonly arity: number,
    readonly pid: Pid,
    readonly free: readonly Term[],
  ) {}
}

/** LOCAL_EXT: an encoding private to the node that made it, kept opaque (bytes after the tag). */
export class LocalTerm {
  constructor(readonly bytes: Uint8Array) {}
}

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** An object's own entries printed as a plain object's would be (util.inspect passes itself in). */
function inspectEntries(
  this: object,
  _depth: number,
  options: object,
  inspect: (v: unknown, o: object) => string,
) {
  return inspect({ ...this }, options);
}

/** A prototype with no string keys at all, so map keys such as `__proto__` or `constructor` are plain own data. */
function keysPrototype(): object {
  const proto = Object.create(null) as object;
  Object.defineProperty(proto, INSPECT, { value: inspectEntries });
  return Object.freeze(proto);
}

/**
 * The prototype of objects the JS-friendly mapping (etf/js.ts) makes from maps whose keys are all
 * atoms: it holds nothing under a string key and has a null prototype itself. Such objects are
 * several times faster to build and read than `Object.create(null)` ones (V8 keeps those as
 * dictionaries), and just as safe.
 */
export const ATOM_KEYS: object = keysPrototype();
/** The same for maps whose keys are all binaries: such an object encodes with binary keys. */
export const STRING_KEYS: object = keysPrototype();

/** Whether `value` is an object that stands for an Erlang map: plain, null-prototype, or of the JS-friendly mapping. */
export function isMapObject(value: unknown): value is { readonly [key: string]: Term } {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null || proto === ATOM_KEYS || proto === STRING_KEYS;
}

/** Erlang maps decode to `Map`; keys are terms (compare structurally with `termEquals`). */
export type ErlMap = Map<Term, Term>;

export type Term =
  | number
  | bigint
  | Float
  | Atom
  | boolean
  | Uint8Array
  | string
  | BitString
  | Term[]
  | ImproperList
  | Tuple
  | ErlMap
  | Pid
  | Port
  | Reference
  | ExportFun
  | Fun
  | LocalTerm
  | { readonly [key: string]: Term };
