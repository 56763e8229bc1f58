/** Terms printed as Erlang prints them (io_lib:format's ~w, with strings and UTF-8 binaries as text). */
import { isUtf8 } from 'node:buffer';
import { EncodeError } from '../errors.ts';
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
  STRING_KEYS,
  Tuple,
  type Term,
} from './terms.ts';

function formatAtom(a: string): string {
  return /^[a-z][A-Za-z0-9_@]*$/.test(a) ? a : `'${a.replace(/['\\]/g, (m) => `\\${m}`)}'`;
}

/** An Erlang float: a digit on both sides of the point (JS writes 1e-7 and 1e+21 without one). */
function formatFloat(v: number): string {
  if (Object.is(v, -0)) return '-0.0';
  const s = String(v);
  if (s.includes('.')) return s;
  const e = s.indexOf('e');
  return e === -1 ? `${s}.0` : `${s.slice(0, e)}.0${s.slice(e)}`;
}

/** Text Erlang reads back inside "...": printable characters, newline and tab (JSON's escapes for those are Erlang's too). */
const PRINTABLE = /^[\x20-\x7e\u00a0-\uffff\n\t]*$/;

/**
 * A binary as Erlang writes it: `<<"abc">>` for ASCII text, `<<"é"/utf8>>` for other valid UTF-8
 * text (Erlang reads a bare `<<"é">>` as the Latin-1 byte 233), else its bytes.
 */
function formatBinary(t: Uint8Array): string {
  const bytes = Buffer.from(t.buffer, t.byteOffset, t.length);
  if (isUtf8(bytes)) {
    const s = bytes.toString('utf8');
    if (PRINTABLE.test(s)) {
      const ascii = s.length === bytes.length;
      return `<<${JSON.stringify(s)}${ascii ? '' : '/utf8'}>>`;
    }
  }
  return `<<${[...t].join(',')}>>`;
}

/** `<<1,2,5:3>>`: whole bytes, then the value of the last byte's `bits` high bits. */
function formatBitString(t: BitString): string {
  const whole = [...t.bytes.subarray(0, t.bytes.length - 1)];
  const last = t.bytes[t.bytes.length - 1]! >> (8 - t.bits);
  return `<<${[...whole, `${last}:${t.bits}`].join(',')}>>`;
}

/**
 * An Erlang-style rendering of a term. Atoms, numbers, binaries, strings, lists, tuples and maps
 * print as Erlang literals (the CLI's parseLiteral reads them back); pids, ports, references and
 * funs do not. Throws {@link EncodeError} for a JavaScript value that is no term.
 */
export function formatTerm(t: Term): string {
  if (typeof t === 'number') return Number.isInteger(t) ? String(t) : formatFloat(t);
  if (typeof t === 'bigint') return t.toString();
  if (typeof t === 'boolean') return String(t);
  // A JS string is a UTF-8 binary on the wire.
  if (typeof t === 'string') return formatTerm(Buffer.from(t, 'utf8'));
  if (t instanceof Float) return formatFloat(t.value);
  if (t instanceof Atom) return formatAtom(t.name);
  if (t instanceof Uint8Array) return formatBinary(t);
  if (Array.isArray(t)) {
    if (t.length > 0 && t.every((x) => typeof x === 'number' && x >= 32 && x < 127))
      return JSON.stringify(String.fromCharCode(...(t as number[])));
    return `[${t.map(formatTerm).join(',')}]`;
  }
  if (t instanceof Tuple) return `{${t.elements.map(formatTerm).join(',')}}`;
  if (t instanceof ImproperList) return `[${t.elements.map(formatTerm).join(',')}|${formatTerm(t.tail)}]`;
  if (t instanceof Map)
    return `#{${[...t].map(([k, v]) => `${formatTerm(k)} => ${formatTerm(v)}`).join(',')}}`;
  if (t instanceof Pid) return `#PID<${t.node.name}.${t.id}.${t.serial}>`;
  if (t instanceof Port) return `#Port<${t.node.name}.${t.id}>`;
  if (t instanceof Reference) return `#Ref<${t.node.name}.${t.ids.join('.')}>`;
  if (t instanceof ExportFun) return `fun ${formatAtom(t.module.name)}:${formatAtom(t.name.name)}/${t.arity}`;
  if (t instanceof Fun) return `#Fun<${t.module.name}>`;
  if (t instanceof BitString) return formatBitString(t);
  if (t instanceof LocalTerm) return `#Local<${t.bytes.length} bytes>`;
  if (typeof t === 'object') {
    const key = Object.getPrototypeOf(t) === STRING_KEYS ? formatTerm : formatAtom;
    return `#{${Object.entries(t)
      .map(([k, v]) => `${key(k)} => ${formatTerm(v)}`)
      .join(',')}}`;
  }
  throw new EncodeError(`cannot format ${String(t)}`);
}

/**
 * console.log, the REPL and util.inspect print terms as Erlang writes them ({ok,<<"abc">>},
 * 'app@10.0.0.7', #PID<...>) rather than as class instances.
 */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');
for (const model of [
  Atom,
  Float,
  Tuple,
  ImproperList,
  BitString,
  Pid,
  Port,
  Reference,
  ExportFun,
  Fun,
  LocalTerm,
]) {
  Object.defineProperty(model.prototype, INSPECT, {
    value(this: Term): string {
      return formatTerm(this);
    },
  });
}
