/**
 * Proof against stock OTP: `erl` nodes register with our server and reach each other; the stock
 * `epmd` binary and net_adm:names/1 work against it; our client works against a stock `epmd`;
 * and malformed requests get the same answer from our server as from stock epmd.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EpmdServer } from '../../src/epmd/server.ts';
import { epmdNames, epmdPortPlease, epmdRegister } from '../../src/epmd/client.ts';
import { EpmdError } from '../../src/errors.ts';
import {
  exchange,
  malformedRequests,
  nonLoopbackAddress,
  spawnErlNode,
  trailingByteRequest,
  unknownNameRequests,
} from './helpers.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';
import { Processes, startStockEpmd, waitFor } from '../support/processes.ts';

const nextPort = portAllocator(PortSlices.epmd.otp);
const processes = new Processes();
const servers: EpmdServer[] = [];

after(async () => {
  await processes.stopAll();
  await Promise.all(servers.map((s) => s.close()));
});

async function startServer(relaxedCommandCheck = false): Promise<EpmdServer> {
  const server = new EpmdServer({ port: await nextPort(), relaxedCommandCheck });
  servers.push(server);
  await server.listen();
  return server;
}

const COOKIE = 'eid_epmd_test';

/** A stock node `name@127.0.0.1` using the EPMD on `epmdPort`, running `evalCode`. */
async function startNode(name: string, epmdPort: number, evalCode: string) {
  const distPort = await nextPort();
  const node = spawnErlNode(processes, { name, cookie: COOKIE, epmdPort, distPort, evalCode });
  return { node, distPort };
}

/** Runs `erl -noshell -eval` without distribution and returns its output. */
async function erlEval(code: string, epmdPort: number): Promise<string> {
  const run = processes.spawn('erl', ['-noshell', '-eval', code], { ERL_EPMD_PORT: String(epmdPort) });
  const { code: exit } = await run.exited;
  assert.equal(exit, 0, run.stderr + run.stdout);
  return run.stdout;
}

/** Runs the stock epmd binary as a client against `port`. */
async function epmdCli(port: number, args: string[]): Promise<{ code: number | null; stdout: string }> {
  const run = processes.spawn('epmd', ['-port', String(port), ...args]);
  const { code } = await run.exited;
  return { code, stdout: run.stdout + run.stderr };
}

describe('stock erl nodes with our server as their EPMD', () => {
  test('register, see their creation, ping and message each other; dead nodes unregister; duplicates refused', async () => {
    const server = await startServer();
    const echo = await startNode(
      'echo',
      server.port,
      'io:format("creation ~p~n", [erlang:system_info(creation)]), register(echo, self()), ' +
        'Loop = fun L() -> receive {From, Msg} -> From ! {echoed, node(), Msg}, L() end end, Loop().',
    );
    await echo.node.waitForOutput('creation ');
    const creation = Number(/creation (\d+)/.exec(echo.node.stdout)![1]);
    const registered = server.registered().find((n) => n.name === 'echo');
    assert.ok(registered, 'echo is registered');
    assert.equal(registered.creation, creation, 'the node uses the creation our server gave it');
    assert.equal(registered.port, echo.distPort);
    assert.equal(registered.highestVersion, 6);

    const caller = await startNode(
      'caller',
      server.port,
      'Echo = \'echo@127.0.0.1\', io:format("ping ~p~n", [net_adm:ping(Echo)]), ' +
        '{echo, Echo} ! {self(), <<"hello">>}, ' +
        'receive {echoed, N, M} -> io:format("reply ~p ~p~n", [N, M]) after 10000 -> io:format("no reply~n") end, ' +
        'halt().',
    );
    const { code } = await caller.node.exited;
    assert.equal(code, 0, caller.node.stderr);
    assert.match(caller.node.stdout, /ping pong/);
    assert.match(caller.node.stdout, /reply 'echo@127.0.0.1' <<"hello">>/);

    const duplicate = await startNode('echo', server.port, 'io:format("started~n"), halt().');
    const dup = await duplicate.node.exited;
    assert.notEqual(dup.code, 0, 'a second node with a live name does not start');
    assert.match(
      duplicate.node.stdout + duplicate.node.stderr,
      /the name echo@127\.0\.0\.1 seems to be in use/,
    );
    assert.equal(
      server.registered().find((n) => n.name === 'echo')?.creation,
      creation,
      'the first keeps its name',
    );

    await echo.node.kill();
    await waitFor(() => !server.registered().some((n) => n.name === 'echo'), 'the dead node to unregister');
    await assert.rejects(epmdPortPlease('echo', '127.0.0.1', { epmdPort: server.port }), (err: EpmdError) => {
      assert.equal(err.code, 'EPMD_NOT_REGISTERED');
      return true;
    });

    // The name is free again, with a new creation.
    const again = await startNode(
      'echo',
      server.port,
      'io:format("creation ~p~n", [erlang:system_info(creation)]).',
    );
    await again.node.waitForOutput('creation ');
    const second = Number(/creation (\d+)/.exec(again.node.stdout)![1]);
    assert.notEqual(second, creation);
    await again.node.kill();
  });

  test("net_adm:names/1 lists our server's nodes", async () => {
    const server = await startServer();
    const reg = await epmdRegister('listed', 43998, { epmdPort: server.port });
    const out = await erlEval('io:format("~p~n", [net_adm:names("127.0.0.1")]), halt().', server.port);
    assert.equal(out.trim(), '{ok,[{"listed",43998}]}');
    await reg.close();
  });
});

