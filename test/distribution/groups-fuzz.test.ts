/**
 * Hostile pg and global messages: random shapes around the real ones (right tags, random
 * elements, pids of a connected peer and of strangers) delivered to a pg scope and to the node's
 * global_name_server. Nothing may throw, the scope keeps running, and what they record stays
 * within the limits.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Node } from '../../src/distribution/node.ts';
import { StaticResolver } from '../../src/distribution/resolver.ts';
import { atom, Pid, Reference, Tuple, type Term } from '../../src/etf/terms.ts';
import { termArb } from '../etf/arbitraries.ts';
import { fuzzing } from '../fuzz.ts';
import { portAllocator } from '../support/ports.ts';
import { PortSlices } from '../support/ports.ts';

const { runs, replay } = fuzzing('GROUPS_FUZZ_SEED', 0x9a0b5, TypeError);
const nextPort = portAllocator([PortSlices.groups.pg[0] + 80, PortSlices.groups.pg[1]]);
let ts: Node;
let peer: Node;

before(async () => {
  const resolver = new StaticResolver({});
  const [p1, p2] = [await nextPort(), await nextPort()];
  resolver.set('fuzz_ts@127.0.0.1', { host: '127.0.0.1', port: p1 });
  resolver.set('fuzz_peer@127.0.0.1', { host: '127.0.0.1', port: p2 });
  const common = { cookie: 'fuzz', resolver, epmd: { register: false }, listenHost: '127.0.0.1' };
  ts = await Node.start({
    ...common,
    name: 'fuzz_ts@127.0.0.1',
    port: p1,
    limits: { pgRemoteMembers: 30, globalNames: 30 },
  });
  peer = await Node.start({ ...common, name: 'fuzz_peer@127.0.0.1', port: p2 });
  assert.ok(await ts.ping(peer.name));
});

after(async () => {
  await ts?.stop();
  await peer?.stop();
});

const pidArb = fc.oneof(
  fc.nat(40).map((id) => new Pid(atom('fuzz_peer@127.0.0.1'), id, 0, 1)),
  fc.nat(40).map((id) => new Pid(atom('fuzz_ts@127.0.0.1'), id, 0, 1)),
  fc.nat(5).map((id) => new Pid(atom('stranger@nowhere'), id, 0, 1)),
);
const partArb: fc.Arbitrary<Term> = fc.oneof(
  { weight: 3, arbitrary: pidArb },
  { weight: 2, arbitrary: fc.array(pidArb, { maxLength: 8 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<Term>(atom('g1'), atom('g2'), atom('global'), atom('process'), true),
  },
  {
    weight: 1,
    arbitrary: fc.array(
      fc
        .tuple(fc.constantFrom(atom('g1'), atom('g3')), fc.array(pidArb, { maxLength: 6 }))
        .map(([g, p]) => new Tuple([g, p])),
      { maxLength: 4 },
    ),
  },
  { weight: 1, arbitrary: fc.constant(new Reference(atom('fuzz_ts@127.0.0.1'), 1, [1, 2, 3])) },
  { weight: 2, arbitrary: termArb },
);
const tagArb = fc.constantFrom(
  'discover',
  'join',
  'leave',
  'DOWN',
  '$gen_cast',
  '$gen_call',
  'sync',
  'init_connect',
  'lock_set',
  'exchange',
  'resolved',
  'new_nodes',
  'in_sync',
  'register',
  'unregister',
  'set_lock',
  'del_lock',
  'registrar',
  'insert',
);
const messageArb: fc.Arbitrary<Term> = fc.letrec<{ msg: Term }>((tie) => ({
  msg: fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(tagArb, fc.array(fc.oneof(partArb, tie('msg')), { maxLength: 5 }))
        .map(([tag, rest]) => new Tuple([atom(tag), ...rest])),
    },
    { weight: 1, arbitrary: termArb },
  ),
})).msg;

test('random pg and global messages never throw nor grow state past the limits', { timeout: 120_000 }, () => {
  const scope = ts.pg('fuzz_scope');
  fc.assert(
    fc.property(messageArb, (m) => {
      scope.handle(m);
      ts.send('global_name_server', m);
      ts.send('global_name_server', new Tuple([atom('$gen_cast'), m]));
      const remote = scope
        .whichGroups()
        .reduce<number>((n, g) => n + scope.getMembers(g).length - scope.getLocalMembers(g).length, 0);
      assert.ok(remote <= 30, `remote members ${remote} (${replay})`);
      assert.ok(scope.process.alive);
    }),
    runs(400),
  );
});

test('init_connect from ever new node names: what global keeps per connecting node stays bounded', async () => {
  const global = (ts as unknown as { global: { hisTags: Map<string, Term> } }).global;
  const before = global.hisTags.size;
  for (let i = 0; i < 100; i++) {
    const init = new Tuple([
      atom('init_connect'),
      new Tuple([8, i]),
      atom(`ghost${i}@nowhere`),
      new Tuple([atom('locker'), atom('no_longer_a_pid'), [], new Pid(atom('fuzz_peer@127.0.0.1'), 1, 0, 1)]),
    ]);
    ts.send('global_name_server', new Tuple([atom('$gen_cast'), init]));
  }
  // A lock_set and an exchange naming a node that never sent init_connect are ignored outright.
  ts.send(
    'global_name_server',
    new Tuple([
      atom('$gen_cast'),
      new Tuple([atom('lock_set'), new Pid(atom('never@nowhere'), 1, 0, 1), true, [], 1]),
    ]),
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(global.hisTags.size <= Math.max(30, before), `${global.hisTags.size} connecting nodes kept`);
  assert.ok(!global.hisTags.has('never@nowhere'));
});
