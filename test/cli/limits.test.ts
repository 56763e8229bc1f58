/**
 * The EPMD connection limits of `eid daemon` and `eid epmd` as users run them (bin/eid.js on the
 * built dist/), without Docker: slow senders from one address cannot take the slots another address
 * needs, a slowloris is cut by the whole-request deadline, and the flags and EID_* variables that
 * set the limits (docs/deploying.md, docs/epmd.md).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EidError } from '../../src/errors.ts';
import { DAEMON_USAGE, parseDaemonArgs } from '../../src/daemon/options.ts';
import { epmdNames, epmdPortPlease, epmdRegister } from '../../src/epmd/client.ts';
import { exchange } from '../epmd/helpers.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';
import { Processes, waitFor, type Spawned } from '../support/processes.ts';

const eidBin = fileURLToPath(new URL('../../bin/eid.js', import.meta.url));
const nextPort = portAllocator(PortSlices.epmd.limits);
const processes = new Processes();
const NO_DOCKER = 'unix:///nonexistent/eid-limits-test.sock';
/** Liveness bound for one EPMD answer while the flood holds its connections. */
const ANSWER_MS = 10_000;
const T = { timeout: 180_000 };

after(() => processes.stopAll());

/** `eid daemon` on a fresh port of 127.0.0.1 with Docker unreachable; resolves once it has started. */
async function startDaemon(env: Record<string, string>): Promise<{ port: number; daemon: Spawned }> {
  const port = await nextPort();
  const daemon = processes.spawn(process.execPath, [eidBin, 'daemon'], {
    EID_PORT: String(port),
    EID_ADDRESS: '127.0.0.1',
    EID_DOCKER: NO_DOCKER,
    ...env,
  });
  await waitFor(() => {
    if (daemon.child.exitCode !== null) throw new Error(`eid daemon exited: ${daemon.stderr}`);
    return `${daemon.stdout}${daemon.stderr}`.includes('daemon started');
  }, 'eid daemon to start');
  return { port, daemon };
}

async function startEpmd(args: string[]): Promise<{ port: number; server: Spawned }> {
  const port = await nextPort();
  const server = processes.spawn(process.execPath, [
    eidBin,
    'epmd',
    '--port',
    String(port),
    '--address',
    '127.0.0.1',
    ...args,
  ]);
  await waitFor(() => {
    if (server.child.exitCode !== null) throw new Error(`eid epmd exited: ${server.stderr}`);
    return server.stderr.includes('epmd: listening');
  }, 'eid epmd to listen');
  return { port, server };
}

/**
 * A connection from `localAddress` that begins a 3000-byte PORT_PLEASE2 and sends no more unless
 * trickled; resolves once connected (or already closed by the server).
 */
function slowSender(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress, noDelay: true });
    socket.once('connect', () => {
      socket.write(Buffer.from('0bb87a', 'hex'));
      resolve(socket);
    });
    socket.once('close', () => resolve(socket));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server closing a connection it refused; anything else (EMFILE, say) fails the test.
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
    });
  });
}

/** Resolves when `socket` closes; rejects after `ms`. */
function closedWithin(socket: net.Socket, ms: number, what: string): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not closed within ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** This process's soft limit on open files (Node raises it to the hard limit when it starts). */
function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
}

test(
  'eid daemon: 1,100 slow senders from 127.0.0.2 leave lookups and registrations from 127.0.0.1 answered',
  T,
  async (t) => {
    // The flood's sockets live in this process, the daemon's in its own; keep 200 spare for the rest.
    const fds = openFileLimit();
    const flood = Math.min(1100, fds - 200);
    const env: Record<string, string> = { EID_REQUEST_TIMEOUT: '600' };
    if (flood < 1100) {
      // Still more slow senders than the whole connection cap, so the old code would be blocked.
      env['EID_MAX_CONNECTIONS'] = String(flood - 50);
      t.diagnostic(`open-file limit ${fds}: ${flood} slow senders, connection cap ${flood - 50}`);
    }
    const { port } = await startDaemon(env);
    const senders: net.Socket[] = [];
    for (let i = 0; i < flood; i += 100) {
      const batch = Array.from({ length: Math.min(100, flood - i) }, () => slowSender(port, '127.0.0.2'));
      senders.push(...(await Promise.all(batch)));
    }
    const open = () => senders.filter((s) => !s.destroyed).length;
    // One byte a second each: the idle timeout (60 s) never fires, the requests never complete.
    const trickle = setInterval(() => {
      for (const s of senders) if (!s.destroyed) s.write('n');
    }, 1000);
    try {
      const options = { epmdPort: port, timeoutMs: ANSWER_MS };
      const reg = await epmdRegister('after_flood', 43849, options);
      try {
        for (let i = 0; i < 20; i++) {
          assert.equal((await epmdPortPlease('after_flood', '127.0.0.1', options)).port, 43849);
        }
        assert.deepEqual((await epmdNames('127.0.0.1', options)).nodes, [
          { name: 'after_flood', port: 43849 },
        ]);
      } finally {
        await reg.close();
      }
      // The default per-source cap (64) held them; everything past it was closed at once, and the
      // held ones are still open: the cap, not a deadline, made room.
      await waitFor(() => open() === 64, 'the slow senders past the per-source cap to be closed', 60_000);
    } finally {
      clearInterval(trickle);
      for (const s of senders) s.destroy();
    }
  },
);

