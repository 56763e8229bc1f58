/**
 * The TS node against OTP 27 (Debian trixie) and OTP 29 (sid) nodes in containers on two Docker
 * hosts (test/harness), by `ContainerID@HostIP` names through `eid daemon`; then the link between
 * the hosts is cut inside the network namespace and the TS node must declare nodedown by ticks.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { DockerResolver } from '../../src/distribution/resolver.ts';
import { DockerError } from '../../src/errors.ts';
import { PortSlices } from '../support/ports.ts';
import {
  lastJsonLine,
  NODE_PORT,
  upHosts,
  type DaemonProcess,
  type NodeContainer,
  type TestHosts,
} from '../harness/hosts.ts';

const COOKIE = 'eiddistcontainers';
const SET = 7;
const probe = fileURLToPath(new URL('./probe.ts', import.meta.url));

let hosts: TestHosts;
const daemons: DaemonProcess[] = [];
let otp27: NodeContainer;
let otp29: NodeContainer;

// On first use the images are debootstrapped from the mirror: longer than the suite's per-test deadline.
before(
  async () => {
    hosts = await upHosts(SET);
    await Promise.all([hosts.h1.image('otp27'), hosts.h2.image('otp29')]);
    daemons.push(await hosts.h1.startDaemon(), await hosts.h2.startDaemon());
    otp27 = await hosts.h1.startNode({ cookie: COOKIE, image: 'eid-otp27' });
    otp29 = await hosts.h2.startNode({ cookie: COOKIE, image: 'eid-otp29' });
  },
  { timeout: 1_800_000 },
);

after(async () => {
  await hosts?.down();
});

/** The host port host 1's Docker published otp27's node port on. */
async function otp27Published(): Promise<number> {
  const published = await hosts.h1.docker(['port', otp27.id, `${NODE_PORT}/tcp`]);
  return Number(published.split('\n')[0]!.split(':').at(-1));
}

/**
 * A relay on 127.0.0.1:`port` to host 1's dockerd, which listens on a unix socket only: it stands
 * for the Engine API on TCP (-H tcp://:4243), or on TLS when given a key and certificate.
 */
async function dockerdRelay(port: number, tlsOptions?: tls.TlsOptions): Promise<{ close(): Promise<void> }> {
  const open = new Set<net.Socket>();
  const pipe = (client: net.Socket) => {
    const upstream = net.connect(hosts.h1.socket);
    open.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
  };
  const relay = tlsOptions === undefined ? net.createServer(pipe) : tls.createServer(tlsOptions, pipe);
  await new Promise<void>((resolve, reject) => {
    relay.once('error', reject);
    relay.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    close: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    },
  };
}

test(
  'a TS node in a container on one host and OTP 29 in a container on the other reach each other through eid daemon',
  { timeout: 300_000 },
  async () => {
    const hostname = 'tsincontainer';
    // No port and no EPMD options: inside a container the node listens on the node port the
    // daemon publishes and registers nowhere (no EPMD runs in the container).
    const config = {
      name: `${hostname}@${hosts.h1.ip}`,
      cookie: COOKIE,
      targets: [otp29.node],
    };
    const { status, logs } = await hosts.h1.runScript(probe, JSON.stringify(config), {
      hostname,
      timeoutMs: 120_000,
    });
    assert.equal(status, '0', logs);
    const r = lastJsonLine<Record<string, Record<string, unknown>>>(logs);
    assert.equal(r.error, undefined, logs);
    const t = r[otp29.node]!;
    assert.equal(t.ping, true);
    assert.equal(t.release, '29');
    assert.equal(t.echo, true);
    // OTP 29 on host 2 resolved tsincontainer@host1 through host 1's eid daemon and called back.
    assert.equal(t.rpcBack, 'hello rpc from ts');
    assert.equal(t.erpcBack, 'hello erpc from ts');
  },
);

