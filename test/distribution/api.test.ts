/**
 * The Node API as docs/node.md documents it, against a stock OTP 25 node: cast, whereis and
 * unregister, exit/2 from TypeScript, demonitor, ProcessExit from an exposed function,
 * ReceiveTimeout, nodes('connected'), listenHost, erpc:cast into TypeScript, and monitoring
 * {Name, Node}. Only the package's public API is used.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Fixture, run, type ErlNode } from './helpers.ts';
import { PortSlices, connectable } from '../support/ports.ts';
import { waitFor } from '../support/processes.ts';
import {
  Atom,
  DistError,
  Pid,
  ProcessExit,
  ReceiveTimeout,
  Reference,
  Tuple,
  atom,
  termEquals,
  tuple,
  type Node,
  type Term,
} from '../../src/index.ts';

const f = new Fixture(PortSlices.distribution.api);
let erl: ErlNode;
let ts: Node;

before(async () => {
  await f.startEpmd();
  erl = await f.startErl('api_otp');
  ts = await f.startNode('api_ts');
});

after(async () => {
  await f.cleanup();
});

const T = { timeout: 60_000 };

function isTuple(m: Term, first: string, size?: number): m is Tuple {
  return (
    m instanceof Tuple &&
    m.elements[0] instanceof Atom &&
    m.elements[0].name === first &&
    (size === undefined || m.length === size)
  );
}

const show = (t: Term): string => String(t);

/** A DOWN message for monitor `ref`. */
const downOf =
  (ref: Reference) =>
  (m: Term): boolean =>
    isTuple(m, 'DOWN', 5) && termEquals(m.elements[1] as Term, ref);

/** Compiles and loads an Erlang module, given as its forms' source text, on the OTP node. */
async function loadModule(forms: string[]): Promise<void> {
  const r = await erl.eval(
    ts,
    `Forms = [begin {ok, Ts, _} = erl_scan:string(binary_to_list(F)), {ok, Form} = erl_parse:parse_form(Ts), Form end || F <- Src],
     {ok, Mod, Bin} = compile:forms(Forms),
     {module, Mod} = code:load_binary(Mod, "nofile", Bin),
     ok`,
    { Src: forms.map((s) => Buffer.from(s)) },
  );
  assert.equal(r, atom('ok'), show(r));
}

describe('cast', () => {
  before(async () => {
    // A real gen_server: handle_cast forwards each request to the pid it was started with.
    await loadModule([
      '-module(eid_api_cast).',
      '-behaviour(gen_server).',
      '-export([init/1, handle_call/3, handle_cast/2]).',
      'init(Owner) -> {ok, Owner}.',
      'handle_call(owner, _From, Owner) -> {reply, Owner, Owner}.',
      'handle_cast(Request, Owner) -> Owner ! {cast_received, Request}, {noreply, Owner}.',
    ]);
  });

  test('node.cast and Process.cast reach a gen_server by {Name, Node} and by pid', T, async () => {
    await run(ts, async (self) => {
      const next = () => self.receive((m) => isTuple(m, 'cast_received', 2), 15_000);
      const server = (await erl.eval(
        ts,
        `{ok, P} = gen_server:start({local, eid_api_cast_a}, eid_api_cast, Owner, []), P`,
        { Owner: self.pid },
      )) as Pid;
      assert.ok(server instanceof Pid, show(server));

      ts.cast(tuple(atom('eid_api_cast_a'), atom(erl.name)), tuple(atom('by_name'), 1));
      assert.ok(termEquals(await next(), tuple(atom('cast_received'), tuple(atom('by_name'), 1))));

      ts.cast(server, [atom('by_pid'), Buffer.from('x')]);
      assert.ok(termEquals(await next(), tuple(atom('cast_received'), [atom('by_pid'), Buffer.from('x')])));

      self.cast(tuple(atom('eid_api_cast_a'), atom(erl.name)), atom('from_a_process'));
      assert.ok(termEquals(await next(), tuple(atom('cast_received'), atom('from_a_process'))));
      // A cast never gets a reply; the server is still up and answers a call afterwards.
      assert.ok(termEquals(await self.call(server, atom('owner'), 10_000), self.pid));
      assert.equal(self.queueLength, 0);
    });
  });

  test('a TS process gets a cast from Erlang as {$gen_cast, Request}', T, async () => {
    let received: Term | undefined;
    const server = ts.spawn(async (self) => {
      received = await self.receive(undefined, 15_000);
    });
    ts.register('api_cast_js', server);
    try {
      await erl.eval(ts, `gen_server:cast({api_cast_js, '${ts.name}'}, {reset, 3})`);
      assert.equal(await server.exited, atom('normal'), 'a message arrived');
      assert.ok(termEquals(received!, tuple(atom('$gen_cast'), tuple(atom('reset'), 3))), show(received!));
    } finally {
      ts.unregister('api_cast_js');
    }
  });
});

