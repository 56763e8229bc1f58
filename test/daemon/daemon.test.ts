/** `eid daemon` without Docker, its settings, and its metrics endpoint. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { EidError } from '../../src/errors.ts';
import { parseDaemonArgs } from '../../src/daemon/options.ts';
import { parseListenAddress, renderMetrics } from '../../src/daemon/metrics.ts';
import { eidFromSource } from '../harness/hosts.ts';
import { metricSamples } from '../support/metrics.ts';
import { waitFor } from '../support/processes.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';

const run = promisify(execFile);

// Free ports of this file's slice in the root namespace, never fixed ones another run may hold.
const nextPort = portAllocator(PortSlices.daemon.daemon);

test('settings: flags win over EID_* variables; erlang_port is an alias of --node-port; --address repeats', () => {
  const env = {
    EID_PORT: '5000',
    EID_NODE_PORT: '2000',
    EID_ADDRESS: '10.0.0.1, 10.0.0.2',
    DOCKER_HOST: 'tcp://d:2375',
  };
  const fromEnv = parseDaemonArgs([], env);
  assert.equal(fromEnv.port, 5000);
  assert.equal(fromEnv.nodePort, 2000);
  assert.deepEqual(fromEnv.addresses, ['10.0.0.1', '10.0.0.2']);
  assert.equal(fromEnv.docker, 'tcp://d:2375');
  assert.equal(fromEnv.metrics, undefined);

  const flags = parseDaemonArgs(
    [
      '--port=4370',
      '--address',
      '::1',
      '--address',
      '127.0.0.1',
      '--erlang_port',
      '3000',
      '--docker',
      'unix:///x.sock',
    ],
    env,
  );
  assert.equal(flags.port, 4370);
  assert.deepEqual(flags.addresses, ['::1', '127.0.0.1']);
  assert.equal(flags.nodePort, 3000);
  assert.equal(flags.docker, 'unix:///x.sock');

  assert.equal(parseDaemonArgs([], { EID_ERLANG_PORT: '4000' }).nodePort, 4000);
  assert.equal(parseDaemonArgs(['--node-port', '4001'], { EID_ERLANG_PORT: '4000' }).nodePort, 4001);
  assert.deepEqual(parseDaemonArgs(['--metrics', '[::1]:9100'], {}).metrics, { host: '::1', port: 9100 });
  assert.deepEqual(parseDaemonArgs([], { EID_METRICS: '0.0.0.0:9100' }).metrics, {
    host: '0.0.0.0',
    port: 9100,
  });
  const defaults = parseDaemonArgs([], {});
  assert.equal(defaults.port, 4369);
  assert.equal(defaults.nodePort, 12345);
  assert.equal(defaults.docker, 'unix:///var/run/docker.sock');
  assert.equal(defaults.logFormat, 'auto');
});

test('eid daemon --help prints its options; a bad option exits 2 with usage', async () => {
  const { stdout } = await run(process.execPath, [...eidFromSource(), 'daemon', '--help']);
  for (const flag of [
    '--port',
    '--address',
    '--docker',
    '--node-port',
    '--erlang_port',
    '--metrics',
    '--clusters',
    '--log-level',
    '--log-format',
  ]) {
    assert.ok(stdout.includes(flag), flag);
  }
  await assert.rejects(
    run(process.execPath, [...eidFromSource(), 'daemon', '--port', 'x']),
    (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /--port: not a port number/);
      return true;
    },
  );
});

test('settings: bad values are usage errors', () => {
  for (const args of [
    ['--port', '0'],
    ['--port', '70000'],
    ['--node-port', 'x'],
    ['--metrics', 'localhost:99999'],
    ['--log-level', 'loud'],
    ['--log-format', 'xml'],
    ['--frobnicate'],
    ['--port'],
    ['stray'],
  ]) {
    assert.throws(
      () => parseDaemonArgs(args, {}),
      (e: unknown) => e instanceof EidError && e.code === 'CLI_USAGE',
      args.join(' '),
    );
  }
});

test('metrics: Prometheus text with every counter; ADDR:PORT parsing', async () => {
  const text = await renderMetrics({
    lookups: 7,
    hits: 5,
    misses: 2,
    catalogSize: 3,
    dockerReconnects: 1,
    dockerConnected: true,
    registeredNodes: 4,
  });
  for (const line of [
    'eid_lookups_total 7',
    'eid_lookup_hits_total 5',
    'eid_lookup_misses_total 2',
    'eid_catalog_containers 3',
    'eid_docker_reconnects_total 1',
    'eid_docker_connected 1',
    'eid_registered_nodes 4',
    '# TYPE eid_lookups_total counter',
  ]) {
    assert.ok(text.split('\n').includes(line), line);
  }
  assert.deepEqual(parseListenAddress('127.0.0.1:80'), { host: '127.0.0.1', port: 80 });
  assert.equal(parseListenAddress('127.0.0.1:99999'), undefined);
  assert.equal(parseListenAddress('[::1]'), undefined);
});

async function metrics(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Object.fromEntries(metricSamples(text));
}

/**
 * Resolves once `read()` matches. A liveness bound: the daemon runs from source (tsx compiles it
 * first, over 30 s with three Docker-host files in flight on two cores) and erl boots under load.
 */
