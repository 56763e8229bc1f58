/**
 * pg between the TS node and OTP 25 on this machine (OTP 27 and 29: groups-containers.test.ts), and
 * hostile scope messages: shapes OTP would crash on, strangers' joins, forged 'DOWN's, floods.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Fixture, type ErlNode } from './helpers.ts';
import { pgScenario } from './pg-scenario.ts';
import { PortSlices } from '../support/ports.ts';
import type { Node } from '../../src/distribution/node.ts';
import { atom, Pid, Reference, tuple, type Term } from '../../src/etf/terms.ts';

const f = new Fixture(PortSlices.groups.pg);
let erl: ErlNode;
let ts: Node;
/** A hidden TS node that only drives the Erlang agent, so the TS node under test can disconnect. */
let driver: Node;

before(async () => {
  await f.startEpmd();
  erl = await f.startErl('pg_otp25');
  ts = await f.startNode('pg_ts', { limits: { pgRemoteMembers: 50 } });
  driver = await f.startNode('pg_driver', { hidden: true });
});

after(async () => {
  await f.cleanup();
});

test(
  'pg with OTP 25: joins and leaves both sides, monitors, two scopes, exits, nodedown and re-sync',
  { timeout: 120_000 },
  async () => {
    await pgScenario(ts, erl.name, (src) => erl.eval(driver, src));
  },
);

test(
  'a scope ignores what a peer must not send, and bounds what it records',
  { timeout: 60_000 },
  async () => {
    const scope = ts.pg('hostile_scope');
    const peerNode = erl.name;
    assert.ok(await ts.ping(peerNode));
    const fake = (id: number, node = peerNode) => new Pid(atom(node), id, 0, 1);
    const shapes: Term[] = [
      atom('x'),
      tuple(atom('discover')),
      tuple(atom('discover'), atom('notapid')),
      tuple(atom('discover'), fake(1, 'nobody@nowhere')),
      tuple(atom('join'), fake(2), atom('g'), fake(3)), // not in sync with that scope
      tuple(atom('leave'), fake(2), fake(3), atom('notalist')),
      tuple(atom('$gen_cast'), tuple(atom('sync'), fake(2), atom('notalist'))),
      tuple(
        atom('$gen_cast'),
        tuple(atom('sync'), fake(2), [tuple(atom('g'), [new Pid(atom('third@node'), 9, 0, 1)])]),
      ),
      tuple(atom('DOWN'), new Reference(atom(ts.name), 1, [1, 2, 3]), atom('process'), fake(2), atom('x')),
      tuple(atom('$gen_call'), tuple(fake(4), atom('tag')), atom('monitor')),
    ];
    for (const m of shapes) scope.handle(m);
    assert.equal(scope.whichGroups().length, 0);
    assert.equal(scope.process.alive, true);
    // A sync from a connected peer's scope counts; past the member bound, the rest is dropped.
    const flood = Array.from({ length: 200 }, (_, i) => fake(100 + i));
    scope.handle(tuple(atom('$gen_cast'), tuple(atom('sync'), fake(2), [tuple(atom('big'), flood)])));
    assert.equal(scope.getMembers(atom('big')).length, 50);
    scope.handle(tuple(atom('join'), fake(2), atom('more'), [fake(999)]));
    assert.equal(scope.getMembers(atom('more')).length, 0);
    // A leave from that scope frees room.
    scope.handle(tuple(atom('leave'), fake(2), flood.slice(0, 10), [atom('big')]));
    assert.equal(scope.getMembers(atom('big')).length, 40);
    scope.handle(tuple(atom('join'), fake(2), atom('more'), [fake(999)]));
    assert.equal(scope.getMembers(atom('more')).length, 1);
  },
);