describe('register, whereis, unregister', () => {
  test('whereis finds a registered process; Erlang sends to {Name, Node}', T, async () => {
    const p = ts.spawn((self) => self.receive((m) => isTuple(m, 'hello', 2), 15_000));
    assert.equal(ts.whereis('api_named'), undefined);
    ts.register('api_named', p);
    try {
      const pid = ts.whereis('api_named');
      assert.ok(pid !== undefined && termEquals(pid, p.pid));
      assert.throws(
        () =>
          ts.register(
            'api_named',
            ts.spawn((s) => s.receive()),
          ),
        (err: unknown) => err instanceof DistError && err.code === 'DIST_NAME_TAKEN',
      );
      await erl.eval(ts, `{api_named, '${ts.name}'} ! {hello, erlang}, ok`);
      assert.equal(await p.exited, atom('normal'));
      // A dead process loses its name, as in Erlang.
      assert.equal(ts.whereis('api_named'), undefined);
    } finally {
      ts.unregister('api_named');
    }
  });

  test('unregister frees the name: Erlang then sees noproc and the name can be taken again', T, async () => {
    const first = ts.spawn((self) => self.receive(() => false));
    ts.register('api_unreg', first);
    assert.equal(ts.unregister('api_unreg'), true);
    assert.equal(ts.unregister('api_unreg'), false, 'a second unregister finds nothing');
    assert.equal(ts.whereis('api_unreg'), undefined);
    assert.equal(first.alive, true, 'unregister does not stop the process');
    const r = await erl.eval(
      ts,
      `Ref = monitor(process, {api_unreg, '${ts.name}'}),
       receive {'DOWN', Ref, process, _, R} -> R after 10000 -> timeout end`,
    );
    assert.equal(r, atom('noproc'));
    const second = ts.spawn((self) => self.receive((m) => m === atom('ping'), 15_000));
    ts.register('api_unreg', second);
    try {
      await erl.eval(ts, `{api_unreg, '${ts.name}'} ! ping, ok`);
      assert.equal(await second.exited, atom('normal'));
      assert.equal(first.alive, true, 'the message went to the new owner of the name only');
    } finally {
      ts.unregister('api_unreg');
      first.stop();
    }
  });
});

