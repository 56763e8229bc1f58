/**
 * Registrations survive a restart of `eid epmd` and `eid daemon` (bin/eid.js on the built dist/,
 * the daemon without Docker): OTP's erl_epmd notices its registration connection close and
 * registers again every 2 s until it succeeds, so stock nodes on the host are back, and reachable
 * through the new server, within a few seconds of a SIGKILL or a SIGTERM-then-start restart on the
 * same port. Each case reports its recovery time (docs/reliability.md).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { epmdNames, epmdRegister } from '../../src/epmd/client.ts';
import type { EpmdError } from '../../src/errors.ts';
import { spawnErlNode } from '../epmd/helpers.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';
import { Processes, waitFor, type Spawned } from '../support/processes.ts';

const eidBin = fileURLToPath(new URL('../../bin/eid.js', import.meta.url));
const nextPort = portAllocator(PortSlices.epmd.restart);
const processes = new Processes();
const COOKIE = 'eid_restart_test';
const NO_DOCKER = 'unix:///nonexistent/eid-restart-test.sock';
/** Liveness bound for the nodes to be registered again: erl_epmd retries every 2 s. */
const REREGISTERED_MS = 20_000;
const T = { timeout: 120_000 };

type Kind = 'epmd' | 'daemon';

let epmdPort: number;
let server: Spawned;
const nodes: { name: string; port: number }[] = [];

/** `eid epmd` or `eid daemon` (Docker unreachable) on 127.0.0.1:epmdPort; resolves once it serves. */
async function startServer(kind: Kind): Promise<Spawned> {
  const args =
    kind === 'epmd'
      ? ['epmd', '--port', String(epmdPort), '--address', '127.0.0.1']
      : ['daemon', '--port', String(epmdPort), '--address', '127.0.0.1', '--docker', NO_DOCKER];
  const started = processes.spawn(process.execPath, [eidBin, ...args]);
  const ready = kind === 'epmd' ? 'epmd: listening' : 'daemon started';
  await waitFor(() => {
    if (started.child.exitCode !== null) throw new Error(`eid ${kind} exited: ${started.stderr}`);
    return `${started.stdout}${started.stderr}`.includes(ready);
  }, `eid ${kind} to start`);
  return started;
}

async function registered(): Promise<{ name: string; port: number }[]> {
  try {
    const listed = await epmdNames('127.0.0.1', { epmdPort, timeoutMs: 2000 });
    return listed.nodes.slice().sort((a, b) => a.name.localeCompare(b.name));
  } catch {
    return [];
  }
}

async function ping(node: string): Promise<string> {
  const run = processes.spawn(process.execPath, [
    eidBin,
    'ping',
    `${node}@127.0.0.1`,
    '--cookie',
    COOKIE,
    '--epmd-port',
    String(epmdPort),
  ]);
  await run.exited;
  return run.stdout;
}

before(async () => {
  epmdPort = await nextPort();
  server = await startServer('epmd');
  for (const name of ['restart_a', 'restart_b']) {
    const port = await nextPort();
    const node = spawnErlNode(processes, {
      name,
      cookie: COOKIE,
      epmdPort,
      distPort: port,
      evalCode: 'io:format("up~n"), receive stop -> ok end.',
    });
    await node.waitForOutput('up');
    nodes.push({ name, port });
  }
  assert.deepEqual(await registered(), nodes);
});

after(() => processes.stopAll());

/**
 * Stops the running server with `signal`, waits `gapMs` (a service manager's restart delay), starts
 * `next` on the same port, and measures how long until both stock nodes are registered again.
 */
async function restart(
  signal: 'SIGKILL' | 'SIGTERM',
  next: Kind,
  gapMs: number,
): Promise<{ downMs: number; upMs: number; log: string }> {
  const old = server;
  process.kill(old.pid, signal);
  const exit = await old.exited;
  assert.equal(exit.signal ?? 'exited', signal === 'SIGKILL' ? 'SIGKILL' : 'exited', old.stderr);
  const down = performance.now();
  await sleep(gapMs);
  server = await startServer(next);
  const up = performance.now();
  await waitFor(
    async () => JSON.stringify(await registered()) === JSON.stringify(nodes),
    'both nodes to be registered again',
    REREGISTERED_MS,
  );
  const back = performance.now();
  return { downMs: back - down, upMs: back - up, log: `${server.stdout}${server.stderr}` };
}

const cases: { title: string; signal: 'SIGKILL' | 'SIGTERM'; next: Kind; gapMs: number }[] = [
  { title: 'eid epmd killed with SIGKILL, started again at once', signal: 'SIGKILL', next: 'epmd', gapMs: 0 },
  {
    title: 'eid epmd stopped with SIGTERM, eid daemon started in its place',
    signal: 'SIGTERM',
    next: 'daemon',
    gapMs: 0,
  },
  {
    title: 'eid daemon killed with SIGKILL, started again 2 s later (systemd Restart=always, RestartSec=2)',
    signal: 'SIGKILL',
    next: 'daemon',
    gapMs: 2000,
  },
  {
    title: 'eid daemon stopped with SIGTERM and started again (systemctl restart)',
    signal: 'SIGTERM',
    next: 'daemon',
    gapMs: 0,
  },
];

for (const c of cases) {
  test(`${c.title}: the stock nodes are registered again and reachable`, T, async (t) => {
    const { downMs, upMs, log } = await restart(c.signal, c.next, c.gapMs);
    t.diagnostic(
      `registered again ${Math.round(downMs)} ms after the old server exited, ` +
        `${Math.round(upMs)} ms after the new one served`,
    );
    // Nothing refused the re-registrations: each name came back on its first accepted attempt.
    assert.doesNotMatch(log, /registration refused/);
    assert.equal((log.match(/epmd: registered/g) ?? []).length, nodes.length, log);
    for (const { name } of nodes) assert.equal(await ping(name), 'pong\n', `eid ping ${name}`);
  });
}

test(
  "a frozen node keeps its name (stock epmd's rule); the moment its process dies, the name is free",
  T,
  async (t) => {
    const port = await nextPort();
    const frozen = spawnErlNode(processes, {
      name: 'restart_frozen',
      cookie: COOKIE,
      epmdPort,
      distPort: port,
      evalCode: 'io:format("up~n"), receive stop -> ok end.',
    });
    await frozen.waitForOutput('up');
    process.kill(frozen.pid, 'SIGSTOP');
    try {
      // Its registration connection is open, so the name is live: refused, as stock epmd does.
      await assert.rejects(epmdRegister('restart_frozen', port, { epmdPort }), (err: EpmdError) => {
        assert.equal(err.code, 'EPMD_DUPLICATE_NAME');
        return true;
      });
    } finally {
      process.kill(frozen.pid, 'SIGKILL');
    }
    await frozen.exited;
    const dead = performance.now();
    // The kernel closes a dead process's sockets, so a restarted node is never refused.
    await waitFor(
      async () =>
        epmdRegister('restart_frozen', port, { epmdPort }).then(
          async (reg) => (await reg.close(), true),
          () => false,
        ),
      'the name to be free',
      REREGISTERED_MS,
    );
    t.diagnostic(`name free ${Math.round(performance.now() - dead)} ms after the node's process died`);
  },
);
