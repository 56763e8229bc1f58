/**
 * The TypeScript node against stock OTP 25 nodes started here: connecting both ways, cookies,
 * terms both ways, rpc/erpc/gen_server calls both ways, links and monitors, node failures.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { COOKIE, Fixture, erlDistArgs, run, type ErlNode } from './helpers.ts';
import { PortSlices } from '../support/ports.ts';
import { waitFor } from '../support/processes.ts';
import { BadRpcError, CallError } from '../../src/distribution/errors.ts';
import type { Node } from '../../src/distribution/node.ts';
import { DEFAULT_FRAGMENT_SIZE, SPLICE_BINARY_BYTES } from '../../src/distribution/header.ts';
import { StaticResolver } from '../../src/distribution/resolver.ts';
import type { Process } from '../../src/distribution/process.ts';
import { formatTerm } from '../../src/etf/format.ts';
import { DistError } from '../../src/errors.ts';
import { termEquals } from '../../src/etf/index.ts';
import { createLogger } from '../../src/log.ts';
import { atom, Atom, ExportFun, ImproperList, Pid, Tuple, tuple, type Term } from '../../src/etf/terms.ts';

const f = new Fixture(PortSlices.distribution.otp);
let erl: ErlNode;
let ts: Node;

before(async () => {
  await f.startEpmd();
  erl = await f.startErl('otp_a', { ticktime: 4 });
  ts = await f.startNode('ts_a', {
    netTicktime: 4,
  });
});

after(async () => {
  await f.cleanup();
});

function isTuple(m: Term, first: string, size?: number): boolean {
  return (
    m instanceof Tuple &&
    m.elements[0] instanceof Atom &&
    m.elements[0].name === first &&
    (size === undefined || m.length === size)
  );
}

describe('connecting', () => {
  test('TS pings OTP and OTP pings TS (net_adm:ping gets pong)', { timeout: 60_000 }, async () => {
    // Its own TS node: the exact nodes() list must not depend on what other tests connected.
    const node = await f.startNode('ts_ping');
    assert.deepEqual(node.nodes(), []);
    assert.equal(await node.ping(erl.name), true);
    assert.deepEqual(node.nodes(), [erl.name]);
    assert.equal(await erl.eval(node, `net_adm:ping('${node.name}')`), atom('pong'));
    const seen = (await erl.eval(node, 'nodes()')) as Atom[];
    assert.ok(
      seen.some((n) => n.name === node.name),
      'OTP lists the TS node as a visible node',
    );
    await node.stop();
  });

  test('OTP connects to TS first (the TS node accepts)', { timeout: 60_000 }, async () => {
    const other = await f.startNode('ts_accept');
    const up = new Promise<string>((resolve) => other.once('nodeup', (n) => resolve(n)));
    assert.equal(await erl.eval(ts, `net_adm:ping('${other.name}')`), atom('pong'));
    assert.equal(await up, erl.name);
    assert.deepEqual(other.nodes(), [erl.name]);
    await other.stop();
  });

  test(
    'an OTP node with a dynamic name (-name undefined@host) is named by the TS node',
    { timeout: 60_000 },
    async () => {
      const port = await f.nextPort();
      const dynamic = f.spawn(
        'erl',
        [
          ...erlDistArgs('-name', 'undefined@127.0.0.1', COOKIE, port),
          '-eval',
          `R = net_kernel:connect_node('${ts.name}'), io:format("~p ~p~n", [R, node()]), halt().`,
        ],
        { ERL_EPMD_PORT: String(f.epmdPort) },
      );
      await dynamic.exited;
      const [connected, name] = dynamic.stdout.trim().split(' ');
      assert.equal(connected, 'true', dynamic.stdout + dynamic.stderr);
      assert.match(name ?? '', /^'js[0-9a-z]+@127\.0\.0\.1'$/);
    },
  );

  test(
    'short names: a TS node named `name` reaches an OTP node started with -sname',
    { timeout: 60_000 },
    async () => {
      const short = await f.startErl('otp_short', { nameFlag: '-sname' });
      const node = await f.startNode('unused', { name: 'ts_short' });
      assert.equal(node.name, `ts_short@${hostname().split('.')[0]!}`);
      assert.equal(short.name, `otp_short@${hostname().split('.')[0]!}`);
      assert.equal(await node.ping(short.name), true);
      assert.equal(await short.eval(node, `net_adm:ping('${node.name}')`), atom('pong'));
      await node.stop();
      await short.proc.kill();
    },
  );

  test('a static resolver table finds the OTP node without EPMD', { timeout: 60_000 }, async () => {
    const node = await f.startNode('ts_static', {
      epmd: { register: false },
      resolver: new StaticResolver({ [erl.name]: { host: '127.0.0.1', port: erl.port } }),
    });
    assert.equal(await node.ping(erl.name), true);
    await assert.rejects(
      node.connect('unknown@127.0.0.1'),
      (e: unknown) => e instanceof DistError && e.code === 'DIST_UNKNOWN_NODE',
    );
    await node.stop();
  });

  test('a hidden TS node: OTP lists it in nodes(hidden), not nodes()', { timeout: 60_000 }, async () => {
    const hidden = await f.startNode('ts_hidden', { hidden: true });
    assert.equal(await hidden.ping(erl.name), true);
    const visible = ((await erl.eval(ts, 'nodes()')) as Atom[]).map((n) => n.name);
    const hiddenOnes = ((await erl.eval(ts, 'nodes(hidden)')) as Atom[]).map((n) => n.name);
    assert.ok(!visible.includes(hidden.name));
    assert.ok(hiddenOnes.includes(hidden.name));
    assert.deepEqual(hidden.nodes(), []);
    assert.deepEqual(hidden.nodes('hidden'), [erl.name]);
    await hidden.stop();
  });

  test('a wrong cookie is refused both ways with a clear error', { timeout: 60_000 }, async () => {
    const wrong = await f.startNode('ts_wrong', { cookie: 'not-the-cookie' });
    assert.equal(await wrong.ping(erl.name), false);
    await assert.rejects(wrong.connect(erl.name), (err: unknown) => {
      assert.ok(err instanceof DistError);
      assert.equal(err.code, 'DIST_HANDSHAKE_REJECTED');
      assert.match(err.message, /cookies differ/);
      return true;
    });
    assert.equal(await erl.eval(ts, `net_adm:ping('${wrong.name}')`), atom('pang'));
    assert.deepEqual(wrong.nodes(), []);
    await wrong.stop();
  });

  test('OTP is told why: the TS node logs a bad cookie from an OTP node', { timeout: 60_000 }, async () => {
    const lines: string[] = [];
    const strict = await f.startNode('ts_strict', {
      cookie: 'other',
      logger: createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(l) }),
    });
    assert.equal(await erl.eval(ts, `net_adm:ping('${strict.name}')`), atom('pang'));
    await waitFor(
      () => lines.some((l) => l.includes('DIST_HANDSHAKE_BAD_COOKIE')),
      'bad cookie log line',
      5000,
    );
    await strict.stop();
  });

  test('simultaneous connects from both sides settle on one connection', { timeout: 60_000 }, async () => {
    for (let round = 0; round < 5; round++) {
      const a = await f.startNode(`ts_sim${round}`);
      // Both sides dial at once: OTP from a spawned process, TS right away.
      const otp = erl.eval(ts, `spawn(fun() -> net_kernel:connect_node('${a.name}') end), ok`);
      const [tsUp] = await Promise.all([a.connect(erl.name).then(() => true), otp]);
      assert.equal(tsUp, true);
      await waitFor(async () => {
        const seen = (await erl.eval(ts, `[N || N <- nodes(), N =:= '${a.name}']`)) as Atom[];
        return seen.length === 1 && a.nodes().length === 1;
      }, 'one connection each way');
      assert.equal(await a.ping(erl.name), true);
      assert.equal(await erl.eval(ts, `net_adm:ping('${a.name}')`), atom('pong'));
      await a.stop();
    }
  });
});

describe('terms survive a trip through the distribution', () => {
  let echo: Process;

  before(() => {
    echo = ts.spawn(async (self) => {
      for (;;) {
        const m = await self.receive();
        if (m instanceof Tuple && m.length === 2 && m.elements[0] instanceof Pid)
          self.send(m.elements[0], m.elements[1] as Term);
      }
    });
    ts.register('echo', echo);
  });

  // The Erlang echo server of the tests that send from TypeScript (stateless: it only answers).
  before(async () => {
    await erl.eval(
      ts,
      `register(erl_echo, spawn(fun Loop() -> receive {From, T} -> From ! T, Loop() end end)), ok`,
    );
  });

  const erlangTerms = [
    'self()',
    'make_ref()',
    'hd(erlang:ports())',
    'fun erlang:node/0',
    'fun(X) -> X + 1 end',
    '1 bsl 200',
    '-(1 bsl 70)',
    '12345678901234567890',
    '3.14',
    '1.0',
    '-0.0',
    "'atom'",
    "'åtöm_ünïcode_☃'",
    '"a string"',
    '[1, 2 | improper]',
    '<<1, 2, 3>>',
    '<<1:3>>',
    '#{a => 1, <<"b">> => [x], {c} => #{}}',
    '{}',
    '[]',
    '{tuple, [list, {nested, #{k => v}}], <<"bin">>}',
    'list_to_tuple(lists:seq(1, 300))',
    'lists:seq(1, 1000)',
    'binary:copy(<<"0123456789">>, 1024 * 1024)',
  ];

  test(
    'every term kind from Erlang comes back equal (=:=), 10 MB binaries through fragments',
    { timeout: 60_000 },
    async () => {
      const src = `
      Terms = [${erlangTerms.join(', ')}],
      [begin {echo, '${ts.name}'} ! {self(), T}, receive R -> R =:= T orelse {mismatch, T, R} after 10000 -> {timeout, T} end end || T <- Terms]`;
      const results = (await erl.eval(ts, src, {}, 30000)) as Term[];
      assert.equal(results.length, erlangTerms.length);
      results.forEach((r, i) =>
        assert.equal(r, true, `term ${erlangTerms[i]} came back different: ${String(r)}`),
      );
    },
  );

  test('terms from TypeScript come back equal from Erlang', { timeout: 60_000 }, async () => {
    const results = await run(ts, async (self) => {
      const terms: Term[] = [
        atom('hello'),
        atom('ünïcode_☃'),
        0,
        -1,
        255,
        256,
        2 ** 31,
        -(2 ** 31) - 1,
        2n ** 64n,
        -(2n ** 100n),
        1.5,
        'a JS string (a binary)',
        Buffer.alloc(10 * 1024 * 1024, 7),
        [1, [2, [3]]],
        new ImproperList([1, 2], atom('tail')),
        tuple(atom('ok'), self.pid, self.makeRef()),
        new Map<Term, Term>([
          [atom('a'), 1],
          [Buffer.from('b'), [atom('x')]],
        ]),
        new ExportFun(atom('erlang'), atom('node'), 0),
        true,
        false,
        [],
        tuple(),
      ];
      const out: string[] = [];
      for (const t of terms) {
        self.send(tuple(atom('erl_echo'), atom(erl.name)), tuple(self.pid, t));
        const back = await self.receive(undefined, 20000);
        if (!termEquals(back, t)) out.push(formatTerm(t));
      }
      return out;
    });
    assert.deepEqual(results, []);
  });

  test(
    'binaries sent by reference (own frame chunks) arrive intact: sizes around the thresholds, alone and together',
    { timeout: 60_000 },
    async () => {
      await erl.eval(
        ts,
        `register(erl_md5, spawn(fun Loop() -> receive {From, Bins} -> From ! [erlang:md5(B) || B <- Bins], Loop() end end)), ok`,
      );
      const k = SPLICE_BINARY_BYTES;
      const f = DEFAULT_FRAGMENT_SIZE;
      const sizes = [k - 1, k, k + 1, 2 * f - 30, 2 * f + 1, 3 * 1024 * 1024 + 7];
      const bins = sizes.map((n) => randomBytes(n));
      const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();
      const messages = [...bins.map((b) => [b]), bins, [bins[1]!, Buffer.from('small'), bins[1]!]];
      const results = await run(ts, async (self) => {
        const out: boolean[] = [];
        for (const m of messages) {
          self.send(tuple(atom('erl_md5'), atom(erl.name)), tuple(self.pid, m));
          const back = await self.receive(undefined, 20000);
          out.push(termEquals(back, m.map(md5)));
        }
        return out;
      });
      assert.deepEqual(
        results,
        messages.map(() => true),
      );
    },
  );

  test(
    'pids, refs, ports and funs from Erlang can be used again in Erlang',
    { timeout: 60_000 },
    async () => {
      const got = (await erl.eval(
        ts,
        `{echo, '${ts.name}'} ! {self(), {self(), make_ref(), hd(erlang:ports()), fun(X) -> X * 2 end}},
       receive {P, R, Port, F} -> {P =:= self(), is_reference(R), is_port(Port), F(21)} after 5000 -> timeout end`,
      )) as Tuple;
      assert.ok(termEquals(got, tuple(true, true, true, 42)), String(got));
    },
  );

  test('heavy atom cache traffic: thousands of distinct atoms both ways', { timeout: 60_000 }, async () => {
    const result = await erl.eval(
      ts,
      `Atoms = [list_to_atom("eid_atom_" ++ integer_to_list(I)) || I <- lists:seq(1, 5000)],
       Chunks = [lists:sublist(Atoms, S, 400) || S <- lists:seq(1, 5000, 400)],
       Ok = [begin {echo, '${ts.name}'} ! {self(), {C, list_to_tuple(C)}}, receive B -> B =:= {C, list_to_tuple(C)} after 10000 -> timeout end end || C <- Chunks ++ Chunks],
       lists:all(fun(X) -> X =:= true end, Ok)`,
      {},
      30000,
    );
    assert.equal(result, true);
    // TS → OTP: the same atoms sent from our side, with slot collisions in our 2048-entry cache.
    await run(ts, async (self) => {
      for (let round = 0; round < 2; round++) {
        for (let start = 0; start < 5000; start += 400) {
          const atoms = Array.from({ length: 400 }, (_, i) => atom(`eid_ts_atom_${start + i}`));
          self.send(tuple(atom('erl_echo'), atom(erl.name)), tuple(self.pid, atoms));
          const back = await self.receive(undefined, 10000);
          if (!termEquals(back, atoms)) throw new Error(`atoms ${start}.. came back different`);
        }
      }
    });
  });
});

describe('calls', () => {
  before(() => {
    ts.expose('js_math', {
      add: (a, b) => (a as number) + (b as number),
      slow_upper: async (s) => {
        await new Promise((r) => setTimeout(r, 10));
        return Buffer.from(s as Uint8Array)
          .toString()
          .toUpperCase();
      },
      fail: () => {
        throw new Error('boom from JS');
      },
    });
  });

  test('TS → OTP rpc: results, and badrpc as a typed error', { timeout: 60_000 }, async () => {
    assert.equal(await ts.rpc(erl.name, 'erlang', 'node', []), atom(erl.name));
    assert.deepEqual(await ts.rpc(erl.name, 'lists', 'reverse', [[1, 2, 3]]), [3, 2, 1]);
    assert.equal(await ts.rpc(erl.name, 'erlang', 'throw', [atom('thrown')]), atom('thrown'));
    await assert.rejects(ts.rpc(erl.name, 'no_such_module', 'f', []), (err: unknown) => {
      assert.ok(err instanceof BadRpcError);
      assert.ok(isTuple(err.reason, 'EXIT'));
      const inner = (err.reason as Tuple).elements[1] as Tuple;
      assert.equal(inner.elements[0], atom('undef'));
      return true;
    });
    await assert.rejects(ts.rpc(erl.name, 'erlang', 'exit', [atom('bye')]), (err: unknown) => {
      assert.ok(err instanceof BadRpcError);
      assert.ok(termEquals(err.reason, tuple(atom('EXIT'), atom('bye'))));
      return true;
    });
    await assert.rejects(ts.rpc(erl.name, 'timer', 'sleep', [2000], 100), (err: unknown) => {
      assert.ok(err instanceof BadRpcError);
      assert.equal(err.reason, atom('timeout'));
      return true;
    });
    await assert.rejects(ts.rpc('nobody@127.0.0.1', 'erlang', 'node', []), (err: unknown) => {
      assert.ok(err instanceof BadRpcError);
      assert.equal(err.reason, atom('nodedown'));
      return true;
    });
  });

  test('OTP → TS: rpc:call and erpc:call land in exposed functions', { timeout: 60_000 }, async () => {
    assert.equal(await erl.eval(ts, `rpc:call('${ts.name}', js_math, add, [20, 22])`), 42);
    assert.equal(await erl.eval(ts, `erpc:call('${ts.name}', js_math, add, [1, 2])`), 3);
    assert.ok(
      termEquals(
        await erl.eval(ts, `erpc:call('${ts.name}', js_math, slow_upper, [<<"abc">>])`),
        Buffer.from('ABC'),
      ),
    );
    // The whole shapes docs/node.md promises for a thrown JS error, as a real rpc:call and erpc:call see them.
    const jsError = tuple(atom('js_error'), Buffer.from('boom from JS'));
    const bad = await erl.eval(ts, `rpc:call('${ts.name}', js_math, fail, [])`);
    const badrpc = tuple(atom('badrpc'), tuple(atom('EXIT'), tuple(jsError, [])));
    assert.ok(termEquals(bad, badrpc), formatTerm(bad));
    const raised = await erl.eval(
      ts,
      `try erpc:call('${ts.name}', js_math, fail, []) catch error:E -> E end`,
    );
    assert.ok(termEquals(raised, tuple(atom('exception'), jsError, [])), formatTerm(raised));
    const missing = (await erl.eval(
      ts,
      `try erpc:call('${ts.name}', js_math, nope, []) catch error:{exception, undef, _} -> undef end`,
    )) as Atom;
    assert.equal(missing, atom('undef'));
    const caught = (await erl.eval(
      ts,
      `try erpc:call('${ts.name}', js_math, fail, []) catch error:{exception, {js_error, Msg}, _} -> Msg end`,
    )) as Buffer;
    assert.equal(Buffer.from(caught).toString(), 'boom from JS');
    // The legacy rex form: gen_server:call({rex, Node}, {call, M, F, A, GL}).
    assert.equal(
      await erl.eval(
        ts,
        `gen_server:call({rex, '${ts.name}'}, {call, js_math, add, [5, 6], group_leader()})`,
      ),
      11,
    );
  });

  test(
    'TS → OTP gen_server:call, OTP → TS gen_server:call with alias replies',
    { timeout: 60_000 },
    async () => {
      const apps = (await ts.call(
        tuple(atom('application_controller'), atom(erl.name)),
        atom('which_applications'),
      )) as Tuple[];
      assert.ok(apps.some((a) => a.elements[0] === atom('kernel')));
      const kv = ts.spawn(async (self) => {
        const store = new Map<string, Term>();
        for (;;) {
          const m = await self.receive((x) => isTuple(x, '$gen_call', 3));
          const [, from, req] = (m as Tuple).elements;
          const r = req as Tuple;
          if (isTuple(r, 'put', 3)) {
            store.set((r.elements[1] as Atom).name, r.elements[2] as Term);
            self.reply(from as Tuple, atom('ok'));
          } else if (isTuple(r, 'get', 2)) {
            self.reply(from as Tuple, store.get((r.elements[1] as Atom).name) ?? atom('undefined'));
          }
        }
      });
      ts.register('kv', kv);
      assert.equal(await erl.eval(ts, `gen_server:call({kv, '${ts.name}'}, {put, k, 42})`), atom('ok'));
      assert.equal(await erl.eval(ts, `gen_server:call({kv, '${ts.name}'}, {get, k})`), 42);
      assert.equal(await ts.call('kv', tuple(atom('get'), atom('k'))), 42);
      const noproc = (await erl.eval(ts, `catch gen_server:call({nobody, '${ts.name}'}, x, 1000)`)) as Tuple;
      assert.ok(isTuple(noproc, 'EXIT'), String(noproc));
      await assert.rejects(
        ts.call(tuple(atom('nobody'), atom(erl.name)), atom('x'), 2000),
        (err: unknown) => {
          assert.ok(err instanceof CallError);
          assert.equal(err.reason, atom('noproc'));
          return true;
        },
      );
    },
  );
});

describe('links, monitors and exit signals', () => {
  /** Spawns an Erlang process that exits with `reason` when told, and returns its pid. */
  async function erlProcess(reason: string): Promise<Pid> {
    return (await erl.eval(ts, `spawn(fun() -> receive go -> exit(${reason}) end end)`)) as Pid;
  }

  test('TS links to an OTP process and traps its exit reason', { timeout: 60_000 }, async () => {
    const target = await erlProcess('{custom, 42}');
    const msg = await run(
      ts,
      async (self) => {
        self.link(target);
        self.send(target, atom('go'));
        return self.receive((m) => isTuple(m, 'EXIT', 3), 5000);
      },
      { trapExit: true },
    );
    assert.ok(termEquals(msg, tuple(atom('EXIT'), target, tuple(atom('custom'), 42))), String(msg));
  });

  test(
    'a linked OTP process crashing kills a non-trapping TS process with that reason',
    { timeout: 60_000 },
    async () => {
      const target = await erlProcess('crashed_on_purpose');
      const p = ts.spawn(async (self) => {
        self.link(target);
        self.send(target, atom('go'));
        await self.receive(undefined, 10000);
      });
      assert.equal(await p.exited, atom('crashed_on_purpose'));
    },
  );

  test(
    'TS monitors an OTP process: DOWN with its reason; noproc for a dead one',
    { timeout: 60_000 },
    async () => {
      const target = await erlProcess('{shutdown, done}');
      const r = await run(ts, async (self) => {
        const ref = self.monitor(target);
        self.send(target, atom('go'));
        const down = (await self.receive((m) => isTuple(m, 'DOWN', 5), 5000)) as Tuple;
        assert.ok(termEquals(down.elements[1] as Term, ref));
        const again = self.monitor(target);
        const down2 = (await self.receive((m) => isTuple(m, 'DOWN', 5), 5000)) as Tuple;
        assert.ok(termEquals(down2.elements[1] as Term, again));
        return tuple(down.elements[4] as Term, down2.elements[4] as Term);
      });
      assert.ok(termEquals(r, tuple(tuple(atom('shutdown'), atom('done')), atom('noproc'))), String(r));
    },
  );

  test(
    'OTP links to and monitors a TS process: EXIT and DOWN carry the TS exit reason',
    { timeout: 60_000 },
    async () => {
      const p = ts.spawn(async (self) => {
        await self.receive((m) => m === atom('stop'));
        self.stop(tuple(atom('js_reason'), 7));
      });
      const result = (await erl.eval(
        ts,
        `Parent = self(),
       spawn(fun() -> process_flag(trap_exit, true), link(P), Ref = monitor(process, P),
                      Parent ! linked,
                      E = receive {'EXIT', P, R1} -> R1 after 5000 -> no_exit end,
                      D = receive {'DOWN', Ref, process, P, R2} -> R2 after 5000 -> no_down end,
                      Parent ! {E, D} end),
       receive linked -> ok end,
       P ! stop,
       receive Res -> Res after 10000 -> timeout end`,
        { P: p.pid },
      )) as Tuple;
      const want = tuple(atom('js_reason'), 7);
      assert.ok(termEquals(result, tuple(want, want)), String(result));
    },
  );

  test(
    'OTP monitors a TS process by registered name and gets noproc for a missing one',
    { timeout: 60_000 },
    async () => {
      const r = await erl.eval(
        ts,
        `Ref = monitor(process, {nobody_here, '${ts.name}'}), receive {'DOWN', Ref, process, _, R} -> R after 5000 -> timeout end`,
      );
      assert.equal(r, atom('noproc'));
    },
  );

  test('exit/2 from OTP: a reason kills a TS process, kill is untrappable', { timeout: 60_000 }, async () => {
    const a = ts.spawn((self) => self.receive());
    const b = ts.spawn((self) => self.receive(), { trapExit: true });
    await erl.eval(ts, `exit(A, {ended, by_erlang}), exit(B, kill), ok`, { A: a.pid, B: b.pid });
    assert.ok(termEquals(await a.exited, tuple(atom('ended'), atom('by_erlang'))));
    assert.equal(await b.exited, atom('killed'));
  });

  test(
    'after unlink (UNLINK_ID), the OTP process exiting does not reach the TS process',
    { timeout: 60_000 },
    async () => {
      const target = await erlProcess('should_not_arrive');
      const r = await run(
        ts,
        async (self) => {
          self.link(target);
          self.unlink(target);
          // The OTP side dropped the link: the unlink went before this call on the same connection.
          assert.deepEqual(await erl.eval(ts, `element(2, process_info(T, links))`, { T: target }), []);
          // A monitor is the positive sync: the target sends its link exits before its monitor
          // DOWNs, on the same connection, so once the DOWN is here an EXIT would be here too.
          self.monitor(target);
          self.send(target, atom('go'));
          await self.receive((m) => isTuple(m, 'DOWN', 5), 10000);
          try {
            return await self.receive((m) => isTuple(m, 'EXIT', 3), 0);
          } catch {
            return atom('no_exit');
          }
        },
        { trapExit: true },
      );
      assert.equal(r, atom('no_exit'), formatTerm(r));
    },
  );

  test(
    'OTP unlinks from a TS process (UNLINK_ID): the link is gone on both sides',
    { timeout: 60_000 },
    async () => {
      const p = ts.spawn((self) =>
        self.receive((m) => m === atom('stop')).then(() => self.stop(atom('late'))),
      );
      // The DOWN is the positive sync: the TS node sends a process's link exits before its DOWNs.
      const r = await erl.eval(
        ts,
        `process_flag(trap_exit, true), link(P), unlink(P), Ref = monitor(process, P), P ! stop,
       receive {'DOWN', Ref, process, P, late} -> ok after 10000 -> error(no_down) end,
       receive {'EXIT', P, R} -> {exit, R} after 0 -> no_exit end`,
        { P: p.pid },
      );
      assert.equal(r, atom('no_exit'));
    },
  );
});

