/**
 * No peer can crash a TypeScript node. The node runs in a child process with
 * `--unhandled-rejections=strict` (an unhandled rejection ends it) while a real OTP node calls
 * what JavaScript cannot answer in Erlang terms, names that are not exposed (Object.prototype's
 * among them), bad arities and huge arguments, and a raw peer sends atoms of 300 characters.
 * Afterwards the child must still be running and answering.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Fixture, COOKIE, distFrame, fragmentBody, handshakePeer, type ErlNode } from './helpers.ts';
import { PortSlices } from '../support/ports.ts';
import { waitFor, type Spawned } from '../support/processes.ts';
import type { Node } from '../../src/distribution/node.ts';
import { ControlOp } from '../../src/distribution/control.ts';
import { HeaderTag } from '../../src/distribution/header.ts';
import { encode } from '../../src/etf/index.ts';
import { formatTerm } from '../../src/etf/format.ts';
import { atom, Pid, Tuple, tuple, type Term } from '../../src/etf/terms.ts';
import { termEquals } from '../../src/etf/equals.ts';
import { Tag } from '../../src/etf/tags.ts';
import { createLogger } from '../../src/log.ts';

const f = new Fixture(PortSlices.distribution.hostile);
const T = { timeout: 120_000 };
const CHILD = 'hostile_ts@127.0.0.1';
let erl: ErlNode;
let driver: Node;
let child: Spawned;
let childPort = 0;

before(async () => {
  await f.startEpmd();
  erl = await f.startErl('hostile_otp');
  driver = await f.startNode('hostile_driver');
  const script = fileURLToPath(new URL('./hostile-node.ts', import.meta.url));
  const tsx = import.meta.resolve('tsx');
  childPort = await f.nextPort();
  child = f.spawn(process.execPath, [
    '--unhandled-rejections=strict',
    '--import',
    tsx,
    script,
    CHILD,
    String(childPort),
    String(f.epmdPort),
    COOKIE,
  ]);
  await child.waitForOutput('READY', 60_000);
});

after(async () => {
  await f.cleanup();
});

const show = (t: Term) => formatTerm(t);
const onErl = (src: string) => erl.eval(driver, src, {}, 60_000);

function assertAlive(): void {
  assert.equal(child.child.exitCode, null, `the child node exited: ${child.stderr}`);
  assert.equal(child.child.signalCode, null, `the child node was killed: ${child.stderr}`);
}

/** `{badrpc, {'EXIT', {Error, _}}}` with Error's first element (or Error itself) being `what`. */
function assertBadRpc(result: Term, what: string): void {
  const text = show(result);
  assert.ok(
    text.startsWith(`{badrpc,{'EXIT',{${what}`) || text.startsWith(`{badrpc,{'EXIT',{{${what}`),
    text,
  );
}

