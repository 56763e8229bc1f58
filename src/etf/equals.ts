/** Erlang's exact equality (=:=) on the term model. */
import {
  BitString,
  type ExportFun,
  type Fun,
  type ImproperList,
  type LocalTerm,
  type Pid,
  type Port,
  type Reference,
  type Term,
  type Tuple,
} from './terms.ts';
import { Kind, atomName, flatList, floatValue, kind, objectEntries } from './kind.ts';

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
      return sameBytes(binaryBytes(a), binaryBytes(b));
    case Kind.BitString: {
      const x = a as BitString;
      const y = b as BitString;
      return x.bits === y.bits && sameBytes(x.bytes, y.bytes);
    }
    case Kind.List: {
      const x = flatList(a as Term[] | ImproperList);
      const y = flatList(b as Term[] | ImproperList);
      if (!elementsEqual(x.elements, y.elements)) return false;
      // Proper lists share the one PROPER_TAIL, which flatList never gives an improper list.
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
      return sameBytes((a as Fun).bytes, (b as Fun).bytes);
    case Kind.Local:
      return sameBytes((a as LocalTerm).bytes, (b as LocalTerm).bytes);
  }
}

/** The value stored under `key` in an Erlang map, comparing keys with {@link termEquals}. */
export function mapGet(map: ReadonlyMap<Term, Term>, key: Term): Term | undefined {
  const direct = map.get(key);
  if (direct !== undefined) return direct;
  for (const [k, v] of map) if (termEquals(k, key)) return v;
  return undefined;
}

function binaryBytes(t: Term): Uint8Array {
  if (typeof t === 'string') return Buffer.from(t, 'utf8');
  return t instanceof BitString ? t.bytes : (t as Uint8Array);
}

/** Compares in place: Buffer.from(Uint8Array) would copy the bytes first. */
function sameBytes(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && Buffer.compare(x, y) === 0;
}

function elementsEqual(x: readonly Term[], y: readonly Term[]): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (!termEquals(x[i]!, y[i]!)) return false;
  return true;
}

function asMap(t: Term): ReadonlyMap<Term, Term> {
  return t instanceof Map ? t : new Map(objectEntries(t));
}

function mapsEqual(x: ReadonlyMap<Term, Term>, y: ReadonlyMap<Term, Term>): boolean {
  if (x.size !== y.size) return false;
  for (const [key, value] of x) {
    const other = mapGet(y, key);
    if (other === undefined || !termEquals(value, other)) return false;
  }
  return true;
}
