/**
 * One long-lived real Erlang process (etf_peer.erl as an erl port program, {packet,4} on
 * stdin/stdout) that tests ask to decode, re-encode, generate, compare, sort, parse and print terms.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('./etf_peer.erl', import.meta.url));
const REQUEST_TIMEOUT_MS = 20_000;
const Op = { RoundTrip: 1, Generate: 2, Compare: 3, Sort: 4, ParseTerm: 5, Print: 6 } as const;

export class ErlangPeer {
  private pending: { resolve: (b: Buffer) => void; reject: (e: Error) => void }[] = [];
  private buffered = Buffer.alloc(0);
  private exited: Error | undefined;
  private stderr = '';

  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, Readable>) {
    child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    child.on('exit', (code, signal) => {
      this.exited = new Error(`erl exited (code ${code}, signal ${signal}): ${this.stderr}`);
      for (const p of this.pending.splice(0)) p.reject(this.exited);
    });
  }

  static start(): ErlangPeer {
    // Compile the module in memory (no .beam files left behind) and run its loop.
    const boot =
      `{ok, M, Bin} = compile:file("${SOURCE}", [binary, report]), ` +
      `{module, M} = code:load_binary(M, "${SOURCE}", Bin), M:main().`;
    const child = spawn('erl', ['-noshell', '-noinput', '-eval', boot], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new ErlangPeer(child);
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 4) {
      const length = this.buffered.readUInt32BE(0);
      if (this.buffered.length < 4 + length) break;
      const frame = this.buffered.subarray(4, 4 + length);
      this.buffered = this.buffered.subarray(4 + length);
      const waiter = this.pending.shift();
      if (waiter === undefined) continue;
      if (frame[0] === 0) waiter.resolve(Buffer.from(frame.subarray(1)));
      else waiter.reject(new Error(`erlang: ${frame.subarray(1).toString()}`));
    }
  }

  private request(payload: Buffer): Promise<Buffer> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('erlang peer did not answer')), REQUEST_TIMEOUT_MS);
      this.pending.push({
        resolve: (b) => (clearTimeout(timer), resolve(b)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      const header = Buffer.alloc(4);
      header.writeUInt32BE(payload.length);
      this.child.stdin.write(Buffer.concat([header, payload]));
    });
  }

  /** Erlang's term_to_binary(binary_to_term(etf)) with UTF-8 atoms; rejects if Erlang rejects the bytes. */
  roundTrip(etf: Uint8Array): Promise<Buffer> {
    return this.request(Buffer.concat([Buffer.of(Op.RoundTrip), etf]));
  }

  /** A random Erlang term made by the peer from `seed`, encoded by term_to_binary. */
  generate(seed: number, size: number): Promise<Buffer> {
    const payload = Buffer.alloc(7);
    payload[0] = Op.Generate;
    payload.writeUInt32BE(seed >>> 0, 1);
    payload.writeUInt16BE(size, 5);
    return this.request(payload);
  }

  /** Whether Erlang decodes both encodings to terms that are =:=. */
  async sameTerm(a: Uint8Array, b: Uint8Array): Promise<boolean> {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(a.length);
    const reply = await this.request(Buffer.concat([Buffer.of(Op.Compare), length, a, b]));
    return reply[0] === 1;
  }

  /**
   * The list `etf` encodes as Erlang orders it: the ETF of {Sorted, Exact, Standard}, the list
   * sorted by lists:sort/2 in the exact order (map keys', integers before floats), then -1, 0 or 1
   * for each adjacent pair in the exact order and in the standard order (<, ==, >; 1 == 1.0).
   */
  sort(etf: Uint8Array): Promise<Buffer> {
    return this.request(Buffer.concat([Buffer.of(Op.Sort), etf]));
  }

  /** erl_scan + erl_parse:parse_term of `text` (a full stop appended): the ETF of {ok, Term} or error. */
  parseTerm(text: string): Promise<Buffer> {
    return this.request(Buffer.concat([Buffer.of(Op.ParseTerm), Buffer.from(text, 'utf8')]));
  }

  /** The term `etf` encodes as Erlang prints it: the ETF of [~tw text, ~tp text] (UTF-8 binaries). */
  print(etf: Uint8Array): Promise<Buffer> {
    return this.request(Buffer.concat([Buffer.of(Op.Print), etf]));
  }

  /** Closes stdin (the peer halts on eof) and kills it by pid if it lingers. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
