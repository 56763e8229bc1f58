/**
 * `eid epmd`, `eid names` and `eid resolve` as users run them (bin/eid.js on the built dist/),
 * with a stock erl node using `eid epmd` as its EPMD.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnErlNode } from '../epmd/helpers.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';
import { Processes, eidBin, waitFor, type Spawned } from '../support/processes.ts';

const nextPort = portAllocator(PortSlices.epmd.cli);
const processes = new Processes();

after(() => processes.stopAll());

function eid(args: string[], env: Record<string, string> = {}): Spawned {
  return processes.spawn(process.execPath, [eidBin, ...args], env);
}

function eidRun(args: string[], env: Record<string, string> = {}) {
  return eid(args, env).outcome();
}

async function startEidEpmd(args: string[], env: Record<string, string> = {}): Promise<Spawned> {
  const server = eid(['epmd', '--log-format', 'pretty', ...args], env);
  await server.waitForOutput('epmd: listening', 20_000, 'stderr');
  return server;
}

test('eid epmd serves a stock node; eid names prints like epmd -names; eid resolve prints its port', async () => {
  const port = await nextPort();
  const distPort = await nextPort();
  const server = await startEidEpmd(['--port', String(port)]);
  const node = spawnErlNode(processes, {
    name: 'clinode',
    cookie: 'eid_cli_test',
    epmdPort: port,
    distPort,
    evalCode: 'io:format("up~n"), receive stop -> ok end.',
  });
  await node.waitForOutput('up');
  assert.match(
    server.stderr,
    new RegExp(`INFO  epmd: registered node=clinode port=${distPort} creation=\\d+`),
  );

  const ours = await eidRun(['names', '--port', String(port)]);
  const stock = processes.spawn('epmd', ['-port', String(port), '-names']);
  await stock.exited;
  assert.equal(ours.code, 0, ours.stderr);
  assert.equal(ours.stdout, stock.stdout, 'same text as epmd -names');
  assert.equal(
    ours.stdout,
    `epmd: up and running on port ${port} with data:\nname clinode at port ${distPort}\n`,
  );

  assert.deepEqual(await eidRun(['resolve', 'clinode@127.0.0.1', '--port', String(port)]), {
    code: 0,
    stdout: `${distPort}\n`,
    stderr: '',
  });
  const missing = await eidRun(['resolve', 'nobody@localhost', '--port', String(port)]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^eid resolve: no node 'nobody' registered at epmd on localhost\n$/);
  // A bare name is asked of localhost; a name with two @ is no node name (it used to be split at the last @).
  assert.deepEqual(await eidRun(['resolve', 'clinode', '--port', String(port)]), {
    code: 0,
    stdout: `${distPort}\n`,
    stderr: '',
  });
  const twoAts = await eidRun(['resolve', 'clinode@x@127.0.0.1', '--port', String(port)]);
  assert.equal(twoAts.code, 2);
  assert.match(twoAts.stderr, /^eid resolve: not a node name: 'clinode@x@127\.0\.0\.1'\n/);

  await node.kill();
  await waitFor(() => server.stderr.includes('epmd: unregistered node=clinode'), 'unregistration log');
  server.child.kill('SIGTERM');
  const { code } = await server.exited;
  assert.equal(code, 0);
  assert.match(server.stderr, /epmd: stopped/);
});

test('eid epmd honours ERL_EPMD_PORT and ERL_EPMD_ADDRESS (loopback always added, like epmd)', async () => {
  const port = await nextPort();
  const server = await startEidEpmd([], { ERL_EPMD_PORT: String(port), ERL_EPMD_ADDRESS: '127.0.0.1' });
  assert.match(
    server.stderr,
    new RegExp(`epmd: listening port=${port} addresses=\\["127\\.0\\.0\\.1","::1"\\]`),
  );
  const names = await eidRun(['names'], { ERL_EPMD_PORT: String(port) });
  assert.equal(names.stdout, `epmd: up and running on port ${port} with data:\n`);
  await server.kill();
});

test('eid epmd on a busy port, and usage mistakes, fail with one line', async () => {
  const port = await nextPort();
  const first = await startEidEpmd(['--port', String(port), '--address', '127.0.0.1']);
  const second = await eidRun(['epmd', '--port', String(port), '--address', '127.0.0.1']);
  assert.equal(second.code, 1);
  assert.match(second.stderr, /eid epmd: there is already an epmd running at port \d+/);
  await first.kill();

  const bad = await eidRun(['epmd', '--port', 'nope']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--port must be an integer/);
  const unreachable = await eidRun(['names', '--port', String(port)]);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /connection refused/);
  assert.equal((await eidRun(['resolve'])).code, 2);
});