describe('exit/2 from TypeScript', () => {
  /** An Erlang process (optionally trapping exits) that reports what it traps to `sink`; resolves once it is set up. */
  async function erlTarget(sink: Pid, trap: boolean): Promise<Pid> {
    return (await erl.eval(
      ts,
      `Self = self(),
       P = spawn(fun() ->
             process_flag(trap_exit, ${String(trap)}),
             Self ! ready,
             receive {'EXIT', From, Reason} -> Sink ! {trapped, From, Reason} end,
             receive never -> ok end
           end),
       receive ready -> P after 10000 -> timeout end`,
      { Sink: sink },
    )) as Pid;
  }

  test(
    'node.exit and Process.exit kill an Erlang process with the reason; kill is untrappable',
    T,
    async () => {
      const result = await run(ts, async (self) => {
        const plain = await erlTarget(self.pid, false);
        const plainRef = self.monitor(plain);
        ts.exit(plain, tuple(atom('stopped_by'), atom('ts')));
        const d1 = (await self.receive(downOf(plainRef), 15_000)) as Tuple;

        const trapping = await erlTarget(self.pid, true);
        const trapRef = self.monitor(trapping);
        self.exit(trapping, atom('please_stop'));
        const trapped = await self.receive((m) => isTuple(m, 'trapped', 3), 15_000);
        assert.equal(trapping instanceof Pid, true);
        self.exit(trapping, atom('kill'));
        const d2 = (await self.receive(downOf(trapRef), 15_000)) as Tuple;
        return { d1, trapped, d2, self: self.pid };
      });
      assert.ok(
        termEquals(result.d1.elements[4] as Term, tuple(atom('stopped_by'), atom('ts'))),
        show(result.d1),
      );
      // A trapping process gets {'EXIT', From, Reason} from the sending TS process and lives on...
      assert.ok(
        termEquals(result.trapped, tuple(atom('trapped'), result.self, atom('please_stop'))),
        show(result.trapped),
      );
      // ...until kill, which it cannot trap.
      assert.equal(result.d2.elements[4], atom('killed'));
    },
  );

  test(
    'exit/2 to a TS process: a reason ends it, a trapping one gets a message, kill is untrappable, normal is ignored',
    T,
    async () => {
      const plain = ts.spawn((self) => self.receive());
      ts.exit(plain.pid, atom('shutdown'));
      assert.equal(await plain.exited, atom('shutdown'));

      let trapped: Term | undefined;
      const trapping = ts.spawn(
        async (self) => {
          trapped = await self.receive((x) => isTuple(x, 'EXIT', 3), 15_000);
          await self.receive(() => false);
        },
        { trapExit: true },
      );
      const sender = ts.spawn((self) => self.exit(trapping.pid, atom('trap_me')));
      await sender.exited;
      await waitFor(() => trapped !== undefined, 'the trapped exit message', 15_000);
      assert.ok(termEquals(trapped!, tuple(atom('EXIT'), sender.pid, atom('trap_me'))), show(trapped!));
      assert.equal(trapping.alive, true, 'a trapping process survives a plain exit signal');
      ts.exit(trapping.pid, atom('kill'));
      assert.equal(await trapping.exited, atom('killed'));

      // normal does not end a process that does not trap exits: it still answers afterwards.
      const survivor = ts.spawn(async (self) => {
        const m = (await self.receive((x) => isTuple(x, 'ping', 2), 15_000)) as Tuple;
        self.send(m.elements[1] as Pid, atom('pong'));
      });
      ts.exit(survivor.pid, atom('normal'));
      const answer = await run(ts, async (self) => {
        self.send(survivor.pid, tuple(atom('ping'), self.pid));
        return self.receive((m) => m === atom('pong'), 15_000);
      });
      assert.equal(answer, atom('pong'));
    },
  );

  test(
    'exit/2 from Erlang to a TS process names the Erlang sender; kill from Erlang kills a trapping TS process',
    T,
    async () => {
      let trapped: Term | undefined;
      const p = ts.spawn(
        async (self) => {
          trapped = await self.receive((x) => isTuple(x, 'EXIT', 3), 15_000);
          await self.receive(() => false);
        },
        { trapExit: true },
      );
      const sender = (await erl.eval(ts, `exit(P, from_erlang), self()`, { P: p.pid })) as Pid;
      await waitFor(() => trapped !== undefined, 'the trapped exit message', 15_000);
      assert.ok(termEquals(trapped!, tuple(atom('EXIT'), sender, atom('from_erlang'))), show(trapped!));
      await erl.eval(ts, `exit(P, kill), ok`, { P: p.pid });
      assert.equal(await p.exited, atom('killed'));
    },
  );
});

describe('demonitor', () => {
  test('after demonitor the Erlang side drops the monitor and no DOWN arrives', T, async () => {
    const r = await run(ts, async (self) => {
      const target = (await erl.eval(ts, `spawn(fun() -> receive go -> exit(gone) end end)`)) as Pid;
      const monitoredBy = async () =>
        (await erl.eval(ts, `element(2, erlang:process_info(P, monitored_by))`, { P: target })) as Term[];
      const dropped = self.monitor(target);
      // The monitor exists on the Erlang side, then demonitor removes it there.
      await waitUntil(async () => (await monitoredBy()).some((p) => termEquals(p, self.pid)));
      self.demonitor(dropped);
      await waitUntil(async () => !(await monitoredBy()).some((p) => termEquals(p, self.pid)));
      // A second monitor, taken after the demonitor, is now the only one Erlang holds for us...
      const kept = self.monitor(target);
      await waitUntil(async () => (await monitoredBy()).filter((p) => termEquals(p, self.pid)).length === 1);
      self.send(target, atom('go'));
      // ...so its DOWN is the one that must arrive; by then nothing is left to come for `dropped`.
      const down = (await self.receive(downOf(kept), 15_000)) as Tuple;
      const stale = await self.receive(downOf(dropped), 0).then(
        (m) => m,
        (err: unknown) => (err instanceof ReceiveTimeout ? undefined : Promise.reject(err)),
      );
      return { down, stale };
    });
    assert.equal(r.down.elements[4], atom('gone'));
    assert.equal(r.stale, undefined, `a DOWN arrived for the demonitored reference: ${show(r.stale ?? [])}`);
  });

  test('demonitor of a TS process: no DOWN for that reference when it dies', T, async () => {
    const r = await run(ts, async (self) => {
      const target = ts.spawn((t) => t.receive((m) => m === atom('go')));
      const dropped = self.monitor(target.pid);
      const kept = self.monitor(target.pid);
      self.demonitor(dropped);
      target.send(target.pid, atom('go'));
      const down = (await self.receive(downOf(kept), 15_000)) as Tuple;
      await target.exited;
      return { down, queued: self.queueLength };
    });
    assert.equal(r.down.elements[4], atom('normal'));
    assert.equal(r.queued, 0, 'nothing else (no DOWN for the demonitored reference) is in the mailbox');
  });
});

