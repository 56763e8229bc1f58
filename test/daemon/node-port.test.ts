/**
 * The daemon's node port end to end on a real Docker host (test/harness, host set 6): a container
 * whose node listens on a non-default port is found through `eid daemon` only when the daemon is
 * told that port, by `--node-port`, `EID_NODE_PORT` or `EID_ERLANG_PORT`. The daemon configured
 * only by variables (EID_DOCKER included) runs as users run it: bin/eid.js on the built dist/.
 * Needs root; run under `flock /tmp/eid-docker.lock`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evalOnHost,
  upHosts,
  type DaemonProcess,
  type NodeContainer,
  type TestHosts,
} from '../harness/hosts.ts';
import { eidBin } from '../support/processes.ts';

const SET = 6;
const COOKIE = 'eidnodeporttest';
const NODE_PORT = 23456;
const METRICS = '127.0.0.1:9100';

let hosts: TestHosts;
let container: NodeContainer;

before(async () => {
  hosts = await upHosts(SET);
  container = await hosts.h1.startNode({ cookie: COOKIE, nodePort: NODE_PORT });
});

after(async () => {
  await hosts?.down();
});

const T = { timeout: 300_000 };

/** net_adm:ping of the container's node from a helper node on host 1, which asks host 1's daemon. */
async function pingFromHost(): Promise<string> {
  return evalOnHost(hosts.h1, COOKIE, `io:format("~p~n", [net_adm:ping('${container.node}')])`);
}

/** `eid daemon` on host 1 from bin/eid.js with only `env` to configure it; resolves once the catalog synced. */
function daemonFromEnv(env: Record<string, string>): Promise<DaemonProcess> {
  const child = hosts.h1.spawn(process.execPath, [eidBin, 'daemon'], env);
  return hosts.h1.adopt(child, /Docker catalog synced/);
}

test(
  '--node-port: the container is reachable through the daemon; with the default port it is not',
  T,
  async () => {
    const plain = await hosts.h1.startDaemon();
    try {
      assert.equal(await pingFromHost(), 'pang', 'the default node port (12345) does not find the container');
    } finally {
      await plain.stop();
    }
    const daemon = await hosts.h1.startDaemon(['--node-port', String(NODE_PORT), '--metrics', METRICS]);
    try {
      assert.equal(await pingFromHost(), 'pong');
      // The daemon answered with the port Docker published for the node port.
      const published = await hosts.h1.docker(['port', container.id, String(NODE_PORT)]);
      const hostPort = published.split('\n')[0]!.split(':').pop();
      assert.match(
        daemon.log(),
        new RegExp(`container lookup component=eid name=${container.hostname} port=${hostPort}`),
      );
      assert.equal(await hosts.h1.exec('curl', ['-sf', `http://${METRICS}/healthz`]), 'ok');
    } finally {
      await daemon.stop();
    }
  },
);

test(
  'EID_DOCKER and EID_NODE_PORT alone configure the daemon; /healthz says ok with Docker connected',
  T,
  async () => {
    const daemon = await daemonFromEnv({
      EID_DOCKER: hosts.h1.endpoint,
      EID_NODE_PORT: String(NODE_PORT),
      EID_METRICS: METRICS,
      EID_LOG_LEVEL: 'debug',
      EID_LOG_FORMAT: 'json',
    });
    try {
      assert.equal(await pingFromHost(), 'pong');
      const lookups = daemon
        .log()
        .split('\n')
        .filter((l) => l.includes('"msg":"container lookup"'))
        .map((l) => JSON.parse(l) as { name: string; port: number | null });
      assert.ok(
        lookups.some((l) => l.name === container.hostname && l.port !== null),
        daemon.log(),
      );
      // The exact body users' health checks read (curl -s keeps the trailing newline here).
      const body = await hosts.h1.exec('sh', ['-c', `curl -sf http://${METRICS}/healthz | od -c | head -1`]);
      assert.match(body, /o\s+k\s+\\n/);
    } finally {
      await daemon.stop();
    }
  },
);

test(
  "EID_ERLANG_PORT, the original spelling, does the same; README's eid ping and epmd.md's eid resolve from another host",
  T,
  async () => {
    const daemon = await daemonFromEnv({ EID_DOCKER: hosts.h1.endpoint, EID_ERLANG_PORT: String(NODE_PORT) });
    try {
      assert.equal(await pingFromHost(), 'pong');
      // `eid ping 3f2a9c1b7d4e@10.0.0.1 --cookie "$COOKIE"`, from host 2: the lookup goes to host 1's daemon.
      assert.equal(
        await hosts.h2.exec(process.execPath, [eidBin, 'ping', container.node, '--cookie', COOKIE]),
        'pong',
      );
      // `eid resolve a@otherhost`: the port Docker published for the node port.
      const published = await hosts.h1.docker(['port', container.id, String(NODE_PORT)]);
      const hostPort = published.split('\n')[0]!.split(':').pop();
      assert.equal(await hosts.h2.exec(process.execPath, [eidBin, 'resolve', container.node]), hostPort);
    } finally {
      await daemon.stop();
    }
  },
);
