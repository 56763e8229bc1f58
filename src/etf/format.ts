/** Terms printed as Erlang prints them (io_lib:format's ~w, with strings and UTF-8 binaries as text). */
import { EncodeError } from '../errors.ts';
import {
  Atom,
  BitString,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  Pid,
  Port,
  Reference,
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
  if (t instanceof Uint8Array) {
    const s = Buffer.from(t).toString('utf8');
    // Text only when the bytes are exactly its UTF-8 (invalid sequences decode to U+FFFD, which would not).
    const printable = /^[\x20-\x7e\u00a0-\uffff\n\t]*$/.test(s) && Buffer.from(s, 'utf8').equals(t);
    return printable ? `<<${JSON.stringify(s)}>>` : `<<${[...t].join(',')}>>`;
  }
  if (Array.isArray(t)) {
    if (t.length > 0 && t.every((x) => typeof x === 'number' && x >= 32 && x < 127))
      return JSON.stringify(String.fromCharCode(...(t as number[])));
    return `[${t.map(formatTerm).join(',')}]`;
  }
  if (t instanceof Tuple) return `{${t.elements.map(formatTerm).join(',')}}`;
  if (t instanceof ImproperList) return `[${t.elements.map(formatTerm).join(',')}|${formatTerm(t.tail)}]`;
  if (t instanceof Map)
    return `#{${[...t].map(([k, v]) => `${formatTerm(k)} => ${formatTerm(v)}`).join(',')}}`;
  if (t instanceof Pid) return `<${t.node.name}.${t.id}.${t.serial}>`;
  if (t instanceof Port) return `#Port<${t.node.name}.${t.id}>`;
  if (t instanceof Reference) return `#Ref<${t.node.name}.${t.ids.join('.')}>`;
  if (t instanceof ExportFun) return `fun ${formatAtom(t.module.name)}:${formatAtom(t.name.name)}/${t.arity}`;
  if (t instanceof Fun) return `#Fun<${t.module.name}>`;
  if (t instanceof BitString) return `<<${t.bytes.length} bytes, ${t.bits} bits>>`;
  if (typeof t === 'object') {
    return `#{${Object.entries(t)
      .map(([k, v]) => `${formatAtom(k)} => ${formatTerm(v)}`)
      .join(',')}}`;
  }
  throw new EncodeError(`cannot format ${String(t)}`);
}
