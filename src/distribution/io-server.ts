/**
 * A group leader in TypeScript: a process that serves Erlang's I/O protocol
 * (`{io_request, From, ReplyAs, Request}` answered by `{io_reply, ReplyAs, Reply}`) for a
 * terminal on this side. Output requests are served at once, even while an input request waits
 * for a line; input requests are served one at a time, in order. Functions the protocol names
 * (`put_chars` with M:F:A, `get_until` with M:F:A such as erl_scan:tokens, `{format, F, A}`
 * prompts) run on the requester's node over rpc, where the module exists, with the continuation
 * passed back and forth so an expression can span several lines.
 */
import { Atom, atom, Pid, Tuple, tuple, type Term } from '../etf/terms.ts';
import { IoRequestError, ProcessExit } from './errors.ts';
import { isAtom, type Process } from './process.ts';

/** The terminal an {@link IoServer} serves: where output goes and where lines come from. */
export interface IoTerminal {
  /** Shows `text` (output of the node's processes). */
  write(text: string): void;
  /**
   * One line, without its newline, after showing `prompt`; undefined at the end of input.
   * `history` is false when the client asked that its lines stay out of the line history
   * (setopts line_history, as OTP 26+ shells do for io:get_line inside an evaluation).
   */
  readLine(prompt: string, options: { history: boolean }): Promise<string | undefined>;
  /** The terminal's size, or undefined when it is not a terminal (get_geometry answers enotsup). */
  geometry(): { columns: number; rows: number } | undefined;
}

/** What the server needs of its node. */
export interface IoServerHost {
  /** rpc:call on `node` (rejects when the call fails). */
  rpc(node: string, module: string, fn: string, args: Term[]): Promise<Term>;
  send(to: Pid, message: Term, from: Pid): void;
}

export interface IoServerOptions {
  /** Called for a message that is not an I/O request, for example `{'EXIT', Pid, Reason}`. */
  onMessage?: (message: Term) => void;
}

type Encoding = 'unicode' | 'latin1';

const A = {
  eof: atom('eof'),
  error: atom('error'),
  io_reply: atom('io_reply'),
  ok: atom('ok'),
  unicode: atom('unicode'),
  latin1: atom('latin1'),
  binary: atom('binary'),
  echo: atom('echo'),
  encoding: atom('encoding'),
  expand_fun: atom('expand_fun'),
  enotsup: atom('enotsup'),
  request: atom('request'),
  put_chars: atom('put_chars'),
  no_translation: atom('no_translation'),
} as const;

const INPUT_REQUESTS = new Set(['get_line', 'get_until', 'get_chars', 'get_password']);
/** Options setopts accepts; the ones we do not act on are kept and echoed back by getopts. */
const KEPT_OPTIONS = new Set(['expand_fun', 'line_history', 'expand_below', 'log']);

/** Characters of chardata (code points and UTF-8 or Latin-1 binaries, nested); throws IoRequestError. */
export function chardataText(term: Term, encoding: Encoding): string {
  const parts: string[] = [];
  const walk = (t: Term, depth: number): void => {
    if (depth > 10_000) throw new IoRequestError(A.put_chars);
    if (typeof t === 'number') {
      const max = encoding === 'latin1' ? 0xff : 0x10ffff;
      if (!Number.isInteger(t) || t < 0 || t > max) throw new IoRequestError(A.put_chars);
      parts.push(String.fromCodePoint(t));
    } else if (t instanceof Uint8Array) {
      if (encoding === 'latin1') parts.push(Buffer.from(t).toString('latin1'));
      else {
        const text = Buffer.from(t).toString('utf8');
        if (text.includes('\ufffd') && !Buffer.from(text, 'utf8').equals(t))
          throw new IoRequestError(A.put_chars);
        parts.push(text);
      }
    } else if (typeof t === 'string') {
      parts.push(t);
    } else if (Array.isArray(t)) {
      for (const x of t) walk(x, depth + 1);
    } else {
      throw new IoRequestError(A.put_chars);
    }
  };
  walk(term, 0);
  return parts.join('');
}

/** `text` as the protocol hands input to a client: a list of characters, or a binary. */
function inputTerm(text: string, binary: boolean, encoding: Encoding): Term {
  if (encoding === 'latin1' && [...text].some((c) => c.codePointAt(0)! > 0xff))
    throw new IoRequestError(tuple(A.no_translation, A.unicode, A.latin1));
  if (binary) return Buffer.from(text, encoding === 'latin1' ? 'latin1' : 'utf8');
  return [...text].map((c) => c.codePointAt(0)!);
}

/** What a get_until function left over: characters, or the end of input. */
function restText(rest: Term): string | undefined {
  if (isAtom(rest, 'eof')) return undefined;
  try {
    return chardataText(rest, 'unicode');
  } catch {
    return '';
  }
}

function encodingOf(t: Term | undefined): Encoding | undefined {
  if (isAtom(t, 'unicode') || isAtom(t, 'utf8')) return 'unicode';
  if (isAtom(t, 'latin1')) return 'latin1';
  return undefined;
}