describe('a TS node in its own process survives hostile peers', () => {
  test('a function that returns undefined returns the atom undefined, by rpc, erpc and rex', T, async () => {
    assert.equal(await onErl(`rpc:call('${CHILD}', greeter, nothing, [])`), atom('undefined'));
    assert.equal(await onErl(`erpc:call('${CHILD}', greeter, nothing, [])`), atom('undefined'));
    assert.equal(
      await onErl(`gen_server:call({rex, '${CHILD}'}, {call, greeter, nothing, [], group_leader()})`),
      atom('undefined'),
    );
    assertAlive();
  });

  test(
    'results and exit reasons with no Erlang term are errors for the caller, never silence',
    T,
    async () => {
      for (const fn of ['nested_undefined', 'null_value', 'a_function', 'a_symbol', 'exit_nan']) {
        assertBadRpc(await onErl(`rpc:call('${CHILD}', greeter, ${fn}, [], 30000)`), 'js_error');
        const viaErpc = await onErl(
          `try erpc:call('${CHILD}', greeter, ${fn}, [], 30000) catch error:{exception, {js_error, Msg}, _} -> {js_error, Msg} end`,
        );
        assert.ok(viaErpc instanceof Tuple && viaErpc.elements[0] === atom('js_error'), show(viaErpc));
        const why = fn === 'exit_nan' ? /exit reason has no Erlang term/ : /result has no Erlang term/;
        assert.match(Buffer.from(viaErpc.elements[1] as Uint8Array).toString(), why);
      }
      // A rejection with nothing at all is an error like any other.
      assertBadRpc(await onErl(`rpc:call('${CHILD}', greeter, rejects_with_nothing, [], 30000)`), 'js_error');
      assertAlive();
    },
  );

  test('only own exposed functions are callable: Object.prototype names are undef', T, async () => {
    for (const fn of ['constructor', 'toString', "'__proto__'", 'hasOwnProperty', 'valueOf']) {
      assertBadRpc(await onErl(`rpc:call('${CHILD}', greeter, ${fn}, [1], 30000)`), 'undef');
      assert.equal(
        await onErl(
          `try erpc:call('${CHILD}', greeter, ${fn}, [1], 30000) catch error:{exception, undef, _} -> undef end`,
        ),
        atom('undef'),
      );
      // Nothing exposed under a prototype name as a module either.
      assertBadRpc(await onErl(`rpc:call('${CHILD}', ${fn}, ${fn}, [], 30000)`), 'undef');
    }
    assertBadRpc(await onErl(`rpc:call('${CHILD}', nobody, here, [], 30000)`), 'undef');
    assertAlive();
  });

  test('casts of the same, bad arities, malformed rex requests and huge arguments', T, async () => {
    await onErl(
      `[rpc:cast('${CHILD}', greeter, F, []) || F <- [nothing, nested_undefined, a_symbol, constructor, exit_nan]], ok`,
    );
    await onErl(
      `[erpc:cast('${CHILD}', greeter, F, []) || F <- [nothing, nested_undefined, a_symbol, constructor, exit_nan]], ok`,
    );
    // JavaScript functions take any number of arguments.
    assert.ok(Buffer.isBuffer(await onErl(`rpc:call('${CHILD}', greeter, hello, [], 30000)`)));
    assert.ok(Buffer.isBuffer(await onErl(`rpc:call('${CHILD}', greeter, hello, [a, b, c, d], 30000)`)));
    // A request rex cannot apply is {badrpc, {'EXIT', {badarg, _}}}, as apply/3 would fail.
    assertBadRpc(
      await onErl(
        `gen_server:call({rex, '${CHILD}'}, {call, greeter, hello, not_a_list, group_leader()}, 30000)`,
      ),
      'badarg',
    );
    assertBadRpc(
      await onErl(`gen_server:call({rex, '${CHILD}'}, {call, <<"m">>, 42, [], group_leader()}, 30000)`),
      'badarg',
    );
    const big = (await onErl(
      `byte_size(rpc:call('${CHILD}', greeter, hello, [binary:copy(<<"x">>, 4000000)], 60000))`,
    )) as number;
    assert.ok(big > 0);
    const long = await onErl(`rpc:call('${CHILD}', greeter, nothing, [lists:seq(1, 300000)], 60000)`);
    assert.equal(long, atom('undefined'));
    assertAlive();
  });

  test('atoms of 300 characters, cached or inline, close only that connection', T, async () => {
    const name = 'a'.repeat(300);
    const control = encode(tuple(ControlOp.REG_SEND, atom('x'), atom(''), atom('rex')), {
      versionByte: false,
    });
    // A rex call whose module is a placeholder atom, then swapped for the long one.
    const call = (from: string) =>
      tuple(new Pid(atom(from), 1, 0, 1), tuple(atom('call'), atom('BIG'), atom('f'), [], atom('gl')));
    const placeholder = Buffer.from([Tag.SmallAtomUtf8, 3, ...Buffer.from('BIG')]);
    const long = Buffer.from([name.length >> 8, name.length & 0xff, ...Buffer.from(name)]);
    const bodies = [
      // A new atom cache entry of 300 bytes (LongAtoms: 2-byte lengths): the module of the call.
      (from: string) =>
        Buffer.concat([
          Buffer.from([HeaderTag.VERSION, HeaderTag.NORMAL, 1, 0x08 | (0x01 << 4), 0]),
          long,
          control,
          encode(call(from), { versionByte: false, atomCache: (a) => (a.name === 'BIG' ? 0 : undefined) }),
        ]),
      // ATOM_UTF8_EXT inline in the payload.
      (from: string) => {
        const payload = encode(call(from), { versionByte: false });
        const at = payload.indexOf(placeholder);
        return Buffer.concat([
          Buffer.from([HeaderTag.VERSION, HeaderTag.NORMAL, 0]),
          control,
          payload.subarray(0, at),
          Buffer.from([Tag.AtomUtf8]),
          long,
          payload.subarray(at + placeholder.length),
        ]);
      },
    ];
    for (const [i, body] of bodies.entries()) {
      const from = `raw${i}@127.0.0.1`;
      const peer = await handshakePeer({ name: CHILD, port: childPort }, from);
      peer.socket.write(distFrame(body(from)));
      await peer.closed;
    }
    assertAlive();
  });

  test('afterwards the node still answers rpc and ping', T, async () => {
    assertAlive();
    const hello = await onErl(`rpc:call('${CHILD}', greeter, hello, [world], 30000)`);
    assert.equal(Buffer.from(hello as Uint8Array).toString(), 'hello world');
    assert.equal(await onErl(`net_adm:ping('${CHILD}')`), atom('pong'));
    assert.equal(await driver.ping(CHILD), true);
  });
});