test(
  'DockerResolver reads the published node port from a real dockerd (Engine API over TCP), eid.port label included',
  { timeout: 300_000 },
  async () => {
    const port = PortSlices.distribution.containers[0];
    const relay = await dockerdRelay(port);
    try {
      const resolver = new DockerResolver({ enginePort: port, nodePort: NODE_PORT });
      const wantPort = await otp27Published();
      assert.deepEqual(await resolver.resolve(`${otp27.id}@127.0.0.1`), {
        host: '127.0.0.1',
        port: wantPort,
      });
      assert.deepEqual(await resolver.resolve(`${otp27.hostname}@127.0.0.1`), {
        host: '127.0.0.1',
        port: wantPort,
      });
      await assert.rejects(
        resolver.resolve('nosuchcontainer@127.0.0.1'),
        (e: unknown) => e instanceof DockerError && e.code === 'DOCKER_NO_CONTAINER',
      );
      await assert.rejects(
        new DockerResolver({ enginePort: port, nodePort: 4000 }).resolve(`${otp27.id}@127.0.0.1`),
        (e: unknown) => e instanceof DockerError && e.code === 'DOCKER_NO_PORT',
      );
      // A container whose eid.port label names its node port: that port's binding, as eid daemon reads it.
      const labelled = await hosts.h1.docker([
        'run',
        '-d',
        '--label',
        'eid.port=4000',
        '-p',
        '4000',
        '-p',
        String(NODE_PORT),
        'eid-otp27',
        'sleep',
        '600',
      ]);
      const published = await hosts.h1.docker(['port', labelled, '4000/tcp']);
      assert.deepEqual(await resolver.resolve(`${labelled}@127.0.0.1`), {
        host: '127.0.0.1',
        port: Number(published.split('\n')[0]!.split(':').at(-1)),
      });
    } finally {
      await relay.close();
    }
  },
);

test(
  'DockerResolver over TLS: verifies the Engine API certificate against the given CA',
  { timeout: 300_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eid-dist-tls-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const port = PortSlices.distribution.containers[0] + 1;
    const relay = await dockerdRelay(port, { key: readFileSync(key), cert: readFileSync(cert) });
    try {
      const wantPort = await otp27Published();
      const trusted = new DockerResolver({ enginePort: port, tls: { ca: readFileSync(cert) } });
      assert.deepEqual(await trusted.resolve(`${otp27.id}@127.0.0.1`), { host: '127.0.0.1', port: wantPort });
      const untrusted = new DockerResolver({ enginePort: port, tls: {} });
      await assert.rejects(
        untrusted.resolve(`${otp27.id}@127.0.0.1`),
        (e: unknown) => e instanceof DockerError && e.code === 'DOCKER_UNREACHABLE',
      );
    } finally {
      await relay.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'a TS node reaches OTP 27 and OTP 29 in containers by ContainerID@HostIP, both ways; a network cut gives nodedown',
  { timeout: 300_000 },
  async (t) => {
    const config = {
      name: `ts_probe@${hosts.h1.ip}`,
      cookie: COOKIE,
      targets: [otp27.node, otp29.node],
      cut: { device: `eid${SET}v1`, target: otp29.node },
    };
    const child = hosts.h1.spawn(process.execPath, ['--import', 'tsx', probe, JSON.stringify(config)]);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      // A liveness bound: tsx compiles the probe first (over 30 s on a loaded two-core machine).
      const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, stderr);
    const r = lastJsonLine<Record<string, Record<string, unknown>>>(stdout);
    assert.equal(r.error, undefined, JSON.stringify(r));
    for (const [node, release] of [
      [otp27.node, '27'],
      [otp29.node, '29'],
    ] as const) {
      const t = r[node]!;
      assert.equal(t.ping, true, node);
      assert.equal(t.release, release);
      assert.equal(t.echo, true);
      assert.equal(t.rpcBack, 'hello rpc from ts');
      assert.equal(t.erpcBack, 'hello erpc from ts');
      assert.equal(t.down, 'normal');
    }
    // OTP 28+ sends gen:reply to an alias as ALTACT_SIG_SEND (op 37) when offered DFLAG_ALTACT_SIG.
    assert.deepEqual(r[otp27.node]!.aliasReplies, { alias_send: 1, altact_sig: 0 });
    assert.deepEqual(r[otp29.node]!.aliasReplies, { alias_send: 0, altact_sig: 1 });
    const cut = r.cut as unknown as { node: string; reason: string; seconds: number };
    assert.equal(cut.node, otp29.node);
    assert.equal(cut.reason, 'net_tick_timeout');
    t.diagnostic(`network cut → nodedown after ${cut.seconds} s (net_ticktime 4 s)`);
  },
);
