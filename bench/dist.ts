/**
 * Distribution bench: the TS node against BEAM→BEAM on this machine, in the same run, with raw
 * Node↔BEAM TCP carrying the same frames as the limit (bench/dist-limit.ts).
 * Rows: throughput both ways for several message shapes (a small tuple, a GenServer call, a
 * Phoenix.PubSub broadcast, 1 MB binaries) and the round-trip latency; then small messages, 1 MB
 * binaries and the round trip again with every node on TLS distribution (their limit: raw TCP, no TLS),
 * and those TLS rows once more with the OTP nodes reading 256 KiB per call (docs/tls.md step 6).
 * Two OTP nodes (A sends, B receives) give the BEAM→BEAM anchor; the TS node stands in for
 * A (TS→BEAM) or for B (BEAM→TS). The Erlang side (bench/eid_bench.erl) is compiled with erlc.
 *
 * Usage: npm run bench:dist [-- --quick --rounds N --small N --rtt N --big N --json PATH]
 *        npm run bench:dist -- --sender-profile [--rounds N]   (no rows: see senderProfile)
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Node } from '../src/distribution/node.ts';
import type { Process } from '../src/distribution/process.ts';
import { atom, Atom, Pid, Reference, Tuple, tuple, type Term } from '../src/etf/terms.ts';
import { alternate, BenchRun, type Measure, ownPeakRss, parseBenchArgs, peakRss } from './harness.ts';
import { waitForEpmd } from './lib.ts';
import { chunked, echoRoundTrips, passThroughFrame, readFromBeam, writeToSink } from './dist-limit.ts';

const PORTS = { from: 45900, to: 45999 };
const COOKIE = 'eid-bench-cookie';

const { common, values } = parseBenchArgs({
  small: { type: 'string' },
  rtt: { type: 'string' },
  big: { type: 'string' },
  'sender-profile': { type: 'boolean' },
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
/** TLS distribution's nodes (test/support/ports.ts, PortSlices.tls.bench). */
const TLS_PORTS = { from: 46200, to: 46299 };
let nextTlsPort = TLS_PORTS.from;
function tlsPort(): number {
  if (nextTlsPort > TLS_PORTS.to) throw new Error('out of TLS bench ports');
  return nextTlsPort++;
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

async function startErl(alive: string, epmdPort: number, dir: string, extra: string[] = []): Promise<string> {
  const p = extra.length === 0 ? port() : tlsPort();
  const name = `${alive}@127.0.0.1`;
  const c = start(
    'erl',
    [
      ...['-noshell', '-name', name, '-setcookie', COOKIE, '-start_epmd', 'false', '-pa', dir],
      ...['-kernel', 'inet_dist_listen_min', String(p), 'inet_dist_listen_max', String(p)],
      ...extra,
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

/**
 * TS → `dest`: N messages then wait for the sink; microseconds. Large messages go with `sendAsync`
 * (it waits at the connection's high-water mark, as a real producer must): 500 MB sent in one
 * turn passes the send queue's bound whenever the machine is too busy to drain it as it goes.
 */
async function tsSend(node: Node, dest: Tuple, n: number, msg: Term, large: boolean): Promise<number> {
  const self = node.spawn(() => new Promise(() => undefined));
  try {
    const t0 = process.hrtime.bigint();
    self.send(dest, tuple(atom('expect'), n, self.pid));
    if (large) for (let i = 0; i < n; i++) await self.sendAsync(dest, msg);
    else for (let i = 0; i < n; i++) self.send(dest, msg);
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

/** A TS node and two BEAM nodes (A sends, B receives), all connected. */
interface Trio {
  node: Node;
  a: string;
  b: string;
}

const onBeam = async (node: Node, target: string, fn: string, args: Term[]) =>
  (await node.rpc(target, 'eid_bench', fn, args)) as number;
// Frames as a peer would send them to a registered name (REG_SEND: {6, From, '', To}).
const regSend = (a: string, to: string) => tuple(6, new Pid(atom(a), 1, 0, 1), atom(''), atom(to));

/** How a row's nodes are connected: its id and name suffixes, and what its raw TCP limit lacks. */
interface Link {
  id: string;
  label: string;
  limitNote: string;
}
const PLAIN: Link = { id: '', label: '', limitNote: '' };
const TLS: Link = { id: '.tls', label: ' over TLS', limitNote: ' (no TLS)' };
/** TLS with the OTP nodes reading 256 KiB per call (docs/tls.md step 6) instead of 1460 bytes. */
const TLS_BUFFER: Link = {
  id: '.tls-buffer',
  label: ' over TLS, BEAM reads 256 KiB',
  limitNote: ' (no TLS)',
};
/** docs/tls.md step 6's node flags. */
const READ_BUFFER_FLAGS = [
  ...['-kernel', 'inet_dist_listen_options', '[{buffer,262144}]'],
  ...['inet_dist_connect_options', '[{buffer,262144}]'],
];

/**
 * One shape's rows, TS→BEAM and BEAM→TS against BEAM→BEAM, with the raw TCP limit. Over TLS the
 * limit is still raw TCP without TLS: a ceiling that encryption can only lower.
 */
async function rateRows(run: BenchRun, { node, a, b }: Trio, shape: Shape, link: Link): Promise<void> {
  const n = shape.count;
  const atB = (name: string) => tuple(atom(name), atom(b));
  const atTs = (name: string) => tuple(atom(name), atom(node.name));
  const rate = (us: number) => ({ rate: (n * (shape.megabytes ?? 1)) / (us / 1e6) });
  const { chunk, perChunk, times } = chunked(passThroughFrame(regSend(a, 'eid_sink'), shape.message), n);
  const raw = (us: number) => ({ rate: (perChunk * times * (shape.megabytes ?? 1)) / (us / 1e6) });
  const sides: Record<string, Measure> = {
    tsToBeam: async () =>
      rate(await tsSend(node, atB('eid_sink'), n, shape.message, shape.megabytes !== undefined)),
    beamToBeam: async () => rate(await onBeam(node, a, 'send_n', [atB('eid_sink'), n, shape.message])),
    beamToTs: async () => rate(await onBeam(node, a, 'send_n', [atTs('eid_sink'), n, shape.message])),
    rawIn: async () =>
      raw(await writeToSink(await onBeam(node, b, 'tcp_sink', [chunk.length * times]), chunk, times)),
    rawOut: async () =>
      raw(await readFromBeam(chunk.length * times, () => onBeam(node, a, 'tcp_source', [chunk, times]))),
  };
  const s = await alternate(sides, common.rounds);
  const [tsToBeam, beamToTs, beamToBeam] = [s.tsToBeam!, s.beamToTs!, s.beamToBeam!];
  const unit = shape.megabytes === undefined ? 'msgs/s' : 'MB/s';
  const directions = [
    ['ts-beam', 'TS→BEAM', tsToBeam, `raw TCP Node→gen_tcp${link.limitNote}`, s.rawIn],
    ['beam-ts', 'BEAM→TS', beamToTs, `raw TCP gen_tcp→Node${link.limitNote}`, s.rawOut],
  ] as const;
  for (const [way, arrow, eid, limitName, limit] of directions) {
    run.add({
      ...{ id: `dist${link.id}.${shape.id}.${way}`, name: `${shape.name} ${arrow}${link.label}` },
      ...{
        unit,
        better: 'higher',
        measure: 'rate',
        eid,
        anchorName: `BEAM→BEAM${link.label}`,
        anchor: beamToBeam,
      },
      ...(limit === undefined ? {} : { limitName, limit }),
    });
  }
}

/** The round-trip row, with the raw TCP echo as the limit (over TLS too: a ceiling TLS can only lower). */
async function rttRow(run: BenchRun, { node, a, b }: Trio, link: Link): Promise<void> {
  const atB = (name: string) => tuple(atom(name), atom(b));
  const pingFrame = passThroughFrame(regSend(a, 'eid_echo'), tuple(new Pid(atom(a), 1, 0, 1), atom('ping')));
  const perTrip = (us: number) => ({ us: us / RTT });
  const sides: Record<string, Measure> = {
    ts: async () => perTrip(await tsRtt(node, atB('eid_echo'), RTT)),
    beam: async () => perTrip(await onBeam(node, a, 'rtt', [atB('eid_echo'), RTT])),
    raw: async () =>
      perTrip(await echoRoundTrips(await onBeam(node, b, 'tcp_echo', [pingFrame.length]), pingFrame, RTT)),
  };
  const rtt = await alternate(sides, common.rounds);
  run.add({
    ...{ id: `dist${link.id}.rtt`, name: `round trip {self(), ping} TS↔BEAM${link.label}` },
    ...{
      unit: 'µs',
      better: 'lower',
      measure: 'us',
      eid: rtt.ts!,
      anchorName: `BEAM→BEAM${link.label}`,
      anchor: rtt.beam!,
    },
    limitName: `raw TCP echo Node↔gen_tcp${link.limitNote}`,
    limit: rtt.raw!,
  });
}

/**
 * The TLS rows: every node on TLS distribution (docs/tls.md's certificates and ssl_dist_optfile),
 * small messages and 1 MB binaries both ways and the round trip, against BEAM→BEAM over TLS; then
 * the same with two more OTP nodes that read 256 KiB per call (docs/tls.md step 6).
 */
async function tlsRows(run: BenchRun, dir: string, epmdPort: number): Promise<void> {
  const certs = join(dir, 'certs');
  execFileSync(
    'bash',
    [fileURLToPath(new URL('../scripts/dist-certs.sh', import.meta.url)), '--dir', certs, '127.0.0.1'],
    {
      stdio: 'ignore',
    },
  );
  const files = `{certfile, "${certs}/127.0.0.1/cert.pem"}, {keyfile, "${certs}/127.0.0.1/key.pem"}, {cacertfile, "${certs}/ca.pem"}, {verify, verify_peer}`;
  const optfile = join(dir, 'ssl_dist.conf');
  writeFileSync(optfile, `[{server, [${files}, {fail_if_no_peer_cert, true}]}, {client, [${files}]}].\n`);
  const tlsArgs = ['-proto_dist', 'inet_tls', '-ssl_dist_optfile', optfile];
  const a = await startErl('tls_a', epmdPort, dir, tlsArgs);
  const b = await startErl('tls_b', epmdPort, dir, tlsArgs);
  const node = await Node.start({
    name: 'bench_tls@127.0.0.1',
    cookie: COOKIE,
    port: tlsPort(),
    epmd: { port: epmdPort },
    distributionTls: { optfile },
  });
  try {
    node.register('eid_sink', spawnSink(node));
    node.register('eid_echo', spawnEcho(node));
    await node.connect(a);
    await node.connect(b);
    const all = shapes(node);
    const [small, big] = [all.find((x) => x.id === 'small')!, all.find((x) => x.id === 'binary-1m')!];
    for (const shape of [small, big]) await rateRows(run, { node, a, b }, shape, TLS);
    await rttRow(run, { node, a, b }, TLS);
    // The same rows with both OTP nodes reading 256 KiB per call, as docs/tls.md recommends.
    const bufferedA = await startErl('tls_a_buffer', epmdPort, dir, [...tlsArgs, ...READ_BUFFER_FLAGS]);
    const bufferedB = await startErl('tls_b_buffer', epmdPort, dir, [...tlsArgs, ...READ_BUFFER_FLAGS]);
    await node.connect(bufferedA);
    await node.connect(bufferedB);
    for (const shape of [small, big])
      await rateRows(run, { node, a: bufferedA, b: bufferedB }, shape, TLS_BUFFER);
    await rttRow(run, { node, a: bufferedA, b: bufferedB }, TLS_BUFFER);
  } finally {
    await node.stop();
  }
}

/** CPU milliseconds (user + system, all threads) the process `pid` has used so far. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * `--sender-profile`: what the sending BEAM node does toward another BEAM node and toward the TS
 * node, same shape and count (eid_bench:send_profiled/3: its runtime, writes on the dist socket,
 * busy_dist_port events, scheduler microstates), and the receiver's CPU time. Printed, not rows.
 */
async function senderProfile({ node, a, b }: Trio): Promise<void> {
  const receivers = [
    ['BEAM', b, await onBeam(node, b, 'os_pid', [])],
    ['TS', node.name, process.pid],
  ] as const;
  for (const shape of shapes(node).filter((x) => x.id === 'gen-call' || x.id === 'binary-1m')) {
    for (let round = 1; round <= common.rounds; round++) {
      for (const [peer, dest, pid] of receivers) {
        const before = cpuMs(pid);
        const args = [tuple(atom('eid_sink'), atom(dest)), shape.count, shape.message];
        const profile = (await node.rpc(a, 'eid_bench', 'send_profiled', args)) as Map<Term, Term>;
        const receiverMs = cpuMs(pid) - before;
        const get = (key: string) =>
          [...profile].find(([k]) => k instanceof Atom && k.name === key)?.[1] as number;
        // Percentages come back as floats; an integral one is a wrapped float, hence Number().
        const states = [...(get('sched') as unknown as Map<Atom, unknown>)]
          .map(([state, pct]) => [state.name, Number(pct)] as const)
          .filter(([, pct]) => pct >= 1)
          .map(([state, pct]) => `${state} ${pct}%`)
          .join(', ');
        console.log(
          `${shape.name} BEAM→${peer}, round ${round}: ${Math.round(shape.count / (get('us') / 1e6))}/s; ` +
            `sender: runtime ${get('runtime_ms')} ms, ${get('send_cnt')} writes of ${Math.round(get('send_oct') / get('send_cnt'))} bytes, ` +
            `busy_dist_port ${get('busy_dist_port')}, schedulers ${states}; receiver CPU ${receiverMs} ms`,
        );
      }
    }
  }
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
    if (values['sender-profile'] === true) {
      await senderProfile({ node, a, b });
      return;
    }
    for (const shape of shapes(node)) await rateRows(run, { node, a, b }, shape, PLAIN);
    await rttRow(run, { node, a, b }, PLAIN);
    await tlsRows(run, dir, epmdPort);

    const beamPeaks = await Promise.all(
      [a, b].map(async (n) => peakRss(await onBeam(node, n, 'os_pid', []))),
    );
    run.memory = {
      eid: ownPeakRss(),
      anchorName: 'BEAM node',
      anchor: Math.max(...beamPeaks.map((p) => p ?? 0)) || null,
      note: 'eid: this bench process (the TS node, tsx and the harness); BEAM: the larger of A and B',
    };
    run.notes.push(
      `counts: small ${SMALL}, gen_call and pubsub ${Math.ceil(SMALL / 2)}, 1 MB binaries ${BIG}, round trips ${RTT}`,
      'GenServer call: {\'$gen_call\', {Pid, Ref}, {get, <<"user:42">>}}; PubSub broadcast: {forward_to_local, <<"room:1">>, %Phoenix.Socket.Broadcast{} with a 2-key payload map, \'Elixir.Phoenix.PubSub\'}',
      'limit frames are pass-through frames (no atom cache), written in chunks of about 64 KiB; for BEAM→TS Node dials the gen_tcp sender and reads with onread into one 1 MiB buffer',
    );
  } finally {
    await node.stop();
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  run.finish();
}

await main();
