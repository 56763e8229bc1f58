/** `eid rpc node@host module function [args...]`: rpc:call from a short-lived hidden TS node. */
import { parseArgs } from 'node:util';
import { BadRpcError } from '../distribution/errors.ts';
import { formatTerm } from '../etf/format.ts';
import { Atom, atom, Float, ImproperList, Tuple, type Term } from '../etf/terms.ts';
import { cliError, runCommand } from './command.ts';
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

/** Nesting deeper than this is a usage error, long before the parser's recursion could exhaust the stack. */
const MAX_LITERAL_DEPTH = 1000;
/** Erlang refuses longer atoms (and they have no encoding). */
const MAX_ATOM_CHARS = 255;
const MAX_CODE_POINT = 0x10ffff;
/** Erlang's one-letter escapes; any other escaped character stands for itself (\\, \', \"). */
const ESCAPES = new Map(
  Object.entries({ b: '\b', d: '\x7f', e: '\x1b', f: '\f', n: '\n', r: '\r', s: ' ', t: '\t', v: '\v' }),
);
/** The ^X escape: control characters are the low five bits. */
const CONTROL_MASK = 0x1f;

/** Parses one Erlang literal term (no variables or expressions). */
export function parseLiteral(text: string): Term {
  let i = 0;
  const fail = (what: string): never => {
    throw cliError(`cannot parse '${text}' as an Erlang term: ${what} at position ${i}`);
  };
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  /** The character an escape after a backslash stands for: \n, \101 (octal), \x41, \x{41}, \^a, ... */
  const escaped = (): string => {
    const c = text[i];
    if (c === undefined) return fail('unterminated escape');
    const octal = /^[0-7]{1,3}/.exec(text.slice(i, i + 3));
    if (octal !== null) {
      i += octal[0].length;
      return String.fromCodePoint(parseInt(octal[0], 8));
    }
    if (c === 'x') {
      const hex = /^x(?:\{([0-9a-fA-F]{1,8})\}|([0-9a-fA-F]{2}))/.exec(text.slice(i, i + 12));
      const code = hex === null ? NaN : parseInt(hex[1] ?? hex[2]!, 16);
      if (hex === null || !(code <= MAX_CODE_POINT)) return fail('bad \\x escape');
      i += hex[0].length;
      return String.fromCodePoint(code);
    }
    if (c === '^' && i + 1 < text.length) {
      i += 2;
      return String.fromCharCode(text.charCodeAt(i - 1) & CONTROL_MASK);
    }
    i++;
    return ESCAPES.get(c) ?? c;
  };
  const quoted = (q: string): string => {
    let s = '';
    i++;
    while (i < text.length && text[i] !== q) {
      if (text[i] === '\\') {
        i++;
        s += escaped();
      } else {
        s += text[i];
        i++;
      }
    }
    if (text[i] !== q) fail(`unterminated ${q}`);
    i++;
    return s;
  };
  const atomNamed = (name: string): Atom => {
    if ([...name].length > MAX_ATOM_CHARS) fail(`atom longer than ${MAX_ATOM_CHARS} characters`);
    return atom(name);
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
  /**
   * One segment of a binary: "text" (Latin-1: every character one byte, as Erlang reads it),
   * "text"/utf8 (its UTF-8 bytes), or an integer 0..255.
   */
  const segment = (inner: () => Term): number[] => {
    if (text[i] === '"') {
      const s = quoted('"');
      ws();
      if (text[i] === '/') {
        i++;
        ws();
        if (!/^utf8(?![A-Za-z0-9_@])/.test(text.slice(i, i + 5))) fail('only /utf8 is read after a string');
        i += 4;
        return [...Buffer.from(s, 'utf8')];
      }
      const codes = [...s].map((ch) => ch.codePointAt(0)!);
      if (codes.some((c) => c > 0xff)) fail('a character above 255 in a binary string needs /utf8');
      return codes;
    }
    const b = inner();
    if (typeof b !== 'number' || b < 0 || b > 255) fail('binary bytes must be 0..255');
    return [b as number];
  };
  const term = (depth = 0): Term => {
    if (depth > MAX_LITERAL_DEPTH) fail(`nested deeper than ${MAX_LITERAL_DEPTH}`);
    const inner = () => term(depth + 1);
    ws();
    const c = text[i];
    if (c === undefined) return fail('unexpected end');
    if (c === '{') {
      i++;
      return new Tuple(items('}', inner).items);
    }
    if (c === '[') {
      i++;
      const list = items(']', inner, true);
      if (!list.tail) return list.items;
      const tail = inner();
      ws();
      if (text[i] !== ']') fail('expected ]');
      i++;
      return new ImproperList(list.items, tail);
    }
    if (text.startsWith('<<', i)) {
      i += 2;
      const bytes: number[] = [];
      ws();
      while (!text.startsWith('>>', i)) {
        if (i >= text.length) fail('expected >>');
        if (bytes.length > 0 || text[i] === ',') {
          if (bytes.length === 0 || text[i] !== ',') fail('expected , or >>');
          i++;
          ws();
        }
        bytes.push(...segment(inner));
        ws();
      }
      i += 2;
      return Buffer.from(bytes);
    }
    if (text.startsWith('#{', i)) {
      i += 2;
      const pair = (): [Term, Term] => {
        const k = inner();
        ws();
        if (!text.startsWith('=>', i)) fail('expected =>');
        i += 2;
        return [k, inner()];
      };
      return new Map(items('}', pair).items);
    }
    if (c === '"') return [...quoted('"')].map((ch) => ch.codePointAt(0)!);
    if (c === "'") return atomNamed(quoted("'"));
    const num = /^-?\d+(\.\d+(e[+-]?\d+)?)?/i.exec(text.slice(i));
    if (num !== null) {
      i += num[0].length;
      if (num[1] !== undefined) {
        const v = Number(num[0]);
        if (!Number.isFinite(v)) fail('float out of range');
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
      return atomNamed(name[0]);
    }
    return fail('unexpected character');
  };
  const t = term();
  ws();
  if (i !== text.length) fail('trailing characters');
  return t;
}
