/**
 * Distribution bench: the TS node against BEAM→BEAM on this machine, in the same run, with raw
 * Node↔BEAM TCP carrying the same frames as the limit (bench/dist-limit.ts).
 * Rows: throughput both ways for several message shapes (a small tuple, a GenServer call, a
 * Phoenix.PubSub broadcast, 1 MB binaries) and the round-trip latency.
 * Two OTP nodes (A sends, B receives) give the BEAM→BEAM anchor; the TS node stands in for
 * A (TS→BEAM) or for B (BEAM→TS). The Erlang side (bench/eid_bench.erl) is compiled with erlc.
 *
 * Usage: npm run bench:dist [-- --quick --rounds N --small N --rtt N --big N --json PATH]
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Node } from '../src/distribution/node.ts';
import type { Process } from '../src/distribution/process.ts';
import { atom, Atom, Pid, Reference, Tuple, tuple, type Term } from '../src/etf/terms.ts';
import { alternate, BenchRun, ownPeakRss, parseBenchArgs, peakRss } from './harness.ts';
import { waitForEpmd } from './lib.ts';
import { chunked, echoRoundTrips, passThroughFrame, readFromBeam, writeToSink } from './dist-limit.ts';

const PORTS = { from: 45900, to: 45999 };
const COOKIE = 'eid-bench-cookie';

const { common, values } = parseBenchArgs({
  small: { type: 'string' },
  rtt: { type: 'string' },
  big: { type: 'string' },
});
const count = (v: string | undefined, full: number, quick: number) =>
  v === undefined ? (common.quick ? quick : full) : Number(v);
const SMALL = count(values.small, 200_000, 2_000);
const RTT = count(values.rtt, 5_000, 100);
const BIG = count(values.big, 500, 5);

let nextPort = PORTS.from;
function port(): number {
  if (nextPort > PORTS.to) throw new Error('out of bench ports');
  return nextPort++;
}

const children: ChildProcess[] = [];
function start(cmd: string, args: string[], env: Record<string, string>): ChildProcess {
  const c = spawn(cmd, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: tmpdir(),
  });
  children.push(c);
  return c;
}

async function startErl(alive: string, epmdPort: number, dir: string): Promise<string> {
  const p = port();
  const name = `${alive}@127.0.0.1`;
  const c = start(
    'erl',
    [
      ...['-noshell', '-name', name, '-setcookie', COOKIE, '-start_epmd', 'false', '-pa', dir],
      ...['-kernel', 'inet_dist_listen_min', String(p), 'inet_dist_listen_max', String(p)],
      '-eval',
      'register(eid_sink, spawn(eid_bench, sink, [])), register(eid_echo, spawn(eid_bench, echo, [])), io:format("READY~n").',
    ],
    { ERL_EPMD_PORT: String(epmdPort) },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    c.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) resolve();
    });
    c.once('exit', () => reject(new Error(`${name} exited: ${out}`)));
  });
  return name;
}

function spawnSink(node: Node): Process {
  return node.spawn(async (self) => {
    for (;;) {
      const m = (await self.receive()) as Tuple;
      const n = m.elements[1] as number;
      const replyTo = m.elements[2] as Pid;
      for (let i = 0; i < n; i++) await self.receive();
      self.send(replyTo, atom('sink_done'));
    }
  });
}

function spawnEcho(node: Node): Process {
  return node.spawn(async (self) => {
    for (;;) {
      const m = (await self.receive()) as Tuple;
      self.send(m.elements[0] as Pid, m.elements[1] as Term);
    }
  });
}

/** TS → `dest`: N messages then wait for the sink; microseconds. */
async function tsSend(node: Node, dest: Tuple, n: number, msg: Term): Promise<number> {
  const self = node.spawn(() => new Promise(() => undefined));
  try {
    const t0 = process.hrtime.bigint();
    self.send(dest, tuple(atom('expect'), n, self.pid));
    for (let i = 0; i < n; i++) self.send(dest, msg);
    await self.receive((m) => m instanceof Atom && m.name === 'sink_done');
    return Number(process.hrtime.bigint() - t0) / 1000;
  } finally {
    self.stop();
  }
}