export class IoServer {
  /** The group leader's pid: give it to the processes whose I/O this server handles. */
  readonly pid: Pid;
  private binary = false;
  private encoding: Encoding = 'unicode';
  private echo = true;
  private readonly kept = new Map<string, Term>();
  /** Characters typed but not consumed yet; undefined once input has ended. */
  private buffer: string | undefined = '';
  private readonly inputs: Tuple[] = [];
  private serving = false;
  /** Resolves when the server's process has ended. */
  readonly done: Promise<void>;

  constructor(
    /** The server's process (link it to the processes it serves; set trapExit to hear of their end). */
    readonly process: Process,
    private readonly host: IoServerHost,
    private readonly terminal: IoTerminal,
    private readonly options: IoServerOptions = {},
  ) {
    this.pid = process.pid;
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    for (;;) {
      let message: Term;
      try {
        message = await this.process.receive();
      } catch (err) {
        if (err instanceof ProcessExit) return;
        throw err;
      }
      if (
        message instanceof Tuple &&
        message.length === 4 &&
        isAtom(message.elements[0], 'io_request') &&
        message.elements[1] instanceof Pid
      ) {
        if (this.isInput(message.elements[3] as Term)) {
          this.inputs.push(message);
          void this.serveInputs();
        } else {
          void this.serve(message);
        }
      } else {
        this.options.onMessage?.(message);
      }
    }
  }

  private isInput(request: Term): boolean {
    if (!(request instanceof Tuple)) return false;
    const [name, list] = request.elements;
    if (name instanceof Atom && INPUT_REQUESTS.has(name.name)) return true;
    return isAtom(name, 'requests') && Array.isArray(list) && list.some((r) => this.isInput(r));
  }

  private async serveInputs(): Promise<void> {
    if (this.serving) return;
    this.serving = true;
    try {
      for (let next = this.inputs.shift(); next !== undefined; next = this.inputs.shift()) {
        await this.serve(next);
      }
    } finally {
      this.serving = false;
    }
  }

  private async serve(message: Tuple): Promise<void> {
    const [, from, replyAs, request] = message.elements as [Term, Pid, Term, Term];
    let reply: Term;
    try {
      reply = await this.handle(from.node.name, request);
    } catch (err) {
      if (!(err instanceof IoRequestError)) {
        if (err instanceof ProcessExit) return;
        reply = tuple(A.error, A.request);
      } else {
        reply = tuple(A.error, err.reason);
      }
    }
    if (this.process.alive) this.host.send(from, tuple(A.io_reply, replyAs, reply), this.pid);
  }

  /** One request's reply (requests from `node`, where its M:F:A functions run). */
  private async handle(node: string, request: Term): Promise<Term> {
    if (isAtom(request, 'getopts')) return this.getopts();
    if (!(request instanceof Tuple)) throw new IoRequestError(A.request);
    const [name, ...args] = request.elements;
    const n = name instanceof Atom ? name.name : '';
    const enc = encodingOf(args[0]);
    switch (`${n}/${args.length}`) {
      case 'put_chars/2':
        if (enc === undefined) break;
        return this.write(chardataText(args[1]!, enc));
      case 'put_chars/1':
        return this.write(chardataText(args[0]!, 'latin1'));
      case 'put_chars/4':
        if (enc === undefined) break;
        return this.write(chardataText(await this.apply(node, args[1]!, args[2]!, args[3]!), enc));
      case 'put_chars/3':
        return this.write(chardataText(await this.apply(node, args[0]!, args[1]!, args[2]!), 'latin1'));
      case 'get_line/2':
        if (enc === undefined) break;
        return this.getLine(node, args[1]!, enc);
      case 'get_line/1':
        return this.getLine(node, args[0]!, 'latin1');
      case 'get_until/5':
        if (enc === undefined) break;
        return this.getUntil(node, args[1]!, args[2]!, args[3]!, args[4]!, enc);
      case 'get_until/4':
        return this.getUntil(node, args[0]!, args[1]!, args[2]!, args[3]!, 'latin1');
      case 'get_chars/3':
        if (enc === undefined) break;
        return this.getChars(node, args[1]!, args[2]!, enc);
      case 'get_chars/2':
        return this.getChars(node, args[0]!, args[1]!, 'latin1');
      case 'get_password/1':
        throw new IoRequestError(A.enotsup);
      case 'get_geometry/1':
        return this.geometry(args[0]!);
      case 'setopts/1':
        return this.setopts(args[0]!);
      case 'requests/1':
        return this.requests(node, args[0]!);
    }
    throw new IoRequestError(A.request);
  }

  private write(text: string): Term {
    this.terminal.write(text);
    return A.ok;
  }

  /** apply(M, F, A) on `node`. */
  private async apply(node: string, m: Term, f: Term, a: Term): Promise<Term> {
    if (!(m instanceof Atom) || !(f instanceof Atom) || !Array.isArray(a))
      throw new IoRequestError(A.request);
    try {
      return await this.host.rpc(node, m.name, f.name, a);
    } catch {
      throw new IoRequestError(f);
    }
  }

