/** `eid rpc node@host module function [args...]`: rpc:call from a short-lived hidden TS node. */
import { parseArgs } from 'node:util';
import { BadRpcError } from '../dist/node.ts';
import { EidError } from '../errors.ts';
import {
  Atom,
  atom,
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
} from '../etf/terms.ts';
import { cliError, runCommand } from './epmd.ts';
import { NODE_OPTIONS_USAGE, nodeOptions, startCliNode } from './ping.ts';

export const usage = `Usage: eid rpc node@host module function [arg...] [options]

Calls module:function(args...) on node@host (rpc:call semantics) and prints the result as an
Erlang term. Each arg is an Erlang literal: atoms, integers, floats, "strings" (char lists),
<<"binaries">>, [lists], {tuples}, #{maps}. With --json each arg is JSON instead
(strings become binaries, objects become maps with atom keys).
Exit 0 with the result, 1 with {badrpc, Reason} on standard error.

Options:
  --json            read args as JSON
${NODE_OPTIONS_USAGE}  --timeout MS      connection and call timeout in milliseconds (default 7000)
  --help            show this help
`;

export function run(args: string[]): Promise<number> {
  return runCommand('rpc', async () => {
    const { values, positionals } = parseArgs({
      args,
      options: { ...nodeOptions, json: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(usage);
      return 0;
    }
    const [target, module, fn, ...rawArgs] = positionals;
    if (target === undefined || module === undefined || fn === undefined) {
      throw cliError('expected node@host module function [args...]');
    }
    const callArgs = rawArgs.map((a) => (values.json === true ? fromJson(a) : parseLiteral(a)));
    const { node, timeoutMs } = await startCliNode(target, values);
    try {
      const result = await node.rpc(target, module, fn, callArgs, timeoutMs);
      process.stdout.write(`${formatTerm(result)}\n`);
      return 0;
    } catch (err) {
      if (err instanceof BadRpcError) {
        process.stderr.write(`{badrpc,${formatTerm(err.reason)}}\n`);
        return 1;
      }
      throw err;
    } finally {
      await node.stop();
    }
  });
}

function fromJson(text: string): Term {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw cliError(`not JSON: ${text}`);
  }
  const convert = (v: unknown): Term => {
    if (v === null) return atom('null');
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
    if (Array.isArray(v)) return v.map(convert);
    const out: Record<string, Term> = {};
    for (const [k, x] of Object.entries(v as object)) out[k] = convert(x);
    return out;
  };
  return convert(value);
}

/** Parses one Erlang literal term (no variables or expressions). */
export function parseLiteral(text: string): Term {
  let i = 0;
  const fail = (what: string): never => {
    throw cliError(`cannot parse '${text}' as an Erlang term: ${what} at position ${i}`);
  };
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const quoted = (q: string): string => {
    let s = '';
    i++;
    while (i < text.length && text[i] !== q) {
      if (text[i] === '\\') i++;
      s += text[i] ?? '';
      i++;
    }
    if (text[i] !== q) fail(`unterminated ${q}`);
    i++;
    return s;
  };
  /** Comma-separated items up to `close`; with `bar`, a `|` ends them too (a list's tail follows). */
  const items = <T>(close: string, item: () => T, bar = false): { items: T[]; tail: boolean } => {
    const out: T[] = [];
    ws();
    if (text[i] === close) {
      i++;
      return { items: out, tail: false };
    }
    for (;;) {
      out.push(item());
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (bar && text[i] === '|') {
        i++;
        return { items: out, tail: true };
      }
      if (text[i] === close) {
        i++;
        return { items: out, tail: false };
      }
      return fail(`expected , ${bar ? '| ' : ''}or ${close}`);
    }
  };
  const term = (): Term => {
    ws();
    const c = text[i];
    if (c === undefined) return fail('unexpected end');
    if (c === '{') {
      i++;
      return new Tuple(items('}', term).items);
    }
    if (c === '[') {
      i++;
      const list = items(']', term, true);
      if (!list.tail) return list.items;
      const tail = term();
      ws();
      if (text[i] !== ']') fail('expected ]');
      i++;
      return new ImproperList(list.items, tail);
    }
    if (text.startsWith('<<', i)) {
      i += 2;
      ws();
      if (text[i] === '"') {
        const s = quoted('"');
        ws();
        if (!text.startsWith('>>', i)) fail('expected >>');
        i += 2;
        return Buffer.from(s, 'utf8');
      }
      const bytes: number[] = [];
      while (!text.startsWith('>>', i)) {
        const b = term();
        if (typeof b !== 'number' || b < 0 || b > 255) fail('binary bytes must be 0..255');
        bytes.push(b as number);
        ws();
        if (text[i] === ',') i++;
        ws();
        if (i >= text.length) fail('expected >>');
      }
      i += 2;
      return Buffer.from(bytes);
    }
    if (text.startsWith('#{', i)) {
      i += 2;
      const pair = (): [Term, Term] => {
        const k = term();
        ws();
        if (!text.startsWith('=>', i)) fail('expected =>');
        i += 2;
        return [k, term()];
      };
      return new Map(items('}', pair).items);
    }
    if (c === '"') return [...quoted('"')].map((ch) => ch.codePointAt(0)!);
    if (c === "'") return atom(quoted("'"));
    const num = /^-?\d+(\.\d+(e[+-]?\d+)?)?/i.exec(text.slice(i));
    if (num !== null) {
      i += num[0].length;
      if (num[1] !== undefined) {
        const v = Number(num[0]);
        return Number.isInteger(v) ? new Float(v) : v;
      }
      const big = BigInt(num[0]);
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(big)
        : big;
    }
    const name = /^[a-z][A-Za-z0-9_@]*/.exec(text.slice(i));
    if (name !== null) {
      i += name[0].length;
      if (name[0] === 'true') return true;
      if (name[0] === 'false') return false;
      return atom(name[0]);
    }
    return fail('unexpected character');
  };
  const t = term();
  ws();
  if (i !== text.length) fail('trailing characters');
  return t;
}

function formatAtom(a: string): string {
  return /^[a-z][A-Za-z0-9_@]*$/.test(a) ? a : `'${a.replace(/['\\]/g, (m) => `\\${m}`)}'`;
}

/** An Erlang-style rendering of a term (for output, not for parsing back in every case). */
export function formatTerm(t: Term): string {
  if (typeof t === 'number') return String(t);
  if (typeof t === 'bigint') return t.toString();
  if (typeof t === 'boolean') return String(t);
  if (typeof t === 'string') return `<<${JSON.stringify(t)}>>`;
  if (t instanceof Float) return t.value.toFixed(1);
  if (t instanceof Atom) return formatAtom(t.name);
  if (t instanceof Uint8Array) {
    const s = Buffer.from(t).toString('utf8');
    const printable = /^[\x20-\x7e\u00a0-\uffff\n\t]*$/.test(s) && Buffer.byteLength(s) === t.length;
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
  throw new EidError('CLI_FORMAT', `cannot format ${String(t)}`);
}
