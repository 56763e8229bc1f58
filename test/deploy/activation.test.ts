/**
 * Upgrades with no lookup downtime: `eid daemon` serves a listening socket passed to it by socket
 * activation (LISTEN_FDS/LISTEN_PID, as systemd passes it; socket-launcher.pl stands in for
 * systemd and holds the socket across restarts). Under a steady load of lookups for a container,
 * the daemon is restarted twice: no lookup fails or gets a wrong answer, and a stock node
 * registered on the host is registered again with the new process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { epmdNames, epmdPortPlease } from '../../src/epmd/client.ts';
import { spawnErlNode } from '../epmd/helpers.ts';
import { upHosts, NODE_PORT, type NodeContainer, type TestHosts } from '../harness/hosts.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';
import { Processes, Spawned, eidBin, waitFor } from '../support/processes.ts';

const LAUNCHER = fileURLToPath(new URL('./socket-launcher.pl', import.meta.url));
const COOKIE = 'eid_activation_test';
const nextPort = portAllocator(PortSlices.deploy.activation);
const processes = new Processes();
let hosts: TestHosts;
let container: NodeContainer;
let hostPort: number;

before(
  async () => {
    hosts = await upHosts(18);
    container = await hosts.h1.startNode({ cookie: COOKIE });
    const published = await hosts.h1.docker(['port', container.id, `${NODE_PORT}/tcp`]);
    hostPort = Number(/:(\d+)$/m.exec(published)![1]);
  },
  { timeout: 600_000 },
);

after(async () => {
  await processes.stopAll();
  await hosts?.down();
});

/** Lookups of the container, back to back on `workers` connections at a time, until stopped. */
function lookupLoad(epmdPort: number, workers: number) {
  let running = true;
  const stats = { answered: 0, failures: [] as string[] };
  const worker = async () => {
    while (running) {
      try {
        const entry = await epmdPortPlease(container.hostname, '127.0.0.1', { epmdPort, timeoutMs: 30_000 });
        if (entry.port === hostPort) stats.answered += 1;
        else stats.failures.push(`wrong port ${entry.port}`);
      } catch (err) {
        stats.failures.push(String(err));
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, worker));
  return {
    stats,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

test(
  'restarts through an inherited socket refuse no lookup; the local node registers again',
  { timeout: 300_000 },
  async () => {
    const epmdPort = await nextPort();
    const daemonArgs = ['daemon', '--docker', hosts.h1.endpoint, '--log-format', 'json'];
    const child = spawn(
      'perl',
      [LAUNCHER, '127.0.0.1', String(epmdPort), process.execPath, eidBin, ...daemonArgs],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const launcher = new Spawned(child);
    const daemonPids: number[] = [];
    const generations = () => launcher.stderr.split('"msg":"daemon started"').length - 1;
    /** Restarts the daemon (or starts the first) and waits until the new one serves. */
    const restart = async () => {
      const before = generations();
      child.stdin!.write('start\n');
      await waitFor(() => generations() > before, 'the daemon to start', 60_000);
      const pids = [...launcher.stdout.matchAll(/^started (\d+)$/gm)].map((m) => Number(m[1]));
      daemonPids.splice(0, daemonPids.length, ...pids);
    };
    try {
      await launcher.waitForOutput('listening');
      await restart();
      assert.match(launcher.stderr, /"socketActivation":true/);
      const node = spawnErlNode(processes, {
        name: 'activated',
        cookie: COOKIE,
        epmdPort,
        distPort: await nextPort(),
        evalCode: 'receive stop -> ok end.',
      });
      const registered = async () =>
        (await epmdNames('127.0.0.1', { epmdPort }).catch(() => ({ nodes: [] }))).nodes.some(
          (n) => n.name === 'activated',
        );
      await waitFor(registered, 'the stock node to register', 30_000);

      const load = lookupLoad(epmdPort, 4);
      const counts: number[] = [];
      for (let i = 0; i < 2; i++) {
        await waitFor(
          () => load.stats.answered > (counts.at(-1) ?? 0) + 50,
          'lookups before the restart',
          60_000,
        );
        const at = load.stats.answered;
        await restart();
        counts.push(load.stats.answered);
        assert.ok(load.stats.answered >= at, 'lookups went on');
        // erl_epmd registers again by itself (every 2 s) with the new process.
        await waitFor(registered, 'the stock node to register again', 30_000);
      }
      await waitFor(() => load.stats.answered > counts.at(-1)! + 50, 'lookups after the restarts', 60_000);
      await load.stop();
      assert.deepEqual(
        load.stats.failures,
        [],
        `${load.stats.failures.length} of ${load.stats.answered} failed`,
      );
      assert.equal(generations(), 3);
      assert.equal(launcher.stdout.match(/^stopped \d+$/gm)?.length, 2, launcher.stdout);
      await node.kill();
    } finally {
      child.stdin!.end();
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        for (const pid of daemonPids) process.kill(pid, 'SIGKILL');
      }, 15_000);
      await launcher.exited;
      clearTimeout(timer);
    }
  },
);
