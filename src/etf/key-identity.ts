/**
 * Duplicate map keys. Erlang rejects a map with two `=:=` keys, but distinct JS objects can be the
 * same term, so the decoder gives each composite key an identity: a number, the same for two terms
 * iff `termEquals` says they are equal. A term's identity is made from its children's identities,
 * which are remembered per object, so each sub-term is visited once per decode however deeply keys
 * nest in keys: the cost is linear in the input (re-encoding every key at every level was quadratic).
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
  Tuple,
  type Term,
} from './terms.ts';
import { flatList, objectEntries } from './kind.ts';

/** Sub-terms visited so far, in every decode: the tests read it to prove the work is linear. */
export const keyIdentityWork = { visits: 0 };

/** Identities for the terms of one decode (they mean nothing across decodes). */
export class KeyIdentities {
  /** Identity of each description: a kind letter, then fixed fields, then child identities. */
  private readonly byDescription = new Map<string, number>();
  private readonly byObject = new Map<object, number>();

  of(t: Term): number {
    keyIdentityWork.visits++;
    if (typeof t !== 'object') return this.intern(valueDescription(t));
    let id = this.byObject.get(t);
    if (id === undefined) {
      id = this.intern(this.describe(t));
      this.byObject.set(t, id);
    }
    return id;
  }

  private intern(description: string): number {
    let id = this.byDescription.get(description);
    if (id === undefined) {
      id = this.byDescription.size;
      this.byDescription.set(description, id);
    }
    return id;
  }

  private describe(t: object & Term): string {
    if (Array.isArray(t)) return 'L' + this.ids(t);
    if (t instanceof Tuple) return 'T' + this.ids(t.elements);
    if (t instanceof Map) return this.describeMap([...t]);
    if (t instanceof Uint8Array) return 'B' + latin1(t);
    if (t instanceof ImproperList) {
      const { elements, tail } = flatList(t);
      return Array.isArray(tail) ? 'L' + this.ids(elements) : `L${this.ids(elements)}|${this.of(tail)}`;
    }
    if (t instanceof BitString) return t.bits === 8 ? 'B' + latin1(t.bytes) : `b${t.bits}:${latin1(t.bytes)}`;
    // Names go last: they are the only fields that may hold any character.
    if (t instanceof Pid) return `P${t.id},${t.serial},${t.creation},${t.node.name}`;
    if (t instanceof Port) return `O${t.id},${t.creation},${t.node.name}`;
    if (t instanceof Reference) return `R${t.creation},${t.ids.join('.')},${t.node.name}`;
    if (t instanceof ExportFun) return `E${t.arity},${t.module.name.length},${t.module.name}${t.name.name}`;
    if (t instanceof Fun) return 'U' + latin1(t.bytes);
    if (t instanceof LocalTerm) return 'X' + latin1(t.bytes);
    if (t instanceof Atom) return 'A' + t.name;
    if (t instanceof Float) return 'F' + (Object.is(t.value, -0) ? '-0' : String(t.value));
    return this.describeMap(objectEntries(t));
  }

  private ids(elements: readonly Term[]): string {
    let out = '';
    for (let i = 0; i < elements.length; i++) out += (i === 0 ? '' : ',') + this.of(elements[i]!);
    return out;
  }

  /** Entries in key identity order, so the order a map was written in does not matter (it does not in Erlang). */
  private describeMap(entries: [Term, Term][]): string {
    const pairs = entries.map(([k, v]): [number, number] => [this.of(k), this.of(v)]);
    pairs.sort((p, q) => p[0] - q[0]);
    return 'M' + pairs.map(([k, v]) => `${k}:${v}`).join(',');
  }
}

/** Integers (number or bigint alike), non-integral floats, `true`/`false` and JS strings (binaries). */
function valueDescription(t: number | bigint | boolean | string): string {
  switch (typeof t) {
    case 'number':
      if (!Number.isInteger(t)) return 'F' + String(t);
      return 'I' + (Number.isSafeInteger(t) ? String(t) : BigInt(t).toString());
    case 'bigint':
      return 'I' + t.toString();
    case 'boolean':
      return 'A' + String(t);
    case 'string':
      return 'B' + latin1(Buffer.from(t, 'utf8'));
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}
