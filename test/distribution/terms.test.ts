/**
 * A node with `terms: 'js'` against real OTP 25: rpc results, messages to its processes and the
 * arguments of its exposed functions arrive in the JS-friendly mapping; receive by a guard is a
 * typed selective receive.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../../src/distribution/node.ts';
import { is } from '../../src/etf/guard.ts';
import { isStringKeyed } from '../../src/etf/js.ts';
import { atom, tuple, type Term } from '../../src/etf/terms.ts';
import { PortSlices } from '../support/ports.ts';
import { Fixture, type ErlNode } from './helpers.ts';

const fx = new Fixture(PortSlices.groups.terms);
let erl: ErlNode;
let node: Node;

before(async () => {
  await fx.startEpmd();
  erl = await fx.startErl('app');
  node = await fx.startNode('js', { terms: 'js' });
});
after(() => fx.cleanup());

test('rpc results arrive as strings and objects, typed by rpc<T>()', async () => {
  const user = await node.rpc<{ user_id: number; name: string }>(erl.name, 'maps', 'from_list', [
    [tuple(Buffer.from('user_id'), 7), tuple(Buffer.from('name'), Buffer.from('Ann'))],
  ]);
  assert.equal(user.name, 'Ann');
  assert.equal(user.user_id, 7);
  assert.ok(isStringKeyed(user));
  // Sent back, the object is the same map in Erlang: binary keys.
  const same = await node.rpc(erl.name, 'erlang', '=:=', [
    user,
    new Map<Term, Term>([
      [Buffer.from('user_id'), 7],
      [Buffer.from('name'), Buffer.from('Ann')],
    ]),
  ]);
  assert.equal(same, true);
});

test('receive(guard) takes the first message of that shape, typed, in the JS-friendly mapping', async () => {
  const order = is.tuple(is.atom('order'), is.object({ id: is.integer, item: is.string }));
  let result: { id: number | bigint; item: string; other: Term } | undefined;
  const proc = node.spawn(async (self) => {
    const [, body] = (await self.receive(order, 30_000)).elements;
    // The message that did not match stays in the mailbox, in front.
    const other = await self.receive(undefined, 30_000);
    result = { id: body.id, item: body.item, other };
  });
  await erl.eval(
    node,
    'P ! {noise, <<"first">>}, P ! {order, #{<<"id">> => 1, <<"item">> => <<"tea">>}}, ok',
    {
      P: proc.pid,
    },
  );
  assert.equal(await proc.exited, atom('normal'));
  assert.deepEqual(result, { id: 1, item: 'tea', other: tuple(atom('noise'), 'first') });
});

test('exposed functions get their arguments in the JS-friendly mapping', async () => {
  node.expose('greeter', {
    hello: (who) => `hello ${(who as { name: string }).name}`,
  });
  const reply = await erl.eval(
    node,
    `rpc:call('${node.name}', greeter, hello, [#{<<"name">> => <<"Ann">>}])`,
  );
  assert.equal(reply, 'hello Ann');
});