describe('the stock epmd binary as a client of our server', () => {
  test('-names, and -kill / -stop refused without relaxed command check, exactly as stock epmd answers', async () => {
    const ours = await startServer();
    const stock = await nextPort();
    await startStockEpmd(processes, stock);
    const regs = await Promise.all([
      epmdRegister('live', 43997, { epmdPort: ours.port }),
      epmdRegister('live', 43997, { epmdPort: stock }),
    ]);
    const normalise = (s: string, port: number) => s.replaceAll(String(port), 'PORT');
    for (const args of [['-names'], ['-kill'], ['-stop', 'live']]) {
      const [a, b] = await Promise.all([epmdCli(ours.port, args), epmdCli(stock, args)]);
      assert.deepEqual(
        { code: a.code, stdout: normalise(a.stdout, ours.port) },
        { code: b.code, stdout: normalise(b.stdout, stock) },
        `epmd ${args.join(' ')}`,
      );
    }
    assert.match((await epmdCli(ours.port, ['-names'])).stdout, /name live at port 43997/);
    assert.deepEqual((await epmdPortPlease('live', '127.0.0.1', { epmdPort: ours.port })).port, 43997);
    await Promise.all(regs.map((r) => r.close()));
  });

  test('with relaxed command check: -stop unregisters (STOPPED / NOEXIST), -kill stops the server', async () => {
    const server = await startServer(true);
    const reg = await epmdRegister('victim', 43996, { epmdPort: server.port });
    assert.deepEqual(await epmdCli(server.port, ['-stop', 'victim']), { code: 0, stdout: 'STOPPED\n' });
    await reg.closed;
    assert.equal(server.registered().length, 0);
    assert.deepEqual(await epmdCli(server.port, ['-stop', 'victim']), { code: 0, stdout: 'NOEXIST\n' });
    await epmdRegister('alive', 43995, { epmdPort: server.port });
    assert.deepEqual(await epmdCli(server.port, ['-kill']), { code: 0, stdout: 'Killed\n' });
    await server.closed;
    await assert.rejects(epmdNames('127.0.0.1', { epmdPort: server.port }), (err: EpmdError) => {
      assert.equal(err.code, 'EPMD_REFUSED');
      return true;
    });
  });
});

