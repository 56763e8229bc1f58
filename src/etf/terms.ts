/**
 * The JavaScript model of Erlang terms. docs/etf.md has the full mapping table.
 *
 * Plain JavaScript values are used where they are lossless (integers, non-integral floats,
 * booleans, proper lists, binaries); small classes carry everything else.
 */

/** An Erlang atom. Compare by `name`; atoms made with {@link atom} are interned, so `===` works too. */
export class Atom {
  constructor(readonly name: string) {}
  toString(): string {
    return this.name;
  }
}

const INTERN_LIMIT = 1 << 16;
const interned = new Map<string, Atom>();

/**
 * The interned atom for `name`. The intern table is bounded so that untrusted input
 * cannot grow it forever (unlike Erlang's atom table); past the bound, fresh instances are made.
 */
export function atom(name: string): Atom {
  let a = interned.get(name);
  if (a === undefined) {
    a = new Atom(name);
    if (interned.size < INTERN_LIMIT) interned.set(name, a);
  }
  return a;
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