  private async requests(node: string, list: Term): Promise<Term> {
    if (!Array.isArray(list)) throw new IoRequestError(A.request);
    let reply: Term = A.ok;
    for (const r of list) {
      reply = await this.handle(node, r);
    }
    return reply;
  }

  private geometry(which: Term): Term {
    const size = this.terminal.geometry();
    if (size === undefined) throw new IoRequestError(A.enotsup);
    if (isAtom(which, 'columns')) return size.columns;
    if (isAtom(which, 'rows')) return size.rows;
    throw new IoRequestError(A.request);
  }

  private getopts(): Term {
    return [
      tuple(A.binary, this.binary),
      tuple(A.encoding, this.encoding === 'unicode' ? A.unicode : A.latin1),
      tuple(A.echo, this.echo),
      ...[...this.kept].map(([k, v]) => tuple(atom(k), v)),
    ];
  }

  private setopts(opts: Term): Term {
    const list = Array.isArray(opts) ? opts : [opts];
    for (const opt of list) {
      if (isAtom(opt, 'binary')) this.binary = true;
      else if (isAtom(opt, 'list')) this.binary = false;
      else if (opt instanceof Tuple && opt.length === 2 && opt.elements[0] instanceof Atom) {
        const [key, value] = opt.elements as [Atom, Term];
        if (key.name === 'binary' && typeof value === 'boolean') this.binary = value;
        else if (key.name === 'echo' && typeof value === 'boolean') this.echo = value;
        else if (key.name === 'encoding' && encodingOf(value) !== undefined)
          this.encoding = encodingOf(value)!;
        else if (KEPT_OPTIONS.has(key.name)) this.kept.set(key.name, value);
        else throw new IoRequestError(A.enotsup);
      } else throw new IoRequestError(A.enotsup);
    }
    return A.ok;
  }

  /** The prompt's text: chardata as it is, anything else (an atom, `{format, F, A}`) formatted by `node`. */
  private async promptText(node: string, prompt: Term): Promise<string> {
    if (prompt instanceof Atom) return prompt.name;
    try {
      return chardataText(prompt, 'unicode');
    } catch {
      try {
        return chardataText(
          await this.host.rpc(node, 'io_lib', 'format_prompt', [prompt, A.unicode]),
          'unicode',
        );
      } catch {
        return '';
      }
    }
  }

  /** The next line typed (with its newline), or undefined at the end of input. */
  private async nextLine(prompt: string): Promise<string | undefined> {
    if (this.buffer === undefined) return undefined;
    if (this.buffer === '') {
      const history = !isAtom(this.kept.get('line_history'), 'false');
      const line = await this.terminal.readLine(prompt, { history });
      if (line === undefined) {
        this.buffer = undefined;
        return undefined;
      }
      this.buffer = `${line}\n`;
    }
    const end = this.buffer.indexOf('\n');
    const taken = end < 0 ? this.buffer : this.buffer.slice(0, end + 1);
    this.buffer = this.buffer.slice(taken.length);
    return taken;
  }

  private async getLine(node: string, prompt: Term, enc: Encoding): Promise<Term> {
    const line = await this.nextLine(await this.promptText(node, prompt));
    if (line === undefined) return A.eof;
    return inputTerm(line, this.binary, enc);
  }

  private async getChars(node: string, prompt: Term, count: Term, enc: Encoding): Promise<Term> {
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0)
      throw new IoRequestError(A.request);
    const text = await this.promptText(node, prompt);
    let chars = '';
    while ([...chars].length < count) {
      const line = await this.nextLine(text);
      if (line === undefined) break;
      chars += line;
    }
    if (chars === '' && count > 0) return A.eof;
    const all = [...chars];
    const rest = all.slice(count).join('');
    if (rest !== '') this.buffer = rest + (this.buffer ?? '');
    return inputTerm(all.slice(0, count).join(''), this.binary, enc);
  }

  /**
   * get_until: feeds lines to M:F(Continuation, Data, ExtraArgs...) on `node` until it is done;
   * what it leaves over stays for the next request.
   */
  private async getUntil(
    node: string,
    prompt: Term,
    m: Term,
    f: Term,
    extra: Term,
    enc: Encoding,
  ): Promise<Term> {
    if (!Array.isArray(extra)) throw new IoRequestError(A.request);
    const text = await this.promptText(node, prompt);
    let cont: Term = [];
    for (;;) {
      const line = await this.nextLine(text);
      const data = line === undefined ? A.eof : inputTerm(line, this.binary, enc);
      const result = await this.apply(node, m, f, [cont, data, ...extra]);
      if (!(result instanceof Tuple)) throw new IoRequestError(f);
      if (isAtom(result.elements[0], 'done') && result.length === 3) {
        const rest = restText(result.elements[2] as Term);
        if (rest === undefined) this.buffer = undefined;
        else if (rest !== '' && this.buffer !== undefined) this.buffer = rest + this.buffer;
        return result.elements[1] as Term;
      }
      if (isAtom(result.elements[0], 'more') && result.length === 2) {
        if (line === undefined) return A.eof;
        cont = result.elements[1] as Term;
        continue;
      }
      throw new IoRequestError(f);
    }
  }
}
