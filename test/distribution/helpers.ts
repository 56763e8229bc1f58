/**
 * Shared helpers for the distribution tests: ports from this area's range (45000-45999), a
 * stock `epmd` and real `erl`/`elixir` nodes that are always stopped by pid, and an agent in
 * each Erlang node that evaluates expressions sent to it (so tests drive Erlang from TypeScript).
 */
import net from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { Node, type NodeOptions } from '../../src/distribution/node.ts';
import type { Process } from '../../src/distribution/process.ts';
import { formatTerm } from '../../src/etf/format.ts';
import { atom, tuple, type Term } from '../../src/etf/terms.ts';
import { HeaderTag } from '../../src/distribution/header.ts';
import { FrameDecoder, encodeHandshakeFrame } from '../../src/distribution/framing.ts';
import { Handshake } from '../../src/distribution/handshake.ts';
import { DEFAULT_FLAGS, DistFlags } from '../../src/distribution/flags.ts';
import { Writer } from '../../src/bytes.ts';

/** Each test file takes its own slice so files running in parallel never collide. */
export const PortSlices = {
  otp: [45000, 45199],
  elixir: [45200, 45299],
  faults: [45300, 45399],
  cluster: [45400, 45499],
  cli: [45500, 45599],
  containers: [45600, 45699],
  hostile: [45700, 45799],
  bench: [45900, 45999],
} as const;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '0.0.0.0' }, () => s.close(() => resolve(true)));
  });
}

export function portAllocator(slice: readonly [number, number]): () => Promise<number> {
  let next = slice[0];
  return async () => {
    while (next <= slice[1]) {
      const port = next++;
      if (await canBind(port)) return port;
    }
    throw new Error(`no free port left in ${slice[0]}-${slice[1]}`);
  };
}

export const COOKIE = 'eid-dist-test-cookie';

/** `erl` flags for a node named `name` listening on `port`, registered with the epmd of ERL_EPMD_PORT. */
export function erlDistArgs(
  nameFlag: '-name' | '-sname',
  name: string,
  cookie: string,
  port: number,
): string[] {
  const dist = ['inet_dist_listen_min', String(port), 'inet_dist_listen_max', String(port)];
  return ['-noshell', nameFlag, name, '-setcookie', cookie, '-start_epmd', 'false', '-kernel', ...dist];
}

/** An expression evaluator registered as `eid_agent`: answers {'$gen_call', From, {eval, Src}}. */
const AGENT = [
  'Agent = fun Loop() ->',
  '  receive',
  "    {'$gen_call', From, {eval, Src, Binds}} ->",
  '      spawn(fun() ->',
  '        R = try',
  '          {ok, Ts, _} = erl_scan:string(binary_to_list(Src)),',
  '          {ok, Es} = erl_parse:parse_exprs(Ts),',
  '          B = lists:foldl(fun({K, V0}, Acc) -> erl_eval:add_binding(K, V0, Acc) end, erl_eval:new_bindings(), Binds),',
  '          {value, V, _} = erl_eval:exprs(Es, B),',
  '          V',
  '        catch C:E -> {agent_error, C, E} end,',
  '        gen:reply(From, R)',
  '      end),',
  '      Loop()',
  '  end',
  'end,',
  'register(eid_agent, spawn(Agent)),',
  'io:format("READY~n").',
].join('\n');

export class Spawned {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  async waitFor(text: string, timeoutMs = 20000): Promise<void> {
    const start = Date.now();
    while (!this.stdout.includes(text)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`process exited before printing ${text}: ${this.stdout} ${this.stderr}`);
      }
      if (Date.now() - start > timeoutMs)
        throw new Error(`timed out waiting for ${text}: ${this.stdout} ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

/** Everything a test file starts, stopped by pid at the end even when a test fails. */
export class Fixture {
  private readonly children = new Set<Spawned>();
  private readonly nodes = new Set<Node>();
  readonly nextPort: () => Promise<number>;
  epmdPort = 0;

  constructor(slice: readonly [number, number]) {
    this.nextPort = portAllocator(slice);
  }

  spawn(command: string, args: string[], env: Record<string, string> = {}): Spawned {
    const child = spawn(command, args, {
      env: { ...process.env, ERL_CRASH_DUMP_SECONDS: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: tmpdir(),
    });
    const s = new Spawned(child);
    this.children.add(s);
    void s.exited.then(() => this.children.delete(s));
    return s;
  }

  /** Starts this file's own `epmd` on a port of the slice. */
  async startEpmd(): Promise<number> {
    const port = await this.nextPort();
    const epmd = this.spawn('epmd', ['-port', String(port)]);
    const start = Date.now();
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1' });
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (ok) break;
      if (epmd.child.exitCode !== null || Date.now() - start > 10000)
        throw new Error(`epmd did not start: ${epmd.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    this.epmdPort = port;
    return port;
  }

  /** A real OTP node on 127.0.0.1 with the eval agent, registered with this file's epmd. */
  async startErl(
    alive: string,
    options: {
      cookie?: string;
      ticktime?: number;
      extra?: string[];
      command?: string;
      nameFlag?: '-name' | '-sname';
    } = {},
  ): Promise<ErlNode> {
    const port = await this.nextPort();
    const short = options.nameFlag === '-sname';
    const name = short ? `${alive}@${hostname().split('.')[0]!}` : `${alive}@127.0.0.1`;
    const args = [
      ...erlDistArgs(options.nameFlag ?? '-name', short ? alive : name, options.cookie ?? COOKIE, port),
      ...(options.ticktime === undefined ? [] : ['-kernel', 'net_ticktime', String(options.ticktime)]),
      ...(options.extra ?? []),
      '-eval',
      AGENT,
    ];
    const erl = this.spawn(options.command ?? 'erl', args, { ERL_EPMD_PORT: String(this.epmdPort) });
    await erl.waitFor('READY');
    return new ErlNode(name, erl, port);
  }

  /** A real Elixir node with an `eid_agent` that evaluates Elixir source with bindings. */
  async startElixir(alive: string, options: { cookie?: string } = {}): Promise<ErlNode> {
    const port = await this.nextPort();
    const name = `${alive}@127.0.0.1`;
    const agent = [
      'loop = fn loop ->',
      '  receive do',
      '    {:"$gen_call", from, {:eval, src, binds}} ->',
      '      spawn(fn ->',
      '        {v, _} = Code.eval_string(src, Enum.map(binds, fn {k, x} -> {String.to_atom(String.downcase(Atom.to_string(k))), x} end))',
      '        GenServer.reply(from, v)',
      '      end)',
      '      loop.(loop)',
      '  end',
      'end',
      'Process.register(spawn(fn -> loop.(loop) end), :eid_agent)',
      'IO.puts("READY")',
      'Process.sleep(:infinity)',
    ].join('\n');
    const erlArgs = `-start_epmd false -kernel inet_dist_listen_min ${port} inet_dist_listen_max ${port}`;
    const ex = this.spawn(
      'elixir',
      ['--name', name, '--cookie', options.cookie ?? COOKIE, '--erl', erlArgs, '-e', agent],
      {
        ERL_EPMD_PORT: String(this.epmdPort),
      },
    );
    await ex.waitFor('READY', 60000);
    return new ErlNode(name, ex, port, 'elixir');
  }

  /** A TypeScript node registered with this file's epmd. */
  async startNode(alive: string, options: Partial<NodeOptions> = {}): Promise<Node> {
    const node = await Node.start({
      name: `${alive}@127.0.0.1`,
      cookie: COOKIE,
      epmd: { port: this.epmdPort },
      port: await this.nextPort(),
      ...options,
    });
    this.nodes.add(node);
    return node;
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.nodes].map((n) => n.stop().catch(() => undefined)));
    await Promise.all([...this.children].map((c) => c.kill()));
  }
}