async function waitUntil(read: () => string, pattern: RegExp, what: string): Promise<void> {
  await waitFor(() => pattern.test(read()), what, 90_000).catch(() => undefined);
  assert.match(read(), pattern, what);
}

test(
  'without a reachable Docker it serves as plain EPMD, says so once, and keeps trying',
  { timeout: 240_000 },
  async () => {
    const epmdPort = await nextPort();
    const metricsPort = await nextPort();
    const daemonArgs = ['daemon', '--port', String(epmdPort), '--address', '127.0.0.1'];
    daemonArgs.push('--docker', 'unix:///nonexistent/docker.sock', '--metrics', `127.0.0.1:${metricsPort}`);
    const daemon = spawn(process.execPath, [...eidFromSource(), ...daemonArgs, '--log-format', 'json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    daemon.stderr.on('data', (c: Buffer) => (log += c.toString()));
    let node: ChildProcess | undefined;
    try {
      await waitUntil(() => log, /"msg":"daemon started"/, 'the daemon to start');
      // A stock node registers with it (with -start_epmd false it would not start without an EPMD).
      node = spawn(
        'erl',
        ['-noshell', '-start_epmd', 'false', '-name', 'plain@127.0.0.1', '-setcookie', 'plain'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, ERL_EPMD_PORT: String(epmdPort) },
        },
      );
      // One JSON line with both fields, in whichever order the logger writes them.
      const registered = /^(?=.*"msg":"epmd: registered")(?=.*"node":"plain").*$/m;
      await waitUntil(() => log, registered, 'the node to register');
      // Several failed Docker attempts later...
      for (let i = 0; i < 150 && (await metrics(metricsPort)).eid_docker_reconnects_total! < 3; i++)
        await sleep(200);
      const m = await metrics(metricsPort);
      assert.ok(m.eid_docker_reconnects_total! >= 3, `reconnects: ${m.eid_docker_reconnects_total}`);
      assert.equal(m.eid_docker_connected, 0);
      assert.equal(m.eid_registered_nodes, 1);
      assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status, 200);

      // ...the stock epmd client still sees the stock node registered with us,
      const { stdout } = await run('epmd', ['-port', String(epmdPort), '-names'], { timeout: 10_000 });
      assert.match(stdout, /name plain at port \d+/);
      // and the daemon said once, as a warning, why it serves as plain EPMD.
      const warnings = log
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: string; msg: string })
        .filter((l) => l.msg.startsWith('Docker is not reachable'));
      assert.equal(warnings.length, 1, log);
      assert.equal(warnings[0]!.level, 'warn');
      assert.match(warnings[0]!.msg, /plain EPMD/);
    } finally {
      node?.kill('SIGKILL');
      daemon.kill('SIGTERM');
      if (daemon.exitCode === null) await new Promise((resolve) => daemon.once('exit', resolve));
    }
  },
);