test(
  'eid epmd --request-timeout cuts a slowloris trickling under the packet timeout; a registration stays',
  T,
  async () => {
    const { port } = await startEpmd(['--request-timeout', '2', '--packet-timeout', '60']);
    const options = { epmdPort: port, timeoutMs: ANSWER_MS };
    const reg = await epmdRegister('kept', 43848, options);
    try {
      const slowloris = await slowSender(port, '127.0.0.2');
      let sent = 3;
      const trickle = setInterval(() => {
        if (!slowloris.destroyed) slowloris.write('n', () => sent++);
      }, 200);
      try {
        await closedWithin(slowloris, 30_000, 'the slowloris');
      } finally {
        clearInterval(trickle);
      }
      assert.ok(sent < 3002, `cut before its request was whole (${sent} bytes sent)`);
      // The registration is older than the deadline and stays.
      assert.deepEqual((await epmdNames('127.0.0.1', options)).nodes, [{ name: 'kept', port: 43848 }]);
    } finally {
      await reg.close();
    }
  },
);

test(
  'eid epmd --max-connections-per-source: one address past its cap is refused, another is answered',
  T,
  async () => {
    const { port } = await startEpmd(['--max-connections-per-source', '4', '--request-timeout', '600']);
    const options = { epmdPort: port, timeoutMs: ANSWER_MS };
    const reg = await epmdRegister('kept', 43847, options);
    const held = await Promise.all([0, 1, 2, 3].map(() => slowSender(port, '127.0.0.3')));
    try {
      // A whole lookup for a registered name: the cap closes it unanswered, without it the reply is found.
      const lookup = Buffer.from('00057a6b657074', 'hex');
      assert.deepEqual(await exchange(port, [lookup], { localAddress: '127.0.0.3' }), {
        reply: '',
        closed: true,
      });
      assert.equal((await exchange(port, [lookup], { localAddress: '127.0.0.1' })).reply.slice(0, 4), '7700');
      assert.equal((await epmdPortPlease('kept', '127.0.0.1', options)).port, 43847);
      held[0]!.destroy();
      await waitFor(
        async () => (await exchange(port, [lookup], { localAddress: '127.0.0.3' })).reply.startsWith('7700'),
        '127.0.0.3 to be answered once under its cap',
      );
    } finally {
      for (const s of held) s.destroy();
      await reg.close();
    }
  },
);

test('eid daemon limits: flags win over EID_* variables; timeouts are in seconds; bad values are usage errors', () => {
  const env = {
    EID_MAX_CONNECTIONS: '500',
    EID_MAX_CONNECTIONS_PER_SOURCE: '20',
    EID_PACKET_TIMEOUT: '30',
    EID_REQUEST_TIMEOUT: '5',
  };
  assert.deepEqual(parseDaemonArgs([], env).limits, {
    maxConnections: 500,
    maxConnectionsPerSource: 20,
    packetTimeoutMs: 30_000,
    requestTimeoutMs: 5_000,
  });
  const flags = ['--max-connections=900', '--max-connections-per-source', '8', '--request-timeout', '3'];
  assert.deepEqual(parseDaemonArgs(flags, env).limits, {
    maxConnections: 900,
    maxConnectionsPerSource: 8,
    packetTimeoutMs: 30_000,
    requestTimeoutMs: 3_000,
  });
  assert.deepEqual(parseDaemonArgs([], {}).limits, {}, 'absent: the EPMD server defaults');
  for (const args of [
    ['--max-connections', '0'],
    ['--max-connections-per-source', 'x'],
    ['--packet-timeout', '1.5'],
    ['--request-timeout', '86401'],
  ]) {
    assert.throws(
      () => parseDaemonArgs(args, {}),
      (e: unknown) => e instanceof EidError && e.code === 'CLI_USAGE',
      args.join(' '),
    );
  }
  for (const flag of [
    '--max-connections',
    '--max-connections-per-source',
    '--packet-timeout',
    '--request-timeout',
  ])
    assert.ok(DAEMON_USAGE.includes(flag), `eid daemon --help names ${flag}`);
});