describe('peers together cannot make the node hold more than limits.maxInboundBytes', () => {
  const MiB = 1024 * 1024;
  const lines: string[] = [];
  let node: Node;

  before(async () => {
    node = await f.startNode('hostile_inbound', {
      limits: { maxFrame: 4 * MiB, maxReassemblyBytes: 4 * MiB, maxInboundBytes: 10 * MiB },
      logger: createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(l) }),
    });
    assert.equal(await node.ping(erl.name), true);
  });

  type Peer = Awaited<ReturnType<typeof handshakePeer>> & { name: string };

  /** A frame prefix declaring `declared` bytes, and the first `sent` of them. */
  const partialFrame = (declared: number, sent: number) => {
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(declared);
    return Buffer.concat([prefix, Buffer.alloc(sent)]);
  };
  const closedWith = (code: string, peer: string) =>
    waitFor(
      () => lines.some((l) => l.includes(code) && l.includes(peer)),
      `${peer} closed with ${code}`,
      30_000,
    );

  test(
    'large frames and fragment floods from several peers at once: the one past the limit is closed, the rest keep working',
    T,
    async () => {
      const peers = await Promise.all(
        ['held1', 'held2', 'frame3', 'flood4'].map(async (alive) => {
          const name = `${alive}@127.0.0.1`;
          return { name, ...(await handshakePeer(node, name)) };
        }),
      );
      const [held1, held2, frame3, flood4] = peers as [Peer, Peer, Peer, Peer];
      // Two peers each start a 4 MiB frame and stop after 1 MiB: 8 MiB of the 10 are taken.
      held1.socket.write(partialFrame(4 * MiB, MiB));
      held2.socket.write(partialFrame(4 * MiB, MiB));
      await waitFor(() => node.inboundBytes === 8 * MiB, '8 MiB held', 30_000);
      // A third frame of 4 MiB, within every per-connection limit, does not fit the node's.
      frame3.socket.write(partialFrame(4 * MiB, 16));
      await frame3.closed;
      await closedWith('DIST_INBOUND_LIMIT', frame3.name);
      // Fragments of a message never finished: past 2 MiB, not the connection's 4 MiB.
      const chunk = Buffer.alloc(60 * 1024);
      const flood = [distFrame(fragmentBody(HeaderTag.FRAGMENT_FIRST, 1, 1000, chunk))];
      for (let id = 999; id > 940; id--)
        flood.push(distFrame(fragmentBody(HeaderTag.FRAGMENT_NEXT, 1, id, chunk)));
      flood4.socket.write(Buffer.concat(flood));
      await flood4.closed;
      await closedWith('DIST_INBOUND_LIMIT', flood4.name);
      // The holders and the real OTP node are still connected; the OTP node still gets answers.
      assert.ok(node.nodes().includes(held1.name) && node.nodes().includes(held2.name));
      assert.equal(await node.rpc(erl.name, 'erlang', 'node', []), atom(erl.name));
      assert.equal(await erl.eval(node, `net_adm:ping('${node.name}')`), atom('pong'));
      // Closed connections give their share back.
      held1.socket.destroy();
      held2.socket.destroy();
      await waitFor(() => node.inboundBytes === 0, 'nothing held', 30_000);
      const again = await handshakePeer(node, 'again@127.0.0.1');
      again.socket.write(partialFrame(4 * MiB, MiB));
      await waitFor(() => node.inboundBytes === 4 * MiB, 'a new peer holding 4 MiB', 30_000);
      again.socket.destroy();
      await waitFor(() => node.inboundBytes === 0, 'nothing held', 30_000);
    },
  );
});

