/**
 * Distribution bench: the TS node against BEAM→BEAM on this machine, in the same run.
 * Small-message throughput both ways, round-trip latency, and MB/s for 1 MB binaries.
 * Two OTP nodes (A sends, B receives) give the BEAM→BEAM anchor; the TS node stands in for
 * A (TS→BEAM) or for B (BEAM→TS). The Erlang side is compiled (erlc), not interpreted.
 *
 * Usage: npm run bench:dist [-- --small N --rtt N --big N]
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node } from '../src/distribution/node.ts';
import type { Process } from '../src/distribution/process.ts';
import { atom, Atom, Pid, Tuple, tuple, type Term } from '../src/etf/terms.ts';
import { waitForEpmd } from './lib.ts';

const PORTS = { from: 45900, to: 45999 };
const COOKIE = 'eid-bench-cookie';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}
const SMALL = arg('small', 200_000);
const RTT = arg('rtt', 5_000);
const BIG = arg('big', 200);

const ERLANG = `
-module(eid_bench).
-export([sink/0, echo/0, send_n/3, rtt/2, call/3]).
sink() -> receive {expect, N, ReplyTo} -> drain(N), ReplyTo ! sink_done, sink() end.
drain(0) -> ok;
drain(N) -> receive _ -> drain(N - 1) end.
echo() -> receive {From, M} -> From ! M, echo() end.
send_n(Dest, N, Msg) ->
    T0 = erlang:monotonic_time(microsecond),
    Dest ! {expect, N, self()},
    send_loop(Dest, N, Msg),
    receive sink_done -> erlang:monotonic_time(microsecond) - T0 end.
send_loop(_, 0, _) -> ok;
send_loop(Dest, N, Msg) -> Dest ! Msg, send_loop(Dest, N - 1, Msg).
rtt(Dest, K) ->
    T0 = erlang:monotonic_time(microsecond),
    rtt_loop(Dest, K),
    erlang:monotonic_time(microsecond) - T0.
rtt_loop(_, 0) -> ok;
rtt_loop(Dest, K) -> Dest ! {self(), ping}, receive ping -> rtt_loop(Dest, K - 1) end.
%% Runs F(Args) in a fresh process and returns its result (for calls from the bench driver).
call(M, F, A) -> apply(M, F, A).
`;

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
      '-noshell',
      '-name',
      name,
      '-setcookie',
      COOKIE,
      '-start_epmd',
      'false',
      '-pa',
      dir,
      '-kernel',
      'inet_dist_listen_min',
      String(p),
      'inet_dist_listen_max',
      String(p),
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

/** Runs eid_bench:F(Args) on an OTP node (via rpc from the TS node) and returns microseconds. */
async function onBeam(node: Node, target: string, fn: string, args: Term[]): Promise<number> {
  return (await node.rpc(target, 'eid_bench', fn, args)) as number;
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
async function tsSend(node: Node, dest: Term, n: number, msg: Term): Promise<number> {
  const self = node.spawn(() => new Promise(() => undefined));
  try {
    const t0 = process.hrtime.bigint();
    self.send(dest as Tuple, tuple(atom('expect'), n, self.pid));
    for (let i = 0; i < n; i++) self.send(dest as Tuple, msg);
    await self.receive((m) => m instanceof Atom && m.name === 'sink_done');
    return Number(process.hrtime.bigint() - t0) / 1000;
  } finally {
    self.stop();
  }
}

async function tsRtt(node: Node, dest: Term, k: number): Promise<number> {
  const self = node.spawn(() => new Promise(() => undefined));
  try {
    const ping = atom('ping');
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < k; i++) {
      self.send(dest as Tuple, tuple(self.pid, ping));
      await self.receive();
    }
    return Number(process.hrtime.bigint() - t0) / 1000;
  } finally {
    self.stop();
  }
}

interface Row {
  what: string;
  beam: number;
  ts: number;
  unit: string;
  higherIsBetter: boolean;
}

