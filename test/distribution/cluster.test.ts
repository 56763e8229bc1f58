/**
 * A visible TS node in a cluster of OTP 25 nodes running `global` with default settings
 * (prevent_overlapping_partitions is on in OTP 25): it must stay connected while global
 * syncs, registers names and reacts to partitions between the OTP nodes.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Fixture, type ErlNode } from './helpers.ts';
import { PortSlices } from '../support/ports.ts';
import { waitFor } from '../support/processes.ts';
import type { Node } from '../../src/distribution/node.ts';
import { atom, Atom, Pid } from '../../src/etf/terms.ts';

const f = new Fixture(PortSlices.distribution.cluster);

before(async () => {
  await f.startEpmd();
});

after(async () => {
  await f.cleanup();
});

interface Cluster {
  a: ErlNode;
  b: ErlNode;
  ts: Node;
  /** Every nodedown the TS node saw. */
  downs: string[];
}

let clusters = 0;

/** Nodes of their own for each test (names never reused): OTP nodes A and B, the TS node. */
async function startNodes(t: TestContext): Promise<{ a: ErlNode; b: ErlNode; ts: Node }> {
  const n = ++clusters;
  const a = await f.startErl(`cluster_a${n}`);
  const b = await f.startErl(`cluster_b${n}`);
  const ts = await f.startNode(`ts_cluster${n}`);
  t.after(() => Promise.all([ts.stop(), a.proc.kill(), b.proc.kill()]));
  return { a, b, ts };
}

/** A and B connected to each other and to the TS node, global synced on both. */
async function startCluster(t: TestContext): Promise<Cluster> {
  const { a, b, ts } = await startNodes(t);
  const downs: string[] = [];
  ts.on('nodedown', (name) => downs.push(name));
  assert.equal(await a.eval(ts, `net_adm:ping('${b.name}')`), atom('pong'));
  assert.equal(await ts.ping(b.name), true);
  assert.deepEqual(ts.nodes().sort(), [a.name, b.name].sort());
  assert.equal(await a.eval(ts, 'global:sync()'), atom('ok'));
  assert.equal(await b.eval(ts, 'global:sync()'), atom('ok'));
  return { a, b, ts, downs };
}

async function visibleFrom(ts: Node, node: ErlNode): Promise<string[]> {
  return ((await node.eval(ts, 'nodes()')) as Atom[]).map((n) => n.name);
}

test(
  'a three-node cluster with global: the TS node is visible and stays connected',
  { timeout: 60_000 },
  async (t) => {
    const { a, b, ts, downs } = await startCluster(t);
    // global works between the OTP nodes with the TS node in the cluster.
    const pid = (await a.eval(
      ts,
      `P = spawn(fun() -> receive stop -> ok end end), yes = global:register_name(eid_global_test, P), P`,
    )) as Pid;
    await waitFor(
      async () => (await b.eval(ts, 'global:whereis_name(eid_global_test)')) instanceof Pid,
      'the global name on B',
    );
    assert.equal(((await b.eval(ts, 'global:whereis_name(eid_global_test)')) as Pid).id, pid.id);
    assert.ok((await visibleFrom(ts, a)).includes(ts.name));
    assert.ok((await visibleFrom(ts, b)).includes(ts.name));
    assert.deepEqual(downs, []);
  },
);

test(
  'a partition between the OTP nodes does not make global drop the TS node',
  { timeout: 60_000 },
  async (t) => {
    const { a, b, ts, downs } = await startCluster(t);
    await a.eval(ts, `erlang:disconnect_node('${b.name}')`);
    // Let both global servers notice and settle; prevent_overlapping_partitions acts in this window.
    await a.eval(ts, 'global:sync(), timer:sleep(1000), global:sync()');
    await b.eval(ts, 'global:sync()');
    assert.ok((await visibleFrom(ts, a)).includes(ts.name), 'A still sees TS');
    assert.ok((await visibleFrom(ts, b)).includes(ts.name), 'B still sees TS');
    assert.deepEqual(ts.nodes().sort(), [a.name, b.name].sort());
    assert.deepEqual(downs, []);
    assert.equal(await ts.ping(a.name), true);
    assert.equal(await ts.ping(b.name), true);
  },
);

test(
  'the TS node dropping one OTP node: prevent_overlapping_partitions is honoured, then all reconnect',
  { timeout: 60_000 },
  async (t) => {
    // A must know B (global synced) to tell B that it lost us.
    const { a, b, ts } = await startCluster(t);
    ts.disconnect(a.name);
    // B still sees A, which lost us: B's global asks us to disconnect from B too (remove_connection).
    await waitFor(() => ts.nodes().length === 0, 'global on B removing the connection', 30000);
    assert.equal(await ts.ping(a.name), true);
    assert.equal(await ts.ping(b.name), true);
    assert.equal(await a.eval(ts, 'global:sync()'), atom('ok'));
    assert.equal(await b.eval(ts, 'global:sync()'), atom('ok'));
    assert.ok((await visibleFrom(ts, b)).includes(a.name), 'the OTP nodes kept each other');
    assert.ok((await visibleFrom(ts, a)).includes(ts.name));
    assert.ok((await visibleFrom(ts, b)).includes(ts.name));
  },
);

test(
  'the TS node syncing with B while A and B are still connecting: A learns B from us (new_nodes)',
  { timeout: 60_000 },
  async (t) => {
    // The race startCluster used to lose now and then, forced: A's global is held
    // still while B connects to A and we sync with B. B learns A from our `resolved` (we know A)
    // and tells A it is in sync, which ends A's own session with B; only our new_nodes to A can
    // then make A know B, and without it global:sync() on B waits for A forever.
    const { a, b, ts } = await startNodes(t);
    assert.equal(await a.eval(ts, 'global:sync()'), atom('ok'));
    await a.eval(ts, 'sys:suspend(global_name_server)');
    try {
      assert.equal(await b.eval(ts, `net_adm:ping('${a.name}')`), atom('pong'));
      assert.equal(await ts.ping(b.name), true);
      const knownOnB = async () =>
        ((await b.eval(ts, 'gen_server:call(global_name_server, get_known)')) as Atom[]).map((x) => x.name);
      await waitFor(async () => (await knownOnB()).includes(a.name), 'B knowing A through the TS node');
    } finally {
      await a.eval(ts, 'sys:resume(global_name_server)');
    }
    assert.equal(await b.eval(ts, 'global:sync()'), atom('ok'));
    assert.equal(await a.eval(ts, 'global:sync()'), atom('ok'));
    const knownOnA = (await a.eval(ts, 'gen_server:call(global_name_server, get_known)')) as Atom[];
    assert.deepEqual(knownOnA.map((x) => x.name).sort(), [b.name, ts.name].sort());
  },
);