describe('logs: peer text is escaped, failed handshakes are summarised', () => {
  test(
    'twenty handshakes with a wrong cookie and ESC and CSI in the name: one warning at once, one summary, no raw control characters',
    T,
    async () => {
      const lines: string[] = [];
      const node = await f.startNode('hostile_logs', {
        logger: createLogger({ level: 'warn', format: 'pretty', write: (l) => lines.push(l) }),
      });
      const name = 'evil\u001b[2J\u009b31m@127.0.0.1';
      for (let i = 0; i < 20; i++) {
        await assert.rejects(handshakePeer(node, name, 'not-the-cookie'), /closed during handshake/);
      }
      await waitFor(() => lines.length >= 1, 'the first failure logged', 30_000);
      await node.stop();
      const text = lines.join('\n');
      // Control characters other than the newlines joining the lines: none.
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/u, text);
      assert.match(text, /evil\\u001b\[2J\\u009b31m@127\.0\.0\.1/);
      assert.equal(lines.length, 2, text);
      assert.match(lines[0]!, /WARN +distribution handshake failed .*DIST_HANDSHAKE_BAD_COOKIE/);
      assert.match(
        lines[1]!,
        /WARN +distribution handshakes failed reasons=\{"DIST_HANDSHAKE_BAD_COOKIE":19\}/,
      );
    },
  );
});

describe('global: the tables a peer fills are bounded, registrar funs are refused', () => {
  test(
    'a real OTP node registering more names and locking more resources than the limits: the rest is refused and logged once',
    T,
    async () => {
      const lines: string[] = [];
      const node = await f.startNode('hostile_global', {
        limits: { globalNames: 20, globalLocks: 10 },
        logger: createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(l) }),
      });
      const ts = `'${node.name}'`;
      assert.equal(await onErlVia(node, `net_kernel:connect_node(${ts}), global:sync()`), atom('ok'));
      // OTP's register_name decides on the registering node: every one is yes there.
      const registered = await onErlVia(
        node,
        `[global:register_name(list_to_atom("eid_g" ++ integer_to_list(I)), spawn(fun() -> receive stop -> ok end end))
          || I <- lists:seq(1, 30)]`,
      );
      assert.deepEqual(registered, Array<Term>(30).fill(atom('yes')));
      // Locks on the TS node alone: ten resources, then refused as a lock held elsewhere is.
      const locks = await onErlVia(
        node,
        `[global:set_lock({{eid_res, I}, self()}, [${ts}], 0) || I <- lists:seq(1, 15)]`,
      );
      assert.deepEqual(locks, [...Array<boolean>(10).fill(true), ...Array<boolean>(5).fill(false)]);
      // {registrar, Fun} would run Fun: refused, never run.
      const registrar = await onErlVia(
        node,
        `gen_server:call({global_name_server, ${ts}}, {registrar, fun() -> erlang:halt() end})`,
      );
      assert.ok(termEquals(registrar, tuple(atom('error'), atom('not_allowed'))), show(registrar));
      // global still works in the cluster, and the TS node is still in it.
      assert.ok((await onErlVia(node, 'global:whereis_name(eid_g30)')) instanceof Pid);
      assert.ok(node.nodes().includes(erl.name));
      await node.stop();
      const refused = lines.filter((l) => l.includes('global: request'));
      assert.equal(
        refused.filter((l) => l.includes('"msg":"global: request refused"')).length,
        3,
        refused.join('\n'),
      );
      const summary = JSON.parse(refused.find((l) => l.includes('global: requests refused'))!) as {
        reasons: Record<string, number>;
      };
      assert.deepEqual(summary.reasons, { 'name table full': 9, 'lock table full': 4 });
    },
  );
});

/** Evaluates on the OTP node through `node` (the node the test is about). */
function onErlVia(node: Node, src: string): Promise<Term> {
  return erl.eval(node, src, {}, 60_000);
}