/** Polls an asynchronous condition (state that settles on the other node) for 15 s at most. */
function waitUntil(check: () => Promise<boolean>): Promise<void> {
  return waitFor(check, 'the other node to settle', 15_000);
}

describe('exposed functions', () => {
  before(() => {
    ts.expose('api_exits', {
      quit: (reason) => {
        throw new ProcessExit(reason);
      },
      record: (x) => {
        ts.send(atom('api_cast_sink'), tuple(atom('called'), x));
        return atom('ok');
      },
    });
  });

  test(
    'ProcessExit thrown from an exposed function: rpc:call gets {badrpc, {EXIT, Reason}}, erpc:call exits {exception, Reason}',
    T,
    async () => {
      const reason = tuple(atom('shutdown'), Buffer.from('by js'));
      const viaRpc = await erl.eval(ts, `rpc:call('${ts.name}', api_exits, quit, [R])`, { R: reason });
      assert.ok(termEquals(viaRpc, tuple(atom('badrpc'), tuple(atom('EXIT'), reason))), show(viaRpc));
      const viaErpc = await erl.eval(
        ts,
        `try erpc:call('${ts.name}', api_exits, quit, [R]) catch C:E -> {C, E} end`,
        { R: reason },
      );
      assert.ok(termEquals(viaErpc, tuple(atom('exit'), tuple(atom('exception'), reason))), show(viaErpc));
      // The legacy rex form sees the same as rpc:call.
      const viaRex = await erl.eval(
        ts,
        `gen_server:call({rex, '${ts.name}'}, {call, api_exits, quit, [R], group_leader()})`,
        { R: reason },
      );
      assert.ok(termEquals(viaRex, tuple(atom('badrpc'), tuple(atom('EXIT'), reason))), show(viaRex));
    },
  );

  test('erpc:cast and rpc:cast into TS run the exposed function', T, async () => {
    const calls: Term[] = [];
    const sink = ts.spawn(async (self) => {
      for (let i = 0; i < 2; i++) calls.push(await self.receive((m) => isTuple(m, 'called', 2), 15_000));
    });
    ts.register('api_cast_sink', sink);
    try {
      // Both casts return at once, whatever happens on the TS side.
      assert.equal(await erl.eval(ts, `erpc:cast('${ts.name}', api_exits, record, [first])`), atom('ok'));
      assert.equal(await erl.eval(ts, `rpc:cast('${ts.name}', api_exits, record, [second])`), true);
      assert.equal(await sink.exited, atom('normal'));
      const args = calls.map((c) => ((c as Tuple).elements[1] as Atom).name).sort();
      assert.deepEqual(args, ['first', 'second']);
    } finally {
      ts.unregister('api_cast_sink');
    }
  });
});

describe('receive', () => {
  test('receive with a timeout rejects with ReceiveTimeout and leaves other messages queued', T, async () => {
    const r = await run(ts, async (self) => {
      self.send(self.pid, atom('unrelated'));
      let error: unknown;
      try {
        await self.receive((m) => m === atom('never_sent'), 200);
      } catch (err) {
        error = err;
      }
      const stillQueued = self.queueLength;
      const next = await self.receive(undefined, 15_000);
      return { error, stillQueued, next };
    });
    assert.ok(r.error instanceof ReceiveTimeout, String(r.error));
    assert.ok(r.error instanceof DistError && r.error.code === 'DIST_RECEIVE_TIMEOUT');
    assert.equal(r.stillQueued, 1);
    assert.equal(r.next, atom('unrelated'));
  });

  test('a process survives a ReceiveTimeout and receives a message from Erlang afterwards', T, async () => {
    const p = ts.spawn(async (self) => {
      await self.receive(undefined, 100).catch((err: unknown) => {
        if (!(err instanceof ReceiveTimeout)) throw err;
      });
      self.send(atom('api_rt_ready'), atom('timed_out'));
      const m = (await self.receive((x) => isTuple(x, 'late', 2), 15_000)) as Tuple;
      return m;
    });
    const ready = ts.spawn((self) => self.receive((m) => m === atom('timed_out'), 15_000));
    ts.register('api_rt_ready', ready);
    try {
      await ready.exited;
      await erl.eval(ts, `P ! {late, erlang}, ok`, { P: p.pid });
      assert.equal(await p.exited, atom('normal'));
    } finally {
      ts.unregister('api_rt_ready');
    }
  });
});

