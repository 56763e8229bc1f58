/**
 * The command line as README.md and docs/*.md document it, run as users run it (bin/eid.js on the
 * built dist/) against a stock OTP 25 node and a stock epmd: the default ~/.erlang.cookie, --json,
 * --timeout, `eid names HOST`, every subcommand's --help, and `eid epmd`'s limit flags.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COOKIE, Fixture, type ErlNode } from '../distribution/helpers.ts';
import { PortSlices, connectable } from '../support/ports.ts';
import { eidBin, waitFor, type Outcome } from '../support/processes.ts';
import { epmdRegister, type Registration } from '../../src/index.ts';

const f = new Fixture(PortSlices.distribution.cliDocs);
let erl: ErlNode;
let home: string;

before(async () => {
  await f.startEpmd();
  erl = await f.startErl('cli_docs_otp');
  home = await mkdtemp(join(tmpdir(), 'eid-home-'));
});

after(async () => {
  await f.cleanup();
  await rm(home, { recursive: true, force: true });
});

/** Runs `eid args...` to its end. */
function eid(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  return f.spawn(process.execPath, [eidBin, ...args], env).outcome();
}

/** The CLI node's options that point it at this file's epmd. */
const viaEpmd = () => ['--epmd-port', String(f.epmdPort)];

const T = { timeout: 120_000 };

test('ping and rpc read the cookie from ~/.erlang.cookie when --cookie is not given', T, async () => {
  const cookieFile = join(home, '.erlang.cookie');
  await writeFile(cookieFile, `${COOKIE}\n`);
  await chmod(cookieFile, 0o400);
  const env = { HOME: home };
  assert.deepEqual(await eid(['ping', erl.name, ...viaEpmd()], env), {
    code: 0,
    stdout: 'pong\n',
    stderr: '',
  });
  const rpc = await eid(['rpc', erl.name, 'erlang', 'node', ...viaEpmd()], env);
  assert.deepEqual(rpc, { code: 0, stdout: `'${erl.name}'\n`, stderr: '' });

  // A cookie file with another cookie: the node refuses us (pang), so the file really was read.
  const other = await mkdtemp(join(tmpdir(), 'eid-home-'));
  try {
    await writeFile(join(other, '.erlang.cookie'), 'not-the-cookie');
    const pang = await eid(['ping', erl.name, ...viaEpmd(), '--timeout', '5000'], { HOME: other });
    assert.equal(pang.code, 1);
    assert.equal(pang.stdout, 'pang\n');
    // No file at all: a usage error that says what is missing.
    await rm(join(other, '.erlang.cookie'));
    const none = await eid(['ping', erl.name, ...viaEpmd()], { HOME: other });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^eid ping: no --cookie given and no ~\/\.erlang\.cookie to read\n/);
  } finally {
    await rm(other, { recursive: true, force: true });
  }
});