async function tsRtt(node: Node, dest: Tuple, k: number): Promise<number> {
  const self = node.spawn(() => new Promise(() => undefined));
  try {
    const ping = atom('ping');
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < k; i++) {
      self.send(dest, tuple(self.pid, ping));
      await self.receive();
    }
    return Number(process.hrtime.bigint() - t0) / 1000;
  } finally {
    self.stop();
  }
}

interface Shape {
  id: string;
  name: string;
  message: Term;
  count: number;
  /** Bytes each message stands for when the row is in MB/s; messages/s otherwise. */
  megabytes?: number;
}

/** The message shapes: the easy case, then what real traffic carries. */
function shapes(node: Node): Shape[] {
  const pid = new Pid(atom(node.name), 117, 0, node.creation);
  const ref = new Reference(atom(node.name), node.creation, [158_021, 3_254_779_905, 2_846_225_537]);
  const broadcast = new Map<Term, Term>([
    [atom('__struct__'), atom('Elixir.Phoenix.Socket.Broadcast')],
    [atom('event'), Buffer.from('new_msg')],
    [atom('topic'), Buffer.from('room:1')],
    [
      atom('payload'),
      new Map<Term, Term>([
        [Buffer.from('body'), Buffer.from('hello from the other node')],
        [Buffer.from('user_id'), 42],
      ]),
    ],
  ]);
  return [
    {
      id: 'small',
      name: 'small {hello, 42, world}',
      message: tuple(atom('hello'), 42, atom('world')),
      count: SMALL,
    },
    {
      id: 'gen-call',
      name: 'GenServer call',
      message: tuple(atom('$gen_call'), tuple(pid, ref), tuple(atom('get'), Buffer.from('user:42'))),
      count: Math.ceil(SMALL / 2),
    },
    {
      id: 'pubsub',
      name: 'PubSub broadcast',
      message: tuple(
        atom('forward_to_local'),
        Buffer.from('room:1'),
        broadcast,
        atom('Elixir.Phoenix.PubSub'),
      ),
      count: Math.ceil(SMALL / 2),
    },
    {
      id: 'binary-1m',
      name: '1 MB binaries',
      message: Buffer.alloc(1024 * 1024, 1),
      count: BIG,
      megabytes: 1,
    },
  ];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'eid-bench-'));
  execFileSync('erlc', ['-o', dir, fileURLToPath(new URL('eid_bench.erl', import.meta.url))]);
  const epmdPort = port();
  start('epmd', ['-port', String(epmdPort)], {});
  await waitForEpmd(epmdPort);
  const a = await startErl('bench_a', epmdPort, dir);
  const b = await startErl('bench_b', epmdPort, dir);
  const node = await Node.start({
    name: 'bench_ts@127.0.0.1',
    cookie: COOKIE,
    port: port(),
    epmd: { port: epmdPort },
  });
  const otp = execFileSync('erl', [
    '-noshell',
    '-eval',
    'io:format("~s", [erlang:system_info(otp_release)]), halt().',
  ]);
  const run = new BenchRun(
    'dist',
    `Distribution, TS node vs BEAM→BEAM (node ${process.version}, OTP ${otp.toString()})`,
    common,
  );
  try {
    node.register('eid_sink', spawnSink(node));
    node.register('eid_echo', spawnEcho(node));
    await node.connect(a);
    await node.connect(b);
    const onBeam = async (target: string, fn: string, args: Term[]) =>
      (await node.rpc(target, 'eid_bench', fn, args)) as number;
    const atB = (name: string) => tuple(atom(name), atom(b));
    const atTs = (name: string) => tuple(atom(name), atom(node.name));
    // Frames as a peer would send them to eid_sink (REG_SEND: {6, From, '', To}).
    const regSend = (to: string) => tuple(6, new Pid(atom(a), 1, 0, 1), atom(''), atom(to));

    for (const shape of shapes(node)) {
      const n = shape.count;
      const rate = (us: number) => ({ rate: (n * (shape.megabytes ?? 1)) / (us / 1e6) });
      const { chunk, perChunk, times } = chunked(passThroughFrame(regSend('eid_sink'), shape.message), n);
      const raw = (us: number) => ({ rate: (perChunk * times * (shape.megabytes ?? 1)) / (us / 1e6) });
      const sides = {
        tsToBeam: async () => rate(await tsSend(node, atB('eid_sink'), n, shape.message)),
        beamToBeam: async () => rate(await onBeam(a, 'send_n', [atB('eid_sink'), n, shape.message])),
        beamToTs: async () => rate(await onBeam(a, 'send_n', [atTs('eid_sink'), n, shape.message])),
        rawIn: async () =>
          raw(await writeToSink(await onBeam(b, 'tcp_sink', [chunk.length * times]), chunk, times)),
        rawOut: async () =>
          raw(await readFromBeam(chunk.length * times, (p) => onBeam(a, 'tcp_send', [p, chunk, times]))),
      };
      const s = await alternate(sides, common.rounds);
      const unit = shape.megabytes === undefined ? 'msgs/s' : 'MB/s';
      const directions = [
        ['ts-beam', 'TS→BEAM', s.tsToBeam, 'raw TCP Node→gen_tcp', s.rawIn],
        ['beam-ts', 'BEAM→TS', s.beamToTs, 'raw TCP gen_tcp→Node', s.rawOut],
      ] as const;
      for (const [way, arrow, eid, limitName, limit] of directions) {
        run.add({
          ...{ id: `dist.${shape.id}.${way}`, name: `${shape.name} ${arrow}`, unit, better: 'higher' },
          ...{ measure: 'rate', eid, anchorName: 'BEAM→BEAM', anchor: s.beamToBeam, limitName, limit },
        });
      }
    }

    const pingFrame = passThroughFrame(regSend('eid_echo'), tuple(new Pid(atom(a), 1, 0, 1), atom('ping')));
    const perTrip = (us: number) => ({ us: us / RTT });
    const rtt = await alternate(
      {
        ts: async () => perTrip(await tsRtt(node, atB('eid_echo'), RTT)),
        beam: async () => perTrip(await onBeam(a, 'rtt', [atB('eid_echo'), RTT])),
        raw: async () =>
          perTrip(await echoRoundTrips(await onBeam(b, 'tcp_echo', [pingFrame.length]), pingFrame, RTT)),
      },
      common.rounds,
    );
    run.add({
      id: 'dist.rtt',
      name: 'round trip {self(), ping} TS↔BEAM',
      unit: 'µs',
      better: 'lower',
      measure: 'us',
      eid: rtt.ts,
      anchorName: 'BEAM→BEAM',
      anchor: rtt.beam,
      limitName: 'raw TCP echo Node↔gen_tcp',
      limit: rtt.raw,
    });

    const beamPeaks = await Promise.all([a, b].map(async (n) => peakRss(await onBeam(n, 'os_pid', []))));
    run.memory = {
      eid: ownPeakRss(),
      anchorName: 'BEAM node',
      anchor: Math.max(...beamPeaks.map((p) => p ?? 0)) || null,
      note: 'eid: this bench process (the TS node, tsx and the harness); BEAM: the larger of A and B',
    };
    run.notes.push(
      `counts: small ${SMALL}, gen_call and pubsub ${Math.ceil(SMALL / 2)}, 1 MB binaries ${BIG}, round trips ${RTT}`,
      'GenServer call: {\'$gen_call\', {Pid, Ref}, {get, <<"user:42">>}}; PubSub broadcast: {forward_to_local, <<"room:1">>, %Phoenix.Socket.Broadcast{} with a 2-key payload map, \'Elixir.Phoenix.PubSub\'}',
      'limit frames are pass-through frames (no atom cache), written in chunks of about 64 KiB',
    );
  } finally {
    await node.stop();
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  run.finish();
}

await main();