describe('monitoring {Name, Node}', () => {
  test(
    'DOWN carries {Name, Node} and the exit reason when the registered Erlang process dies',
    T,
    async () => {
      await erl.eval(
        ts,
        `P = spawn(fun() -> receive go -> exit({done, 7}) end end), register(api_watched, P), ok`,
      );
      const target = tuple(atom('api_watched'), atom(erl.name));
      const down = await run(ts, async (self) => {
        const ref = self.monitor(target);
        // The monitor is in place once Erlang lists a monitor on the process.
        await waitUntil(async () => {
          const by = await erl.eval(
            ts,
            `element(2, erlang:process_info(whereis(api_watched), monitored_by))`,
          );
          return Array.isArray(by) && by.some((p) => termEquals(p, self.pid));
        });
        self.send(target, atom('go'));
        const d = (await self.receive(downOf(ref), 15_000)) as Tuple;
        return d;
      });
      assert.ok(
        termEquals(down.elements[3] as Term, target) &&
          termEquals(down.elements[4] as Term, tuple(atom('done'), 7)),
        show(down),
      );
      assert.equal(down.elements[2], atom('process'));
    },
  );

  test('monitoring a name nobody has: DOWN noproc with the {Name, Node} form', T, async () => {
    const target = tuple(atom('api_nobody'), atom(erl.name));
    const down = await run(ts, async (self) => {
      const ref = self.monitor(target);
      return (await self.receive(downOf(ref), 15_000)) as Tuple;
    });
    assert.ok(termEquals(down.elements[3] as Term, target), show(down));
    assert.equal(down.elements[4], atom('noproc'));
  });
});

describe('nodes and listenHost', () => {
  test(
    "nodes('connected') lists visible and hidden peers; nodes() and nodes('hidden') split them",
    T,
    async () => {
      const node = await f.startNode('api_lister');
      const hidden = await f.startErl('api_hidden', { extra: ['-hidden'] });
      assert.equal(await node.ping(erl.name), true);
      assert.equal(await node.ping(hidden.name), true);
      assert.deepEqual(node.nodes(), [erl.name]);
      assert.deepEqual(node.nodes('hidden'), [hidden.name]);
      assert.deepEqual([...node.nodes('connected')].sort(), [erl.name, hidden.name].sort());
      node.disconnect(hidden.name);
      await waitUntil(async () => !node.nodes('connected').includes(hidden.name));
      assert.deepEqual(node.nodes('connected'), [erl.name]);
      await hidden.proc.kill();
    },
  );

  test('listenHost: the node listens only on that address', T, async () => {
    const node = await f.startNode('api_listen', { name: 'api_listen@127.0.0.2', listenHost: '127.0.0.2' });
    assert.equal(await connectable('127.0.0.2', node.port), true);
    assert.equal(await connectable('127.0.0.1', node.port), false, 'nothing listens on 127.0.0.1');
    // Erlang finds it through EPMD and reaches it on its address.
    assert.equal(await erl.eval(ts, `net_adm:ping('api_listen@127.0.0.2')`), atom('pong'));
    assert.ok(node.nodes().includes(erl.name));
  });
});

describe('cookies', () => {
  test(
    'a cookie with Latin-1 characters is hashed as OTP hashes it (one byte per character)',
    T,
    async () => {
      // Erlang keeps 'cooké' for this one node; our node uses the same cookie.
      const name = 'api_latin1@127.0.0.1';
      await erl.eval(ts, `erlang:set_cookie('${name}', list_to_atom([99,111,111,107,233])), ok`);
      const latin1 = await f.startNode('api_latin1', { cookie: 'cook\u00e9' });
      assert.equal(await latin1.ping(erl.name), true, 'each side accepts the digest of the other');
      assert.equal(
        await erl.eval(latin1, `net_adm:ping('${name}')`),
        atom('pong'),
        'the connection works from the Erlang side too',
      );
    },
  );
});
