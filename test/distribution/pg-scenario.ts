/**
 * The pg interoperability scenario, run against OTP 25 on this machine (pg.test.ts) and against
 * OTP 27 and 29 in containers (groups-containers.test.ts): joins and leaves on both sides,
 * monitors, two scopes at once, a member's exit, nodedown clean-up and the re-sync on reconnect.
 */
import assert from 'node:assert/strict';
import type { Node } from '../../src/distribution/node.ts';
import type { GroupChange } from '../../src/distribution/pg.ts';
import { formatTerm } from '../../src/etf/format.ts';
import { atom, Pid, type Term } from '../../src/etf/terms.ts';
import { waitFor } from '../support/processes.ts';

/** Evaluates Erlang expressions (ending in a value) on the OTP node under test, from anywhere. */
export type ErlEval = (source: string) => Promise<Term>;

const has = (pids: Term, pid: Pid) =>
  Array.isArray(pids) && pids.some((p) => p instanceof Pid && formatTerm(p) === formatTerm(pid));

let runs = 0;

export async function pgScenario(ts: Node, otpNode: string, erl: ErlEval): Promise<void> {
  // Fresh group names per run, so several OTP nodes can be tested with one TS node.
  const n = ++runs;
  const [g, h] = [`g${n}`, `h${n}`];
  await erl('[pg:start(S) || S <- [pg, other_scope]], ok');
  const pg = ts.pg();
  const other = ts.pg('other_scope');
  assert.ok(await ts.ping(otpNode));
  await waitFor(
    () => pg.peerNodes().includes(otpNode) && other.peerNodes().includes(otpNode),
    'both scopes in sync',
  );

  // TS members, seen by pg:get_members/2; the same group name in two scopes stays apart.
  const a = ts.spawn((self) => self.receive());
  const b = ts.spawn((self) => self.receive());
  const changes: GroupChange[] = [];
  const watch = pg.monitorScope((c) => changes.push(c));
  pg.join(atom(g), [a, b]);
  other.join(atom(g), b);
  await waitFor(async () => {
    const inPg = await erl(`pg:get_members(pg, ${g})`);
    const inOther = await erl(`pg:get_members(other_scope, ${g})`);
    return has(inPg, a.pid) && has(inPg, b.pid) && has(inOther, b.pid) && !has(inOther, a.pid);
  }, 'OTP to see the TS members of both scopes');

  // An OTP member, seen by getMembers, and its join notified.
  const p = (await erl(
    `P = spawn(fun() -> receive stop -> ok end end), register(pg_member, P), ok = pg:join(pg, ${g}, P), ok = pg:join(pg, ${h}, P), P`,
  )) as Pid;
  await waitFor(() => has(pg.getMembers(atom(g)), p) && has(pg.getMembers(atom(h)), p), 'the OTP member');
  assert.ok(changes.some((c) => c.action === 'join' && has(c.pids, p)));
  assert.deepEqual(pg.getLocalMembers(atom(g)).map(formatTerm).sort(), [a.pid, b.pid].map(formatTerm).sort());
  assert.ok(pg.whichGroups().some((x) => formatTerm(x) === h));
  assert.equal(other.getMembers(atom(h)).length, 0);

  // Leaves both sides.
  assert.equal(pg.leave(atom(g), a), true);
  assert.equal(pg.leave(atom(g), a), false);
  await waitFor(async () => !has(await erl(`pg:get_members(pg, ${g})`), a.pid), 'OTP to see the TS leave');
  await erl(`ok = pg:leave(pg, ${h}, whereis(pg_member))`);
  await waitFor(() => !has(pg.getMembers(atom(h)), p), 'the OTP leave');
  assert.ok(changes.some((c) => c.action === 'leave' && formatTerm(c.group) === h && has(c.pids, p)));

  // Exits: a TS member's exit reaches OTP; an OTP member's exit reaches TS.
  b.stop();
  await waitFor(async () => {
    return (
      !has(await erl(`pg:get_members(pg, ${g})`), b.pid) &&
      !has(await erl(`pg:get_members(other_scope, ${g})`), b.pid)
    );
  }, 'OTP to drop the exited TS member');
  await erl('pg_member ! stop, ok');
  await waitFor(() => !has(pg.getMembers(atom(g)), p), 'TS to drop the exited OTP member');
  watch.cancel();

  // Nodedown: each side drops the other's members; reconnecting syncs them again.
  const c = ts.spawn((self) => self.receive());
  pg.join(atom(g), c);
  const q = (await erl(
    `Q = spawn(fun() -> receive stop -> ok end end), ok = pg:join(pg, ${g}, Q), Q`,
  )) as Pid;
  await waitFor(
    async () => has(pg.getMembers(atom(g)), q) && has(await erl(`pg:get_members(pg, ${g})`), c.pid),
    'both members',
  );
  const groupWatch = pg.monitor(atom(g), () => undefined);
  assert.ok(has(groupWatch.members, q));
  groupWatch.cancel();
  ts.disconnect(otpNode);
  await waitFor(() => !has(pg.getMembers(atom(g)), q), 'TS to drop the OTP members at nodedown');
  // `erl` reaches the OTP node without the TS node, so this reads its view while disconnected.
  await waitFor(
    async () => !has(await erl(`pg:get_members(pg, ${g})`), c.pid),
    'OTP to drop the TS members at nodedown',
  );
  assert.ok(await ts.ping(otpNode));
  await waitFor(
    async () => has(await erl(`pg:get_members(pg, ${g})`), c.pid),
    'OTP to see the TS member again',
  );
  await waitFor(() => has(pg.getMembers(atom(g)), q), 'TS to see the OTP member again');
  assert.ok(pg.peerNodes().includes(otpNode));
}
