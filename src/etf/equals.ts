/** Erlang's exact equality (=:=) on the term model. */
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
  Tuple,
  type Term,
} from './terms.ts';

/**
 * Structural `=:=`: 1 and 1n are the same integer, `Float(1)` is not the integer 1, a JS string
 * equals the binary of its UTF-8 bytes, a plain object equals the map with those atom keys,
 * `true` equals the atom `true`. Floats compare exactly (so -0.0 differs from 0.0, as in OTP 27).
 */
export function termEquals(a: Term, b: Term): boolean {
  if (a === b) return true;
  const ka = kind(a);
  if (ka !== kind(b)) return false;
  switch (ka) {
    case Kind.Integer:
      return BigInt(a as number | bigint) === BigInt(b as number | bigint);
    case Kind.Float:
      return Object.is(floatValue(a), floatValue(b));
    case Kind.Atom:
      return atomName(a) === atomName(b);
    case Kind.Binary:
      return Buffer.from(binaryBytes(a)).equals(binaryBytes(b));
    case Kind.BitString: {
      const x = a as BitString;
      const y = b as BitString;
      return x.bits === y.bits && Buffer.from(x.bytes).equals(y.bytes);
    }
    case Kind.List: {
      const x = listParts(a);
      const y = listParts(b);
      if (!elementsEqual(x.elements, y.elements)) return false;
      // A proper list's tail is [], which listParts never returns for an improper one.
      return (
        x.tail === y.tail || (!Array.isArray(x.tail) && !Array.isArray(y.tail) && termEquals(x.tail, y.tail))
      );
    }
    case Kind.Tuple:
      return elementsEqual((a as Tuple).elements, (b as Tuple).elements);
    case Kind.Map:
      return mapsEqual(asMap(a), asMap(b));
    case Kind.Pid: {
      const x = a as Pid;
      const y = b as Pid;
      return (
        x.node.name === y.node.name && x.id === y.id && x.serial === y.serial && x.creation === y.creation
      );
    }
    case Kind.Port: {
      const x = a as Port;
      const y = b as Port;
      return x.node.name === y.node.name && x.id === y.id && x.creation === y.creation;
    }
    case Kind.Reference: {
      const x = a as Reference;
      const y = b as Reference;
      return (
        x.node.name === y.node.name &&
        x.creation === y.creation &&
        x.ids.length === y.ids.length &&
        x.ids.every((id, i) => id === y.ids[i])
      );
    }
    case Kind.Export: {
      const x = a as ExportFun;
      const y = b as ExportFun;
      return x.module.name === y.module.name && x.name.name === y.name.name && x.arity === y.arity;
    }
    case Kind.Fun:
      return Buffer.from((a as Fun).bytes).equals((b as Fun).bytes);
    case Kind.Local:
      return Buffer.from((a as LocalTerm).bytes).equals((b as LocalTerm).bytes);
  }
}

/** The value stored under `key` in an Erlang map, comparing keys with {@link termEquals}. */
export function mapGet(map: ReadonlyMap<Term, Term>, key: Term): Term | undefined {
  const direct = map.get(key);
  if (direct !== undefined) return direct;
  for (const [k, v] of map) if (termEquals(k, key)) return v;
  return undefined;
}

const Kind = {
  Integer: 0,
  Float: 1,
  Atom: 2,
  Binary: 3,
  BitString: 4,
  List: 5,
  Tuple: 6,
  Map: 7,
  Pid: 8,
  Port: 9,
  Reference: 10,
  Export: 11,
  Fun: 12,
  Local: 13,
} as const;
type KindValue = (typeof Kind)[keyof typeof Kind];

function kind(t: Term): KindValue {
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

function floatValue(t: Term): number {
  return t instanceof Float ? t.value : (t as number);
}

function atomName(t: Term): string {
  return typeof t === 'boolean' ? String(t) : (t as Atom).name;
}

function binaryBytes(t: Term): Uint8Array {
  if (typeof t === 'string') return Buffer.from(t, 'utf8');
  return t instanceof BitString ? t.bytes : (t as Uint8Array);
}

const PROPER_TAIL: Term[] = [];

/** A list as its elements and the tail after them, with nested list tails folded in. */
function listParts(t: Term): { elements: readonly Term[]; tail: Term } {
  if (Array.isArray(t)) return { elements: t, tail: PROPER_TAIL };
  let elements = (t as ImproperList).elements;
  let tail = (t as ImproperList).tail;
  while (Array.isArray(tail) || tail instanceof ImproperList) {
    if (Array.isArray(tail)) return { elements: [...elements, ...tail], tail: PROPER_TAIL };
    elements = [...elements, ...tail.elements];
    tail = tail.tail;
  }
  return { elements, tail };
}

function elementsEqual(x: readonly Term[], y: readonly Term[]): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (!termEquals(x[i]!, y[i]!)) return false;
  return true;
}

function asMap(t: Term): ReadonlyMap<Term, Term> {
  if (t instanceof Map) return t;
  return new Map(Object.entries(t as Record<string, Term>).map(([k, v]) => [new Atom(k), v]));
}

function mapsEqual(x: ReadonlyMap<Term, Term>, y: ReadonlyMap<Term, Term>): boolean {
  if (x.size !== y.size) return false;
  for (const [key, value] of x) {
    const other = mapGet(y, key);
    if (other === undefined || !termEquals(value, other)) return false;
  }
  return true;
}