/** A throughput row: `count` items took `beamUs` BEAM→BEAM and `tsUs` with the TS node. */
function perSecond(what: string, unit: string, count: number, beamUs: number, tsUs: number): Row {
  return { what, beam: count / (beamUs / 1e6), ts: count / (tsUs / 1e6), unit, higherIsBetter: true };
}

function fmt(v: number): string {
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'eid-bench-'));
  writeFileSync(join(dir, 'eid_bench.erl'), ERLANG);
  execFileSync('erlc', ['-o', dir, join(dir, 'eid_bench.erl')]);
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
  try {
    node.register('eid_sink', spawnSink(node));
    node.register('eid_echo', spawnEcho(node));
    await node.connect(a);
    await node.connect(b);
    const small = tuple(atom('hello'), 42, atom('world'));
    const big = Buffer.alloc(1024 * 1024, 1);
    const atB = (name: string) => tuple(atom(name), atom(b));
    const atTs = (name: string) => tuple(atom(name), atom(node.name));
    // Warm-up: connections, JIT, atom caches.
    await onBeam(node, a, 'send_n', [atB('eid_sink'), 20_000, small]);
    await tsSend(node, atB('eid_sink'), 20_000, small);
    await onBeam(node, a, 'send_n', [atTs('eid_sink'), 20_000, small]);
    await tsRtt(node, atB('eid_echo'), 500);

    const rows: Row[] = [];
    const runs = 3;
    const best = async (f: () => Promise<number>): Promise<number> => {
      let m = Infinity;
      for (let i = 0; i < runs; i++) m = Math.min(m, await f());
      return m;
    };
    /** `count` copies of `msg` BEAM→BEAM, TS→BEAM and BEAM→TS, as two rows against the first. */
    const throughput = async (what: string, unit: string, count: number, msg: Term): Promise<Row[]> => {
      const beamBeam = await best(() => onBeam(node, a, 'send_n', [atB('eid_sink'), count, msg]));
      const tsBeam = await best(() => tsSend(node, atB('eid_sink'), count, msg));
      const beamTs = await best(() => onBeam(node, a, 'send_n', [atTs('eid_sink'), count, msg]));
      return [
        perSecond(`${what} TS→BEAM`, unit, count, beamBeam, tsBeam),
        perSecond(`${what} BEAM→TS`, unit, count, beamBeam, beamTs),
      ];
    };
    rows.push(...(await throughput('small msgs', 'msg/s', SMALL, small)));
    const rttBeam = await best(() => onBeam(node, a, 'rtt', [atB('eid_echo'), RTT]));
    const rttTs = await best(() => tsRtt(node, atB('eid_echo'), RTT));
    rows.push({
      what: 'round trip TS↔BEAM',
      beam: rttBeam / RTT,
      ts: rttTs / RTT,
      unit: 'µs',
      higherIsBetter: false,
    });
    rows.push(...(await throughput('1 MB binaries', 'MB/s', BIG, big)));

    const lines = [
      `eid distribution bench (${new Date().toISOString()}, node ${process.version}, OTP ${execFileSync('erl', ['-noshell', '-eval', 'io:format("~s", [erlang:system_info(otp_release)]), halt().']).toString()})`,
      `small=${SMALL} msgs, rtt=${RTT} round trips, big=${BIG} x 1 MB; best of ${runs}`,
      '',
      `${'measure'.padEnd(24)}${'BEAM→BEAM'.padStart(14)}${'TS'.padStart(14)}  unit     ratio (TS vs BEAM→BEAM)`,
    ];
    for (const r of rows) {
      const ratio = r.higherIsBetter ? r.ts / r.beam : r.beam / r.ts;
      lines.push(
        `${r.what.padEnd(24)}${fmt(r.beam).padStart(14)}${fmt(r.ts).padStart(14)}  ${r.unit.padEnd(8)} ${ratio.toFixed(2)}x${r.higherIsBetter ? '' : ' (BEAM time / TS time)'}`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await node.stop();
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