describe('node failures', () => {
  test(
    'SIGSTOP of the peer: nodedown by tick timeout, links get noconnection, monitors DOWN noconnection',
    { timeout: 60_000 },
    async () => {
      const victim = await f.startErl('otp_victim', { ticktime: 4 });
      const node = await f.startNode('ts_victim', { netTicktime: 4 });
      assert.equal(await node.ping(victim.name), true);
      const remote = (await node.rpc(victim.name, 'erlang', 'whereis', [atom('init')])) as Pid;
      const linked = run(
        node,
        async (self) => {
          self.link(remote);
          return self.receive((m) => isTuple(m, 'EXIT', 3));
        },
        { trapExit: true },
      );
      const watcher = run(node, async (self) => {
        self.monitor(remote);
        return self.receive((m) => isTuple(m, 'DOWN', 5));
      });
      const down = new Promise<{ reason: string }>((resolve) =>
        node.once('nodedown', (_n, info) => resolve(info)),
      );
      process.kill(victim.proc.pid, 'SIGSTOP');
      try {
        assert.equal((await down).reason, 'net_tick_timeout');
      } finally {
        process.kill(victim.proc.pid, 'SIGCONT');
        await victim.proc.kill();
      }
      const exit = await linked;
      assert.ok(termEquals(exit, tuple(atom('EXIT'), remote, atom('noconnection'))), formatTerm(exit));
      const d = (await watcher) as Tuple;
      assert.equal(d.elements[4], atom('noconnection'));
      assert.deepEqual(node.nodes(), []);
    },
  );

  test(
    'SIGKILL of the peer: nodedown, and the node can connect to a restarted peer',
    { timeout: 60_000 },
    async () => {
      const victim = await f.startErl('otp_killed', { ticktime: 4 });
      const node = await f.startNode('ts_killer', { netTicktime: 4 });
      assert.equal(await node.ping(victim.name), true);
      const down = new Promise<string>((resolve) => node.once('nodedown', (n) => resolve(n)));
      await victim.proc.kill('SIGKILL');
      assert.equal(await down, victim.name);
      const again = await f.startErl('otp_killed', { ticktime: 4 });
      assert.equal(await node.ping(again.name), true);
    },
  );
});
