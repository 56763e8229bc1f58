/**
 * Helpers for the distribution tests: a fixture of a stock `epmd`, real `erl`/`elixir` nodes and
 * TS nodes (processes and ports through test/support), and an agent in each Erlang node that
 * evaluates expressions sent to it (so tests drive Erlang from TypeScript).
 */
import net from 'node:net';
import { hostname } from 'node:os';
import { Node, type NodeOptions } from '../../src/distribution/node.ts';
import type { Process } from '../../src/distribution/process.ts';
import { formatTerm } from '../../src/etf/format.ts';
import { atom, tuple, type Term } from '../../src/etf/terms.ts';
import { HeaderTag } from '../../src/distribution/header.ts';
import { FrameDecoder, encodeHandshakeFrame } from '../../src/distribution/framing.ts';
import { Handshake } from '../../src/distribution/handshake.ts';
import { DEFAULT_FLAGS, DistFlags } from '../../src/distribution/flags.ts';
import { Writer } from '../../src/bytes.ts';
import { termEquals } from '../../src/etf/index.ts';
import type { Signal } from '../../src/distribution/control.ts';
import { portAllocator, type PortSlice } from '../support/ports.ts';
import { Processes, startStockEpmd, type Spawned } from '../support/processes.ts';

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

/** Everything a test file (or one test) starts, stopped by pid at the end even when a test fails. */
export class Fixture {
  private readonly processes = new Processes();
  private readonly nodes = new Set<Node>();
  readonly nextPort: () => Promise<number>;
  epmdPort = 0;

  constructor(slice: PortSlice) {
    this.nextPort = portAllocator(slice);
  }

  spawn(command: string, args: string[], env: Record<string, string> = {}): Spawned {
    return this.processes.spawn(command, args, env);
  }

  /** Starts this fixture's own `epmd` on a port of the slice. */
  async startEpmd(): Promise<number> {
    const port = await this.nextPort();
    await startStockEpmd(this.processes, port);
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
    await erl.waitForOutput('READY');
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
    await ex.waitForOutput('READY', 60000);
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
    await this.processes.stopAll();
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

/** Whether two signals are the same: the same fields, each term equal as Erlang compares (=:=). */
export function sameSignal(a: Signal, b: Signal): boolean {
  const fa = a as unknown as Record<string, Term | undefined>;
  const fb = b as unknown as Record<string, Term | undefined>;
  const keys = new Set([...Object.keys(fa), ...Object.keys(fb)]);
  return [...keys].every((k) => {
    const x = fa[k];
    const y = fb[k];
    return x === undefined || y === undefined ? x === y : termEquals(x, y);
  });
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
  const hs = new Handshake('initiator', {
    thisName: name,
    cookie,
    flags: DEFAULT_FLAGS | DistFlags.PUBLISHED,
    creation: 1,
    peerName: target.name,
  });
  socket.once('connect', () => {
    for (const out of hs.start()) socket.write(encodeHandshakeFrame(out));
  });
  await completeHandshake(socket, hs);
  return { socket, closed };
}

/**
 * A raw listener named `name` on 127.0.0.1: each socket dialled to it completes a real handshake
 * (as acceptor) and goes to `onPeer`; what follows is up to the test, byte by byte.
 */
export async function acceptingPeer(
  name: string,
  port: number,
  onPeer: (socket: net.Socket, closed: Promise<void>) => void,
  cookie = COOKIE,
): Promise<net.Server> {
  const server = net.createServer((socket) => {
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const hs = new Handshake('acceptor', {
      thisName: name,
      cookie,
      flags: DEFAULT_FLAGS | DistFlags.PUBLISHED,
      creation: 1,
    });
    hs.start();
    completeHandshake(socket, hs).then(
      () => onPeer(socket, closed),
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

/** Runs `hs` over `socket`'s handshake frames until it is done (the initiator has sent its first). */
function completeHandshake(socket: net.Socket, hs: Handshake): Promise<void> {
  socket.on('error', () => undefined);
  return new Promise<void>((resolve, reject) => {
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
    socket.once('close', () => reject(new Error('closed during handshake')));
  });
}

/** A connected-mode frame: 4-byte length, then `body`. */
export function distFrame(body: Uint8Array): Buffer {
  const w = new Writer();
  w.u32(body.length);
  w.bytes(body);
  return w.toBuffer();
}