test("docs/node.md's examples: lists reverse with Erlang literals, lists sum with --json", T, async () => {
  const reverse = await eid([
    'rpc',
    erl.name,
    'lists',
    'reverse',
    '[1, two, "three"]',
    '--cookie',
    COOKIE,
    ...viaEpmd(),
  ]);
  assert.deepEqual(reverse, { code: 0, stdout: '["three",two,1]\n', stderr: '' });
  const sum = await eid([
    'rpc',
    erl.name,
    'lists',
    'sum',
    '--json',
    '[1, 2, 3]',
    '--cookie',
    COOKIE,
    ...viaEpmd(),
  ]);
  assert.deepEqual(sum, { code: 0, stdout: '6\n', stderr: '' });
  // JSON strings are binaries, objects maps with atom keys: maps:get(k, #{k => <<"v">>}).
  const map = await eid(
    ['rpc', erl.name, 'maps', 'get', '--json', '"k"', '{"k": "v"}', '--cookie', COOKIE, ...viaEpmd()],
    {},
  );
  assert.equal(map.code, 1, 'the key "k" is a binary, the map key an atom: badrpc');
  assert.match(map.stderr, /^\{badrpc,\{'EXIT',\{\{badkey,<<"k">>\}/);
  const atomKey = await eid([
    'rpc',
    erl.name,
    'maps',
    'get',
    'k',
    '#{k => <<"v">>}',
    '--cookie',
    COOKIE,
    ...viaEpmd(),
  ]);
  assert.deepEqual(atomKey, { code: 0, stdout: '<<"v">>\n', stderr: '' });
  // ERL_EPMD_PORT is the default for --epmd-port.
  const viaEnv = await eid(['rpc', erl.name, 'lists', 'sum', '--json', '[4, 5]', '--cookie', COOKIE], {
    ERL_EPMD_PORT: String(f.epmdPort),
  });
  assert.deepEqual(viaEnv, { code: 0, stdout: '9\n', stderr: '' });
});

test(
  'rpc --timeout bounds the call: {badrpc,timeout} under it; a call past the 7 s default succeeds with a larger one',
  T,
  async () => {
    // --timeout bounds connecting as well: 4 s leaves connection setup ample room, not the call.
    const args = ['rpc', erl.name, 'timer', 'sleep', '8000', '--cookie', COOKIE, ...viaEpmd()];
    const short = await eid([...args, '--timeout', '4000']);
    assert.deepEqual(short, { code: 1, stdout: '', stderr: '{badrpc,timeout}\n' });
    const long = await eid([...args, '--timeout', '60000']);
    assert.deepEqual(long, { code: 0, stdout: 'ok\n', stderr: '' });
    const bad = await eid([...args, '--timeout', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--timeout must be an integer/);
  },
);

test('ping --timeout: a node that never answers the handshake is pang', T, async () => {
  // A name registered at EPMD whose port accepts connections and then says nothing.
  const silent = net.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  let reg: Registration | undefined;
  try {
    const port = (silent.address() as net.AddressInfo).port;
    reg = await epmdRegister('cli_docs_silent', port, { epmdPort: f.epmdPort });
    const r = await eid([
      'ping',
      'cli_docs_silent@127.0.0.1',
      '--cookie',
      COOKIE,
      ...viaEpmd(),
      // The bound covers the EPMD lookup and the TCP connect too: room for those on a loaded
      // machine, or the reason would be the connect's timeout, not the handshake's.
      '--timeout',
      '2000',
    ]);
    // pang on stdout, as net_adm:ping/1 answers; stderr says why, for the operator.
    assert.deepEqual({ code: r.code, stdout: r.stdout }, { code: 1, stdout: 'pang\n' });
    assert.match(r.stderr, /^eid ping: handshake not done within 2000 ms\n$/);
  } finally {
    await reg?.close();
    silent.close();
  }
});

test(
  'names and resolve --timeout: a slow epmd times out under it and answers with room to spare',
  T,
  async () => {
    const port = await f.nextPort();
    // -delay_write makes stock epmd sleep before every reply.
    const slow = f.spawn('epmd', ['-port', String(port), '-delay_write', '2']);
    try {
      await waitFor(() => connectable('127.0.0.1', port), 'the slow epmd to listen', 10_000);
      const short = await eid(['names', '127.0.0.1', '--port', String(port), '--timeout', '300']);
      assert.equal(short.code, 1);
      assert.match(short.stderr, /^eid names: epmd at 127.0.0.1:\d+ did not answer within 300 ms\n$/);
      const long = await eid(['names', '127.0.0.1', '--port', String(port), '--timeout', '60000']);
      assert.deepEqual(long, {
        code: 0,
        stdout: `epmd: up and running on port ${port} with data:\n`,
        stderr: '',
      });
      const resolve = await eid(['resolve', 'x@127.0.0.1', '--port', String(port), '--timeout', '300']);
      assert.equal(resolve.code, 1);
      assert.match(resolve.stderr, /^eid resolve: .* did not answer within 300 ms\n$/);
    } finally {
      await slow.kill();
    }
  },
);

test('eid names HOST asks that host: 127.0.0.1 and localhost list the node like epmd -names', T, async () => {
  const stock = f.spawn('epmd', ['-port', String(f.epmdPort), '-names']);
  await stock.exited;
  assert.match(stock.stdout, /name cli_docs_otp at port \d+/);
  for (const host of ['127.0.0.1', 'localhost']) {
    const r = await eid(['names', host, '--port', String(f.epmdPort)]);
    assert.deepEqual(r, { code: 0, stdout: stock.stdout, stderr: '' }, host);
  }
  const two = await eid(['names', 'a', 'b']);
  assert.equal(two.code, 2);
});

/**
 * What each subcommand's --help must name: the flags docs/ document for it (`eid daemon --help`
 * is checked in test/daemon/daemon.test.ts).
 */
const DOCUMENTED_FLAGS: Record<string, string[]> = {
  epmd: [
    '--port',
    '--address',
    '--relaxed-command-check',
    '--packet-timeout',
    '--request-timeout',
    '--max-connections',
    '--max-connections-per-source',
    '--log-level',
    '--log-format',
    '--help',
  ],
  names: ['--port', '--timeout', '--help'],
  resolve: ['--port', '--timeout', '--help'],
  ping: ['--cookie', '--name', '--epmd-port', '--listen-port', '--timeout', '--help'],
  rpc: ['--json', '--cookie', '--name', '--epmd-port', '--listen-port', '--timeout', '--help'],
  remsh: [
    '--eval',
    '--yes',
    '--no-history',
    '--cookie',
    '--name',
    '--epmd-port',
    '--listen-port',
    '--ssl-dist-optfile',
    '--tls-ca',
    '--tls-cert',
    '--tls-key',
    '--timeout',
    '--help',
  ],
  status: ['--host', '--cluster', '--clusters', '--json', '--timeout', '--help'],
};
const BOOLEAN_FLAGS = new Set(['--help', '--json', '--relaxed-command-check', '--yes', '--no-history']);

test(
  "every subcommand's --help exits 0 with its usage, naming its flags; each flag it names is accepted",
  T,
  async () => {
    for (const [command, flags] of Object.entries(DOCUMENTED_FLAGS)) {
      const r = await eid([command, '--help']);
      assert.equal(r.code, 0, `${command}: ${r.stderr}`);
      assert.equal(r.stderr, '');
      assert.ok(r.stdout.startsWith(`Usage: eid ${command}`), r.stdout);
      for (const flag of flags) assert.ok(r.stdout.includes(flag), `eid ${command} --help names ${flag}`);
      // eid daemon prints its usage before it parses; the others parse first, so an unknown flag
      // in their usage text would fail here.
      if (command === 'daemon') continue;
      for (const flag of new Set(r.stdout.match(/--[a-z][a-z_-]*/g))) {
        const withValue = BOOLEAN_FLAGS.has(flag) ? [flag] : [flag, '1'];
        const accepted = await eid([command, ...withValue, '--help']);
        assert.equal(accepted.code, 0, `eid ${command} ${withValue.join(' ')} --help: ${accepted.stderr}`);
      }
    }
    assert.equal((await eid(['daemon', '-h'])).code, 0);
    const unknown = await eid(['names', '--no-such-flag']);
    assert.equal(unknown.code, 2);
  },
);

/**
 * Starts `eid epmd` with `args` on a fresh port of this file; resolves once it listens (its log
 * line says so, or with `probe`, when its log level hides that line, once it accepts a connection).
 */
async function eidEpmd(
  args: string[],
  probe = false,
  env: Record<string, string> = {},
): Promise<{ port: number; server: ReturnType<Fixture['spawn']> }> {
  const port = await f.nextPort();
  const server = f.spawn(
    process.execPath,
    [eidBin, 'epmd', '--port', String(port), '--address', '127.0.0.1', ...args],
    env,
  );
  if (probe) {
    await waitFor(
      async () => {
        if (!server.running) throw new Error(`eid epmd exited: ${server.stderr}`);
        return connectable('127.0.0.1', port);
      },
      'eid epmd to listen',
      15_000,
    );
  } else {
    await server.waitForOutput('epmd: listening', 15_000, 'stderr');
  }
  return { port, server };
}

test(
  'eid epmd with no --address serves every address (ERL_EPMD_PORT for the port); --address limits it',
  T,
  async () => {
    const port = await f.nextPort();
    const all = f.spawn(process.execPath, [eidBin, 'epmd'], { ERL_EPMD_PORT: String(port) });
    try {
      await all.waitForOutput('epmd: listening', 15_000, 'stderr');
      assert.equal(await connectable('127.0.0.2', port), true, 'listening beyond 127.0.0.1');
    } finally {
      await all.kill('SIGTERM');
    }
    const { port: limited, server } = await eidEpmd([]);
    try {
      assert.equal(await connectable('127.0.0.2', limited), false, 'only 127.0.0.1 (and ::1)');
    } finally {
      await server.kill('SIGTERM');
    }
  },
);

test(
  'eid epmd --max-connections: connections past the cap are closed unanswered until one closes',
  T,
  async () => {
    const { port, server } = await eidEpmd([
      '--max-connections',
      '2',
      '--log-level',
      'debug',
      '--log-format',
      'json',
    ]);
    const idle = [await open(port), await open(port)];
    try {
      // The third connection (a NAMES request) is closed on accept, without a reply.
      const refused = await eid(['names', '127.0.0.1', '--port', String(port), '--timeout', '30000']);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, /^eid names: /);
      // Logged one by one at debug level, as JSON lines.
      await waitFor(
        () =>
          server.stderr
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .some((l) => (JSON.parse(l) as { msg: string }).msg.includes('too many open connections')),
        'the debug line for the connection cap',
        15_000,
      );
      idle[0]!.destroy();
      // One slot free: NAMES is answered again.
      await waitFor(
        async () => (await eid(['names', '127.0.0.1', '--port', String(port)])).code === 0,
        'a NAMES answer once a slot is free',
        30_000,
      );
    } finally {
      for (const s of idle) s.destroy();
      await server.kill('SIGTERM');
    }
  },
);

test('eid epmd --packet-timeout: an idle connection is closed, a registration stays', T, async () => {
  // The request deadline (10 s by default) pushed out of the way: only --packet-timeout closes it.
  const { port, server } = await eidEpmd(['--packet-timeout', '1', '--request-timeout', '600']);
  const reg = await epmdRegister('cli_docs_kept', 40123, { epmdPort: port });
  try {
    const idle = await open(port);
    // Closed by the server within a generous bound (the default packet timeout is 60 s).
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('idle connection not closed within 30 s')), 30_000);
      idle.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const names = await eid(['names', '127.0.0.1', '--port', String(port)]);
    assert.deepEqual(names, {
      code: 0,
      stdout: `epmd: up and running on port ${port} with data:\nname cli_docs_kept at port 40123\n`,
      stderr: '',
    });
  } finally {
    await reg.close();
    await server.kill('SIGTERM');
  }
});

test(
  'eid epmd --relaxed-command-check (or ERL_EPMD_RELAXED_COMMAND_CHECK): epmd -stop and -kill with live nodes; without it, refused',
  T,
  async () => {
    const variants: { relaxed: boolean; args: string[]; env: Record<string, string> }[] = [
      { relaxed: false, args: [], env: {} },
      { relaxed: true, args: ['--relaxed-command-check'], env: {} },
      { relaxed: true, args: [], env: { ERL_EPMD_RELAXED_COMMAND_CHECK: '1' } },
    ];
    for (const { relaxed, args, env } of variants) {
      const what = JSON.stringify({ args, env });
      const { port, server } = await eidEpmd(args, false, env);
      const live = await epmdRegister('cli_docs_live', 40124, { epmdPort: port });
      const victim = await epmdRegister('cli_docs_victim', 40128, { epmdPort: port });
      const epmd = async (command: string[]) => {
        const run = f.spawn('epmd', ['-port', String(port), ...command]);
        return { code: (await run.exited).code, out: run.stdout + run.stderr };
      };
      try {
        const stop = await epmd(['-stop', 'cli_docs_victim']);
        const kill = await epmd(['-kill']);
        if (relaxed) {
          assert.deepEqual(stop, { code: 0, out: 'STOPPED\n' }, what);
          await victim.closed;
          assert.equal(kill.code, 0, `${what}: ${kill.out}`);
          assert.match(kill.out, /Killed/);
          assert.equal((await server.exited).code, 0, `${what}: eid epmd stops`);
        } else {
          assert.match(stop.out, /epmd: local epmd responded with <>/, what);
          assert.equal(kill.code, 1, what);
          assert.match(kill.out, /Killing not allowed - living nodes in database/);
          const names = await eid(['names', '127.0.0.1', '--port', String(port)]);
          assert.match(names.stdout, /name cli_docs_victim at port 40128/, 'the refused STOP left the node');
          assert.equal(server.child.exitCode, null, 'eid epmd still runs');
        }
      } finally {
        await live.close();
        await victim.close();
        await server.kill('SIGTERM');
      }
    }
  },
);

test('eid epmd --log-format json --log-level warn: JSON lines only, no info lines', T, async () => {
  const { port, server } = await eidEpmd(['--log-format', 'json', '--log-level', 'warn'], true);
  const reg = await epmdRegister('cli_docs_quiet', 40125, { epmdPort: port });
  await reg.close();
  // A registration refused (a duplicate) is a warning: it must appear, as JSON.
  const first = await epmdRegister('cli_docs_dup', 40126, { epmdPort: port });
  await assert.rejects(epmdRegister('cli_docs_dup', 40127, { epmdPort: port }));
  await waitFor(() => server.stderr.includes('registration refused'), 'the refusal warning', 15_000);
  await first.close();
  await server.kill('SIGTERM');
  const lines = server.stderr.split('\n').filter((l) => l !== '');
  const parsed = lines.map((l) => JSON.parse(l) as { level: string; msg: string });
  assert.ok(parsed.length > 0);
  assert.ok(
    parsed.every((l) => l.level === 'warn' || l.level === 'error'),
    lines.join('\n'),
  );
});

function open(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}
