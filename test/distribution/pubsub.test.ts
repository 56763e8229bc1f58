/**
 * node.pubsub against the Phoenix.PubSub stand-in (phoenix_pubsub_standin.ex, docs/node.md) on a real
 * Elixir 1.14 node of this machine, pool of 3 on both sides. The acceptance across two Docker hosts
 * is in groups-containers.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Fixture, type ErlNode } from './helpers.ts';
import { PortSlices } from '../support/ports.ts';
import { waitFor } from '../support/processes.ts';
import type { Node } from '../../src/distribution/node.ts';
import type { Process } from '../../src/distribution/process.ts';
import type { PubSub } from '../../src/distribution/pubsub.ts';
import { formatTerm } from '../../src/etf/format.ts';
import { atom, Pid, Tuple, tuple, type Term } from '../../src/etf/terms.ts';

const STANDIN = fileURLToPath(new URL('./phoenix_pubsub_standin.ex', import.meta.url));
const f = new Fixture(PortSlices.groups.pubsub);
let ex: ErlNode;
let ts: Node;
let driver: Node;
let ps: PubSub;
let inbox: Process;

/** The next `{got, Message}` the Elixir collector forwarded. */
async function nextForwarded(): Promise<Term> {
  const m = (await inbox.receive(undefined, 15_000)) as Tuple;
  return m.elements[1]!;
}

before(async () => {
  await f.startEpmd();
  ex = await f.startElixir('pubsub_ex');
  ts = await f.startNode('pubsub_ts');
  driver = await f.startNode('pubsub_driver', { hidden: true });
  await ex.eval(
    driver,
    `Code.require_file(${JSON.stringify(STANDIN)}); {:ok, sup} = Phoenix.PubSub.start_link(name: Demo.PubSub, pool_size: 3); Process.unlink(sup); :ok`,
  );
  ps = ts.pubsub('Demo.PubSub', { poolSize: 3 });
  inbox = ts.spawn(() => new Promise(() => undefined));
  assert.ok(await ts.ping(ex.name));
  // An Elixir subscriber of "room:1" that forwards what it gets to `inbox`.
  await ex.eval(
    driver,
    `parent = self()
     spawn(fn ->
       Phoenix.PubSub.subscribe(Demo.PubSub, "room:1")
       send(parent, :subscribed)
       loop = fn loop -> receive do m -> send(target, {:got, m}); loop.(loop) end end
       loop.(loop)
     end)
     receive do :subscribed -> :ok end`,
    { target: inbox.pid },
  );
  await waitFor(async () => {
    const members = await ex.eval(driver, ':pg.get_members(Phoenix.PubSub, :"Elixir.Demo.PubSub.Adapter_3")');
    return Array.isArray(members) && members.some((p) => p instanceof Pid && p.node.name === ts.name);
  }, 'the Elixir node to see the TS workers');
});

after(async () => {
  await f.cleanup();
});

test('workers: one per group of the pool, registered under the group names', () => {
  assert.deepEqual(ps.groups, [
    'Elixir.Demo.PubSub.Adapter',
    'Elixir.Demo.PubSub.Adapter_2',
    'Elixir.Demo.PubSub.Adapter_3',
  ]);
  for (const g of ps.groups) assert.ok(ts.whereis(g) instanceof Pid);
});

test(
  'an Elixir subscriber receives what TS broadcasts, direct-broadcasts and sends from a process',
  { timeout: 60_000 },
  async () => {
    ps.broadcast('room:1', tuple(atom('hello'), Buffer.from('from ts')));
    assert.equal(formatTerm(await nextForwarded()), '{hello,<<"from ts">>}');
    // Not to the Elixir node: a local broadcast; then a marker, which must be the next to arrive.
    ps.localBroadcast('room:1', atom('local_only'));
    ps.directBroadcast(ex.name, 'room:1', atom('direct'));
    assert.equal(formatTerm(await nextForwarded()), 'direct');
    // Broadcasts from several TS processes pick different groups; each arrives once.
    const senders = Array.from({ length: 6 }, () => ts.spawn(() => new Promise(() => undefined)));
    senders.forEach((s, i) => ps.broadcastFrom(s, 'room:1', i));
    const got: Term[] = [];
    for (const _ of senders) got.push(await nextForwarded());
    assert.deepEqual(got.map(Number).sort(), [0, 1, 2, 3, 4, 5]);
  },
);

test(
  'a TS subscriber receives Elixir broadcasts from any group, and broadcastFrom skips its sender',
  { timeout: 60_000 },
  async () => {
    const received: Term[] = [];
    const unsubscribe = ps.subscribe('room:2', (m, topic, dispatcher) => {
      assert.equal(topic, 'room:2');
      assert.equal(dispatcher, 'Elixir.Phoenix.PubSub');
      received.push(m);
    });
    await ex.eval(
      driver,
      'for n <- 1..8, do: spawn(fn -> Phoenix.PubSub.broadcast(Demo.PubSub, "room:2", {:n, n}) end); :ok',
    );
    await waitFor(() => received.length === 8, 'eight broadcasts');
    await ex.eval(
      driver,
      'Phoenix.PubSub.direct_broadcast(:"' + ts.name + '", Demo.PubSub, "room:2", :direct)',
    );
    await waitFor(() => received.length === 9, 'the direct broadcast');
    // A process subscriber gets messages in its mailbox; broadcastFrom leaves its sender out.
    const proc = ts.spawn(() => new Promise(() => undefined));
    ps.subscribe('room:2', proc);
    ps.broadcastFrom(proc, 'room:2', atom('not_to_self'));
    ps.broadcast('room:2', atom('to_all'));
    assert.equal(formatTerm(await proc.receive(undefined, 5000)), 'to_all');
    assert.equal(received.filter((m) => formatTerm(m) === 'not_to_self').length, 1);
    unsubscribe();
    ps.unsubscribe('room:2', proc);
    assert.equal(ps.topics().has('room:2'), false);
  },
);

test(':pg.get_members lists the TS worker until the TS node stops', { timeout: 60_000 }, async () => {
  const members = async () => {
    const m = await ex.eval(driver, ':pg.get_members(Phoenix.PubSub, Demo.PubSub.Adapter)');
    return Array.isArray(m) ? m.filter((p) => p instanceof Pid && p.node.name === ts.name).length : -1;
  };
  assert.equal(await members(), 1);
  await ts.stop();
  await waitFor(async () => (await members()) === 0, 'the TS member to go');
});