describe('our client against a stock epmd', () => {
  test('register, look up, names, duplicate refused, unregister on close', async () => {
    const port = await nextPort();
    await startStockEpmd(processes, port);
    const reg = await epmdRegister('tsnode', 43994, { epmdPort: port, extra: Uint8Array.of(7) });
    assert.ok(reg.creation >= 4);
    assert.deepEqual(await epmdPortPlease('tsnode', 'localhost', { epmdPort: port }), {
      name: 'tsnode',
      port: 43994,
      nodeType: 77,
      protocol: 0,
      highestVersion: 6,
      lowestVersion: 5,
      extra: Uint8Array.of(7),
    });
    assert.deepEqual(await epmdNames('127.0.0.1', { epmdPort: port }), {
      epmdPort: port,
      nodes: [{ name: 'tsnode', port: 43994 }],
    });
    await assert.rejects(epmdRegister('tsnode', 43993, { epmdPort: port }), (err: EpmdError) => {
      assert.equal(err.code, 'EPMD_DUPLICATE_NAME');
      return true;
    });
    await reg.close();
    await waitFor(
      () => epmdNames('127.0.0.1', { epmdPort: port }).then((r) => r.nodes.length === 0),
      'stock epmd to drop the name',
    );
    const again = await epmdRegister('tsnode', 43994, { epmdPort: port });
    assert.equal(again.creation, reg.creation + 1, 'stock epmd bumps the creation');
    await again.close();
    await assert.rejects(epmdPortPlease('nobody', '127.0.0.1', { epmdPort: port }), (err: EpmdError) => {
      assert.equal(err.code, 'EPMD_NOT_REGISTERED');
      assert.equal(err.peer, `127.0.0.1:${port}`);
      return true;
    });
  });
});

describe('requests from a non-local peer: our server answers as stock epmd does', () => {
  test('ALIVE2, DUMP, KILL and STOP are refused with a close; PORT_PLEASE2 and NAMES are answered', async () => {
    const ours = await startServer(true);
    const stock = await nextPort();
    await startStockEpmd(processes, stock, ['-relaxed_command_check']);
    const regs = await Promise.all([
      epmdRegister('here', 43990, { epmdPort: ours.port }),
      epmdRegister('here', 43990, { epmdPort: stock }),
    ]);
    const localAddress = nonLoopbackAddress();
    const requests = {
      ALIVE2_REQ: '0011 78 0010 4d 00 0006 0005 0004 666f6f6f 0000',
      PORT_PLEASE2_REQ: '0005 7a 68657265',
      DUMP_REQ: '0001 64',
      KILL_REQ: '0001 6b',
      STOP_REQ: '0005 73 68657265',
    };
    const outcomes: Record<string, unknown> = {};
    for (const [what, hex] of Object.entries(requests)) {
      const bytes = Buffer.from(hex.replace(/ /g, ''), 'hex');
      const [a, b] = await Promise.all([
        exchange(ours.port, [bytes], { localAddress }),
        exchange(stock, [bytes], { localAddress }),
      ]);
      assert.deepEqual(a, b, what);
      outcomes[what] = a;
    }
    assert.deepEqual(outcomes, {
      ALIVE2_REQ: { reply: '', closed: true },
      PORT_PLEASE2_REQ: { reply: '7700abd64d00000600050004686572650000', closed: true },
      DUMP_REQ: { reply: '', closed: true },
      KILL_REQ: { reply: '', closed: true },
      STOP_REQ: { reply: '', closed: true },
    });
    const remoteNames = await exchange(ours.port, [Buffer.from('00016e', 'hex')], { localAddress });
    assert.equal(Buffer.from(remoteNames.reply, 'hex').subarray(4).toString(), 'name here at port 43990\n');
    assert.ok(
      ours.registered().some((n) => n.name === 'here'),
      'a remote STOP does not unregister',
    );
    await Promise.all(regs.map((r) => r.close()));
  });
});

describe('malformed requests: our server answers as stock epmd does', () => {
  test('each request gets the same reply (or close) from both', async () => {
    const ours = await startServer();
    const stock = await nextPort();
    await startStockEpmd(processes, stock);
    for (const c of [...malformedRequests, ...unknownNameRequests]) {
      const settleMs = 'epmdKeepsOpen' in c ? 1000 : 10_000;
      const [a, b] = await Promise.all([
        exchange(ours.port, [c.bytes], { settleMs }),
        exchange(stock, [c.bytes], { settleMs }),
      ]);
      assert.equal(a.reply, c.reply, `${c.name}: our reply`);
      assert.equal(b.reply, c.reply, `${c.name}: stock epmd's reply`);
      assert.equal(a.closed, true, `${c.name}: we close`);
      assert.equal(b.closed, !('epmdKeepsOpen' in c), `${c.name}: stock epmd closes`);
    }
    const [a, b] = await Promise.all([
      exchange(ours.port, [trailingByteRequest]),
      exchange(stock, [trailingByteRequest]),
    ]);
    assert.deepEqual(a, { reply: '', closed: true }, 'more bytes than declared: we close');
    assert.deepEqual(b, a, 'more bytes than declared: stock epmd closes too');
  });
});
