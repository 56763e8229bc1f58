/**
 * Soak scenarios against `eid daemon` (no Docker): sustained lookups, 1,000+ idle connections, a
 * junk flood, and SIGKILL-and-restart under load. Each returns its JSON summary.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { epmdRegister, type Registration } from '../src/epmd/client.ts';
import { spawnErlNode } from '../test/epmd/helpers.ts';
import { waitFor } from '../test/support/processes.ts';
import {
  closeAll,
  formatInterval,
  lookupOnce,
  loadIntervals,
  nextPort,
  processes,
  round,
  rssMiB,
  say,
  startDaemon,
} from './lib.ts';

export interface Settings {
  minutes: number;
  concurrency: number;
  intervalSeconds: number;
}

/** Registers `count` names (soak0..) at the daemon on `port`; the lookup op checks their ports. */
async function registerNames(port: number, count: number) {
  const names = Array.from({ length: count }, (_, i) => ({ name: `soak${i}`, nodePort: 50000 + i }));
  const registrations: Registration[] = await Promise.all(
    names.map((n) => epmdRegister(n.name, n.nodePort, { epmdPort: port })),
  );
  const op = (localAddress?: string) => async (i: number) => {
    const { name, nodePort } = names[i % names.length]!;
    const got = await lookupOnce(port, name, { localAddress });
    if (got !== nodePort) throw new Error(`${name}: got port ${got}, expected ${nodePort}`);
  };
  return { op, close: () => Promise.all(registrations.map((r) => r.close())) };
}

export async function lookups(s: Settings): Promise<Record<string, unknown>> {
  const port = await nextPort();
  const daemon = await startDaemon(port);
  const names = await registerNames(port, 8);
  const rssStart = rssMiB(daemon.pid);
  say(
    'lookups',
    `daemon pid ${daemon.pid}, RSS ${round(rssStart, 1)} MiB; ${s.minutes} min at concurrency ${s.concurrency}`,
  );
  const { intervals, total } = await loadIntervals({
    op: names.op(),
    concurrency: s.concurrency,
    seconds: s.minutes * 60,
    intervalSeconds: s.intervalSeconds,
    sample: () => ({ daemonRssMiB: round(rssMiB(daemon.pid), 1) }),
    print: (i) => say('lookups', formatInterval(i)),
  });
  const rssEnd = rssMiB(daemon.pid);
  await names.close();
  say(
    'lookups',
    `total ${formatInterval(total)}; daemon RSS ${round(rssStart, 1)} -> ${round(rssEnd, 1)} MiB`,
  );
  const alive = daemon.running;
  await daemon.kill();
  return {
    ok: alive && total.errors === 0,
    minutes: s.minutes,
    concurrency: s.concurrency,
    daemonRssMiB: { start: round(rssStart, 1), end: round(rssEnd, 1) },
    total,
    intervals,
  };
}

/** A connection from `localAddress` that sends nothing; resolves once connected. */
function idleConnection(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** 127.0.0.`from` .. 127.0.0.`to`. */
const loopbacks = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `127.0.0.${from + i}`);

export async function connections(
  s: Settings & { idle: number; seconds: number },
): Promise<Record<string, unknown>> {
  const port = await nextPort();
  const sources = loopbacks(2, 40);
  const daemon = await startDaemon(port, [
    ...['--max-connections', String(s.idle + 500), '--max-connections-per-source', '64'],
    ...['--request-timeout', '3600', '--packet-timeout', '3600'],
  ]);
  const names = await registerNames(port, 8);
  const rssStart = rssMiB(daemon.pid);
  const idle: net.Socket[] = [];
  let closedEarly = 0;
  for (let i = 0; i < s.idle; i += 100) {
    const batch = Array.from({ length: Math.min(100, s.idle - i) }, (_, j) =>
      idleConnection(port, sources[(i + j) % sources.length]!),
    );
    for (const socket of await Promise.all(batch)) {
      socket.on('error', () => undefined);
      socket.once('close', () => closedEarly++);
      idle.push(socket);
    }
  }
  const rssHeld = rssMiB(daemon.pid);
  say(
    'connections',
    `${idle.length} idle connections from ${sources.length} addresses; daemon RSS ${round(rssStart, 1)} -> ${round(rssHeld, 1)} MiB`,
  );
  const { intervals, total } = await loadIntervals({
    op: names.op(),
    concurrency: s.concurrency,
    seconds: s.seconds,
    intervalSeconds: Math.min(s.intervalSeconds, s.seconds),
    sample: () => ({ daemonRssMiB: round(rssMiB(daemon.pid), 1) }),
    print: (i) => say('connections', `${formatInterval(i)}, ${idle.length - closedEarly} idle still open`),
  });
  const stillOpen = idle.length - closedEarly;
  say(
    'connections',
    `total ${formatInterval(total)}; ${stillOpen} of ${idle.length} idle connections still open`,
  );
  const rssEnd = rssMiB(daemon.pid);
  await closeAll(idle);
  await names.close();
  const alive = daemon.running;
  await daemon.kill();
  return {
    ok: alive && total.errors === 0 && stillOpen === idle.length,
    idleConnections: idle.length,
    sourceAddresses: sources.length,
    idleStillOpenAtEnd: stillOpen,
    daemonRssMiB: {
      start: round(rssStart, 1),
      withIdle: round(rssHeld, 1),
      end: round(rssEnd, 1),
    },
    total,
    intervals,
  };
}

