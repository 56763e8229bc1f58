/**
 * Erlang literal terms as text: one term (an `eid rpc` argument) or a file of dotted terms
 * (file:consult, for config files). Atoms, numbers, strings, binaries, lists, tuples, maps and
 * `fun M:F/A`; no variables or expressions. Never throws anything but {@link LiteralError}.
 */
import { LiteralError } from '../errors.ts';
import { Atom, atom, ExportFun, Float, ImproperList, Tuple, type Term } from './terms.ts';

/** Erlang's largest fun arity. */
const MAX_ARITY = 255;
/** Nesting deeper than this is refused, long before the parser's recursion could exhaust the stack. */
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

/**
 * A parser over `text` for literal terms (no variables or expressions). `where` names the text
 * in errors; with it, positions are given as lines (a file), otherwise as offsets (one argument).
 */
function literalParser(text: string, where?: string) {
  let i = 0;
  const fail = (what: string): never => {
    const at = where === undefined ? `position ${i}` : `line ${text.slice(0, i).split('\n').length}`;
    const subject = where === undefined ? `'${text}' as an Erlang term` : `${where} as Erlang terms`;
    throw new LiteralError(`cannot parse ${subject}: ${what} at ${at}`, { offset: i });
  };
  /** Skips white space and % comments (to the end of the line), as erl_scan does. */
  const ws = () => {
    for (;;) {
      while (i < text.length && /\s/.test(text[i]!)) i++;
      if (text[i] !== '%') return;
      while (i < text.length && text[i] !== '\n') i++;
    }
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
    const fun = /^fun\s+([a-z][A-Za-z0-9_@]*):([a-z][A-Za-z0-9_@]*)\/(\d{1,3})/.exec(text.slice(i, i + 600));
    if (fun !== null) {
      i += fun[0].length;
      const arity = Number(fun[3]);
      if (arity > MAX_ARITY) fail(`arity above ${MAX_ARITY}`);
      return new ExportFun(atomNamed(fun[1]!), atomNamed(fun[2]!), arity);
    }
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
  return {
    term: () => term(),
    ws,
    fail,
    get done(): boolean {
      return i >= text.length;
    },
    /** Consumes `s` when it comes next. */
    skip(s: string): boolean {
      if (!text.startsWith(s, i)) return false;
      i += s.length;
      return true;
    },
  };
}

/** Parses one Erlang literal term (as erl_parse:parse_term would, without the final dot). */
export function parseLiteral(text: string): Term {
  const p = literalParser(text);
  const t = p.term();
  p.ws();
  if (!p.done) p.fail('trailing characters');
  return t;
}

/**
 * Parses a file of terms each ended by a dot, as file:consult reads them (config files such as
 * ssl_dist_optfile). `where` names the file in errors.
 */
export function consultTerms(text: string, where: string): Term[] {
  const p = literalParser(text, where);
  const out: Term[] = [];
  for (p.ws(); !p.done; p.ws()) {
    out.push(p.term());
    p.ws();
    if (!p.skip('.')) p.fail('expected . after a term');
  }
  return out;
}