export class ErlNode {
  constructor(
    readonly name: string,
    readonly proc: Spawned,
    readonly port: number,
    readonly language: 'erlang' | 'elixir' = 'erlang',
  ) {}

  /** Evaluates Erlang expressions on this node (through `node`), with variables bound to terms. */
  async eval(
    node: Node,
    source: string,
    bindings: Record<string, Term> = {},
    timeoutMs = 15000,
  ): Promise<Term> {
    const src = this.language === 'elixir' || source.trim().endsWith('.') ? source : `${source}.`;
    const binds = Object.entries(bindings).map(([k, v]) => tuple(atom(k), v));
    return node.call(
      tuple(atom('eid_agent'), atom(this.name)),
      tuple(atom('eval'), Buffer.from(src), binds),
      timeoutMs,
    );
  }
}

/** Runs `body` as a process of `node` and returns what it returned (rejecting if it exited otherwise). */
export async function run<T>(
  node: Node,
  body: (self: Process) => Promise<T>,
  options: { trapExit?: boolean } = {},
): Promise<T> {
  let value: T | undefined;
  let done = false;
  const p = node.spawn(async (self) => {
    value = await body(self);
    done = true;
  }, options);
  const reason = await p.exited;
  if (!done) throw new Error(`process exited with ${formatTerm(reason)}`);
  return value as T;
}

/** Polls `check` until it is true (state that settles asynchronously), failing after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10000,
  what = 'condition',
): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A fragment header message as a peer writes it, without its frame prefix: version, `kind`
 * (first or next fragment), sequence and fragment ids, an empty atom cache on the first, `data`.
 */
export function fragmentBody(
  kind: number,
  seq: number | bigint,
  id: number | bigint,
  ...data: Uint8Array[]
): Buffer {
  const w = new Writer();
  w.u8(HeaderTag.VERSION);
  w.u8(kind);
  w.u64(BigInt(seq));
  w.u64(BigInt(id));
  if (kind === HeaderTag.FRAGMENT_FIRST) w.u8(0);
  for (const part of data) w.bytes(part);
  return w.toBuffer();
}

/**
 * A raw socket named `name` that has completed a real handshake (as initiator) with the node
 * `target` listening on 127.0.0.1: what follows is up to the test, byte by byte.
 */
export async function handshakePeer(
  target: { name: string; port: number },
  name: string,
  cookie = COOKIE,
): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const socket = net.connect({ host: '127.0.0.1', port: target.port });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  const hs = new Handshake('initiator', {
    thisName: name,
    cookie,
    flags: DEFAULT_FLAGS | DistFlags.PUBLISHED,
    creation: 1,
    peerName: target.name,
  });
  await new Promise<void>((resolve, reject) => {
    const frames = new FrameDecoder({ prefixSize: 2, maxFrame: 1024 });
    const onData = (chunk: Buffer): void => {
      try {
        for (const frame of frames.push(chunk)) {
          const step = hs.receive(frame);
          for (const out of step.send) socket.write(encodeHandshakeFrame(out));
          if (step.done !== undefined) {
            socket.off('data', onData);
            resolve();
          }
        }
      } catch (err) {
        reject(err as Error);
      }
    };
    socket.on('data', onData);
    socket.once('connect', () => {
      for (const out of hs.start()) socket.write(encodeHandshakeFrame(out));
    });
    socket.once('close', () => reject(new Error('closed during handshake')));
  });
  return { socket, closed };
}

/** A connected-mode frame: 4-byte length, then `body`. */
export function distFrame(body: Uint8Array): Buffer {
  const w = new Writer();
  w.u32(body.length);
  w.bytes(body);
  return w.toBuffer();
}
