/**
 * global names from the TS node with two OTP 25 nodes, through global's own locking protocol:
 * registrations both ways, removal when the process or its node dies, unregister, and a name clash
 * at a partition heal resolved as global's default resolver does (the TS node's name sorts first,
 * so the TS node runs the resolver: the pid on the smaller node name stays, the other is killed).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Fixture, type ErlNode } from './helpers.ts';
import { PortSlices } from '../support/ports.ts';
import { waitFor } from '../support/processes.ts';
import type { Node } from '../../src/distribution/node.ts';
import { atom, Pid, type Term } from '../../src/etf/terms.ts';

const f = new Fixture(PortSlices.groups.global);
let a: ErlNode;
let b: ErlNode;
let ts: Node;
let driver: Node;

const samePid = (t: Term, p: Pid | undefined) =>
  t instanceof Pid && p !== undefined && t.id === p.id && t.node.name === p.node.name;
const whereis = (n: ErlNode, name: string) => n.eval(driver, `global:whereis_name(${name})`);

before(async () => {
  await f.startEpmd();
  [a, b] = await Promise.all([f.startErl('ga'), f.startErl('gb')]);
  ts = await f.startNode('g0ts');
  driver = await f.startNode('g0driver', { hidden: true });
  assert.ok(await ts.ping(a.name));
  assert.ok(await ts.ping(b.name));
  for (const n of [a, b]) assert.equal(await n.eval(driver, 'global:sync()'), atom('ok'));
});

after(async () => {
  await f.cleanup();
});

test(
  'TS and OTP registrations are seen on every node; a dead process loses its name',
  { timeout: 90_000 },
  async () => {
    const service = ts.spawn((self) => self.receive());
    assert.equal(await ts.registerGlobal('ts_service', service), true);
    for (const n of [a, b]) assert.ok(samePid(await whereis(n, 'ts_service'), service.pid), n.name);
    assert.ok(samePid(ts.whereisGlobal('ts_service')!, service.pid));
    // Taken names and already-registered pids are refused, as global:register_name/2 does.
    assert.equal(
      await ts.registerGlobal(
        'ts_service',
        ts.spawn((self) => self.receive()),
      ),
      false,
    );
    assert.equal(await ts.registerGlobal('ts_other_name', service), false);

    const p = (await a.eval(
      driver,
      'P = spawn(fun() -> receive stop -> ok end end), yes = global:register_name(otp_service, P), P',
    )) as Pid;
    await waitFor(() => samePid(p, ts.whereisGlobal('otp_service')), 'TS to see the OTP registration');
    assert.equal(
      await ts.registerGlobal(
        'otp_service',
        ts.spawn((self) => self.receive()),
      ),
      false,
    );
    await a.eval(driver, 'global:send(otp_service, stop)');
    await waitFor(() => ts.whereisGlobal('otp_service') === undefined, 'the OTP process name to go');

    service.stop();
    await waitFor(
      async () =>
        (await whereis(a, 'ts_service')) === atom('undefined') &&
        (await whereis(b, 'ts_service')) === atom('undefined'),
      'OTP to drop the dead TS process name',
    );
    assert.equal(ts.whereisGlobal('ts_service'), undefined);

    const again = ts.spawn((self) => self.receive());
    assert.equal(await ts.registerGlobal('ts_service', again), true);
    assert.ok(samePid(await whereis(b, 'ts_service'), again.pid));
    await ts.unregisterGlobal('ts_service');
    assert.equal(await whereis(a, 'ts_service'), atom('undefined'));
    assert.equal(ts.whereisGlobal('ts_service'), undefined);
  },
);

test(
  'a clash at a partition heal is resolved as the default resolver does',
  { timeout: 90_000 },
  async () => {
    ts.disconnect(a.name);
    ts.disconnect(b.name);
    await waitFor(async () => {
      const seen = (await a.eval(driver, 'nodes()')) as Term[];
      return !seen.some((n) => n === atom(ts.name));
    }, 'the partition');
    // Each side registers `clash`: the TS side alone, the OTP side on both OTP nodes.
    const mine = ts.spawn((self) => self.receive());
    assert.equal(await ts.registerGlobal('clash', mine), true);
    const theirs = (await a.eval(
      driver,
      'P = spawn(fun() -> receive stop -> ok end end), yes = global:register_name(clash, P), P',
    )) as Pid;
    assert.ok(await ts.ping(a.name));
    assert.ok(await ts.ping(b.name));
    // g0ts sorts before ga: the TS pid stays, the OTP one is killed, everyone agrees.
    await waitFor(
      async () =>
        samePid(await whereis(a, 'clash'), mine.pid) && samePid(await whereis(b, 'clash'), mine.pid),
      'both OTP nodes to keep the TS pid',
    );
    assert.ok(samePid(ts.whereisGlobal('clash')!, mine.pid));
    await waitFor(
      async () =>
        (await a.eval(driver, `is_process_alive(list_to_pid("<0.${theirs.id}.${theirs.serial}>"))`)) ===
        false,
      'the losing OTP process to be killed',
    );
    assert.equal(mine.alive, true);
  },
);

test("a node's names go when it goes down", { timeout: 60_000 }, async () => {
  const p = (await b.eval(
    driver,
    'P = spawn(fun() -> receive stop -> ok end end), yes = global:register_name(b_service, P), P',
  )) as Pid;
  await waitFor(() => samePid(p, ts.whereisGlobal('b_service')), 'TS to see the name');
  b.proc.child.kill('SIGKILL');
  await waitFor(() => ts.whereisGlobal('b_service') === undefined, 'the name to go with its node');
});
