/**
 * `eid daemon` configured only through its documented EID_* variables (docs/deploying.md), run as
 * users run it (bin/eid.js on the built dist/) without Docker: each variable takes effect, flags
 * win over them, and /healthz says that Docker is unreachable. The Docker side (EID_DOCKER,
 * EID_NODE_PORT, EID_ERLANG_PORT, --node-port) is in node-port.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PortSlices, connectable, portAllocator } from '../support/ports.ts';
import { Processes, eidBin, waitFor, type Spawned } from '../support/processes.ts';

const nextPort = portAllocator(PortSlices.daemon.env);
const processes = new Processes();
// Free ports of this file's slice, taken before the tests.
const PORTS = { epmd: 0, metrics: 0, envPort: 0, flagPort: 0, flagMetrics: 0 };
const NO_DOCKER = 'unix:///nonexistent/eid-env-test.sock';

before(async () => {
  for (const key of Object.keys(PORTS) as (keyof typeof PORTS)[]) PORTS[key] = await nextPort();
});

after(() => processes.stopAll());

interface Run {
  spawned: Spawned;
  log(): string;
  stop(): Promise<number | null>;
}

/** `eid args...` with exactly `env` added to a clean environment (no inherited EID_* or DOCKER_*). */
function eid(args: string[], env: Record<string, string>): Run {
  const inherited = Object.keys(process.env).filter((k) => k.startsWith('EID_') || k.startsWith('DOCKER_'));
  const unset = Object.fromEntries(inherited.map((k) => [k, undefined]));
  const spawned = processes.spawn(process.execPath, [eidBin, ...args], { ...unset, ...env });
  return {
    spawned,
    log: () => spawned.stdout + spawned.stderr,
    stop: async () => {
      await spawned.kill('SIGTERM');
      return (await spawned.exited).code;
    },
  };
}

/** A one-shot CLI command's exit code and output. */
async function oneShot(args: string[]): Promise<{ code: number | null; out: string }> {
  const { code, stdout, stderr } = await eid(args, {}).spawned.outcome();
  return { code, out: stdout + stderr };
}

test(
  'every EID_* variable takes effect: port, address, docker, metrics, log level and format',
  { timeout: 120_000 },
  async () => {
    const daemon = eid(['daemon'], {
      EID_PORT: String(PORTS.epmd),
      EID_ADDRESS: '127.0.0.1',
      EID_DOCKER: NO_DOCKER,
      EID_METRICS: `127.0.0.1:${PORTS.metrics}`,
      EID_LOG_LEVEL: 'debug',
      EID_LOG_FORMAT: 'json',
    });
    try {
      await waitFor(() => daemon.log().includes('"msg":"daemon started"'), 'the daemon to start', 30_000);
      // EID_PORT: EPMD answers there.
      const names = await oneShot(['names', '127.0.0.1', '--port', String(PORTS.epmd)]);
      assert.deepEqual(names, { code: 0, out: `epmd: up and running on port ${PORTS.epmd} with data:\n` });
      // EID_ADDRESS: only 127.0.0.1 (and ::1); 127.0.0.2 is another address of this machine.
      assert.equal(await connectable('127.0.0.2', PORTS.epmd), false, 'not listening on 127.0.0.2');
      // EID_DOCKER: the endpoint it could not reach is the one it was given.
      await waitFor(() => daemon.log().includes('Docker is not reachable'), 'the Docker warning', 30_000);
      const lines = daemon
        .log()
        .split('\n')
        .filter((l) => l !== '');
      // EID_LOG_FORMAT=json: every line is a JSON object.
      const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const warning = entries.find((e) => String(e['msg']).startsWith('Docker is not reachable'));
      assert.equal(warning?.['endpoint'], NO_DOCKER);
      // EID_LOG_LEVEL=debug: a lookup of an unknown name is logged at debug level.
      const miss = await oneShot(['resolve', 'eid_env_nobody@127.0.0.1', '--port', String(PORTS.epmd)]);
      assert.equal(miss.code, 1);
      await waitFor(() => daemon.log().includes('"msg":"container lookup"'), 'the debug lookup line', 30_000);
      const lookup = daemon
        .log()
        .split('\n')
        .filter((l) => l.includes('"msg":"container lookup"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(lookup[0]?.['level'], 'debug');
      assert.equal(lookup[0]?.['name'], 'eid_env_nobody');
      // EID_METRICS: Prometheus text with the miss counted, and /healthz.
      const metrics = await fetch(`http://127.0.0.1:${PORTS.metrics}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^eid_lookup_misses_total 1$/m);
      const health = await fetch(`http://127.0.0.1:${PORTS.metrics}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(await health.text(), 'degraded: docker unreachable\n');
    } finally {
      assert.equal(await daemon.stop(), 0, daemon.log());
    }
  },
);

test(
  'flags win over EID_* variables; EID_LOG_LEVEL=warn hides info lines; no EID_ADDRESS serves all addresses',
  { timeout: 120_000 },
  async () => {
    const daemon = eid(['daemon', '--port', String(PORTS.flagPort), '--log-format', 'pretty'], {
      EID_PORT: String(PORTS.envPort),
      EID_DOCKER: NO_DOCKER,
      EID_METRICS: `127.0.0.1:${PORTS.flagMetrics}`,
      EID_LOG_LEVEL: 'warn',
      EID_LOG_FORMAT: 'json',
    });
    try {
      await waitFor(
        () => connectable('127.0.0.1', PORTS.flagPort),
        'the daemon to listen on the --port',
        30_000,
      );
      assert.equal(await connectable('127.0.0.1', PORTS.envPort), false, 'EID_PORT lost to --port');
      assert.equal(await connectable('127.0.0.2', PORTS.flagPort), true, 'all addresses by default');
      await waitFor(() => daemon.log().includes('Docker is not reachable'), 'the Docker warning', 30_000);
      const lines = daemon
        .log()
        .split('\n')
        .filter((l) => l !== '');
      // --log-format pretty won over EID_LOG_FORMAT=json; EID_LOG_LEVEL=warn dropped the info lines.
      assert.ok(
        lines.every((l) => !l.startsWith('{')),
        daemon.log(),
      );
      assert.ok(!daemon.log().includes('daemon started'), daemon.log());
      assert.match(daemon.log(), /WARN/);
      const health = await fetch(`http://127.0.0.1:${PORTS.flagMetrics}/healthz`);
      assert.equal(await health.text(), 'degraded: docker unreachable\n');
    } finally {
      assert.equal(await daemon.stop(), 0, daemon.log());
    }
  },
);

test('a bad EID_* value is a usage error naming the setting (exit 2)', { timeout: 60_000 }, async () => {
  for (const [name, value, pattern] of [
    ['EID_PORT', 'x', /--port: not a port number: 'x'/],
    ['EID_NODE_PORT', '70000', /--node-port: not a port number: '70000'/],
    ['EID_ERLANG_PORT', '-1', /--node-port: not a port number: '-1'/],
    ['EID_METRICS', 'nowhere', /--metrics: expected PORT or ADDR:PORT, got 'nowhere'/],
    ['EID_LOG_LEVEL', 'loud', /--log-level: one of/],
    ['EID_LOG_FORMAT', 'xml', /--log-format: pretty, json or auto/],
  ] as const) {
    const r = eid(['daemon'], { [name]: value, EID_DOCKER: NO_DOCKER });
    const { code } = await r.spawned.exited;
    assert.equal(code, 2, `${name}=${value}: ${r.log()}`);
    assert.match(r.log(), pattern, name);
  }
});
