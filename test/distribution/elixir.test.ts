/** The TypeScript node and a real Elixir 1.14 node: ping, rpc, erpc, GenServer calls and messages both ways. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Fixture, run, type ErlNode } from './helpers.ts';
import { PortSlices } from '../support/ports.ts';
import type { Node } from '../../src/distribution/node.ts';
import { termEquals } from '../../src/etf/index.ts';
import { atom, Atom, Tuple, tuple, type Term } from '../../src/etf/terms.ts';

const f = new Fixture(PortSlices.distribution.elixir);
let ex: ErlNode;
let ts: Node;

before(async () => {
  await f.startEpmd();
  ex = await f.startElixir('elixir_a');
  ts = await f.startNode('ts_ex');
  ts.expose('Elixir.JsMath', { double: (x) => (x as number) * 2 });
  const kv = ts.spawn(async (self) => {
    for (;;) {
      const m = (await self.receive()) as Tuple;
      if (m.elements[0] instanceof Atom && m.elements[0].name === '$gen_call')
        self.reply(m.elements[1] as Tuple, tuple(atom('echoed'), m.elements[2] as Term));
    }
  });
  ts.register('ts_server', kv);
});

after(async () => {
  await f.cleanup();
});

test('TS and Elixir ping each other', { timeout: 60_000 }, async () => {
  assert.equal(await ts.ping(ex.name), true);
  assert.equal(await ex.eval(ts, `Node.ping(:"${ts.name}")`), atom('pong'));
  assert.ok(((await ex.eval(ts, 'Node.list()')) as Atom[]).some((n) => n.name === ts.name));
});

test(
  'Elixir calls exposed JS functions with :rpc, :erpc and GenServer.call',
  { timeout: 60_000 },
  async () => {
    assert.equal(await ex.eval(ts, `:rpc.call(:"${ts.name}", JsMath, :double, [21])`), 42);
    assert.equal(await ex.eval(ts, `:erpc.call(:"${ts.name}", JsMath, :double, [4])`), 8);
    const r = await ex.eval(ts, `GenServer.call({:ts_server, :"${ts.name}"}, %{hello: "world"})`);
    assert.ok(r instanceof Tuple && r.elements[0] === atom('echoed'));
    assert.ok(r.elements[1] instanceof Map);
  },
);

test(
  'TS calls Elixir functions and exchanges messages with an Elixir process',
  { timeout: 60_000 },
  async () => {
    assert.ok(termEquals(await ts.rpc(ex.name, 'Elixir.String', 'upcase', ['eid']), Buffer.from('EID')));
    assert.equal(await ts.rpc(ex.name, 'Elixir.Enum', 'sum', [[1, 2, 3]]), 6);
    await ex.eval(
      ts,
      `Process.register(spawn(fn -> receive do {from, msg} -> send(from, {:got, msg}) end end), :ex_echo); :ok`,
    );
    const back = await run(ts, async (self) => {
      self.send(tuple(atom('ex_echo'), atom(ex.name)), tuple(self.pid, [1, atom('two'), 'three']));
      return self.receive(undefined, 5000);
    });
    assert.ok(termEquals(back, tuple(atom('got'), [1, atom('two'), 'three'])));
  },
);