export async function junk(
  s: Settings & { seconds: number; senders: number; pauseMs: number },
): Promise<Record<string, unknown>> {
  const port = await nextPort();
  const daemon = await startDaemon(port, ['--max-connections', '2048']);
  const names = await registerNames(port, 8);
  const phase = async (label: string) => {
    const { total } = await loadIntervals({
      op: names.op('127.0.0.1'),
      concurrency: s.concurrency,
      seconds: s.seconds,
      intervalSeconds: s.seconds,
    });
    say('junk', `${label}: ${formatInterval(total)}`);
    return total;
  };
  const before = await phase('before the flood');
  const flood = processes.spawn(process.execPath, [
    ...['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('./junk-flood.ts', import.meta.url))],
    ...[String(port), String(s.senders), String(s.pauseMs)],
  ]);
  await flood.waitForOutput('FLOODING', 60_000);
  const during = await phase(
    `during the flood (${s.senders} senders from 39 addresses, ${s.pauseMs} ms between connections)`,
  );
  process.kill(flood.pid, 'SIGTERM');
  await flood.exited;
  const { junkConnections } = JSON.parse(flood.stdout.split('\n').find((l) => l.startsWith('{')) ?? '{}') as {
    junkConnections?: number;
  };
  const after = await phase('after the flood');
  say(
    'junk',
    `${junkConnections} junk connections in ${s.seconds} s; daemon RSS ${round(rssMiB(daemon.pid), 1)} MiB`,
  );
  await names.close();
  const alive = daemon.running;
  await daemon.kill();
  return {
    ok: alive && before.errors + during.errors + after.errors === 0,
    senders: s.senders,
    pauseMs: s.pauseMs,
    junkConnections,
    junkPerSecond: Math.round((junkConnections ?? 0) / s.seconds),
    before,
    during,
    after,
  };
}

const COOKIE = 'eid_soak';

export async function restart(s: Settings & { cycles: number }): Promise<Record<string, unknown>> {
  const port = await nextPort();
  let daemon = await startDaemon(port);
  const distPort = await nextPort();
  const erl = spawnErlNode(processes, {
    name: 'soak_erl',
    cookie: COOKIE,
    epmdPort: port,
    distPort,
    evalCode: 'io:format("up~n"), receive stop -> ok end.',
  });
  await erl.waitForOutput('up', 60_000);
  const registered = async () => (await lookupOnce(port, 'soak_erl').catch(() => undefined)) === distPort;
  await waitFor(registered, 'soak_erl to register', 30_000);
  const cycles: Record<string, number>[] = [];
  for (let c = 0; c < s.cycles; c++) {
    // Lookup load of the erl node's name throughout; errors are expected while the daemon is down.
    let stop = false;
    let answered = 0;
    let failed = 0;
    const load = Array.from({ length: s.concurrency }, async () => {
      while (!stop) {
        const got = await lookupOnce(port, 'soak_erl').catch(() => null);
        if (got === null) {
          failed++;
          await sleep(5);
        } else answered++;
      }
    });
    await sleep(3000);
    process.kill(daemon.pid, 'SIGKILL');
    await daemon.exited;
    const killed = performance.now();
    const next = startDaemon(port);
    // The new daemon answers any lookup (the name is unknown until the node registers again).
    await waitFor(
      () =>
        lookupOnce(port, 'nobody').then(
          () => true,
          () => false,
        ),
      'lookups answered',
      60_000,
    );
    const lookupsBack = performance.now() - killed;
    await waitFor(registered, 'soak_erl registered again', 60_000);
    const registrationBack = performance.now() - killed;
    daemon = await next;
    await sleep(1000);
    stop = true;
    await Promise.all(load);
    const cycle = {
      lookupsAnsweredAfterMs: Math.round(lookupsBack),
      registrationBackAfterMs: Math.round(registrationBack),
      lookupsAnswered: answered,
      lookupsFailed: failed,
    };
    say('restart', `cycle ${c + 1}: ${JSON.stringify(cycle)}`);
    cycles.push(cycle);
  }
  const alive = erl.running && daemon.running;
  await erl.kill();
  await daemon.kill();
  const max = (k: string) => Math.max(...cycles.map((c) => c[k]!));
  return {
    ok: alive,
    cycles,
    maxLookupsAnsweredAfterMs: max('lookupsAnsweredAfterMs'),
    maxRegistrationBackAfterMs: max('registrationBackAfterMs'),
  };
}
