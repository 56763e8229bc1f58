/**
 * Erlang's process rules without sockets: the process table and router wired to a recording
 * stand-in for the node's connections. Links, trap_exit, kill, normal, UNLINK_ID, monitors by
 * pid and by name, what a lost node does, how signals from peers are answered, and that a
 * node never relays a peer's message to a third node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DistError } from '../../src/errors.ts';
import { formatTerm } from '../../src/etf/format.ts';
import { termEquals } from '../../src/etf/index.ts';
import { atom, ImproperList, Pid, Reference, tuple, type Term } from '../../src/etf/terms.ts';
import type { Signal, SignalOf } from '../../src/distribution/control.ts';
import type { Process, ProcessHost } from '../../src/distribution/process.ts';
import { ProcessTable, type PeerConnection, type Peers } from '../../src/distribution/process-table.ts';
import { Router, type Services } from '../../src/distribution/router.ts';
import { SYSTEM_NAMES } from '../../src/distribution/services.ts';
import { silentLogger } from '../../src/log.ts';

const NODE = 'table@test';
const PEER = 'peer@test';
const peerAtom = atom(PEER);

interface Sent {
  node: string;
  signal: Signal;
  autoConnect: boolean | undefined;
}

/** A table and router whose signals to other nodes are recorded; nodes in `unreachable` cannot be reached. */
function setup() {
  const sent: Sent[] = [];
  const unreachable = new Set<string>();
  const serviceMail: [string, Term][] = [];
  const peers: Peers & { admit(node: string): void } = {
    admit: () => undefined,
    send: (node, signal, autoConnect) => void sent.push({ node, signal, autoConnect }),
    sendOrElse: (node, signal, orElse) => {
      if (unreachable.has(node)) orElse();
      else sent.push({ node, signal, autoConnect: undefined });
    },
  };
  const services: Services = {
    deliver: (name, message) => {
      if (!SYSTEM_NAMES.has(name)) return false;
      serviceMail.push([name, message]);
      return true;
    },
    spawnRequest: () => assert.fail('no spawn requests here'),
  };
  const host: ProcessHost = {
    send: (dest, message, from) => router.send(dest, message, from),
    sendAsync: (dest, message, from) => Promise.resolve(router.send(dest, message, from)),
    link: (self, other) => table.link(self, other),
    unlink: (self, other) => table.unlink(self, other),
    monitor: (self, target) => table.monitor(self, target),
    demonitor: (self, ref) => table.demonitor(self, ref),
    exitSignal: (from, to, reason) => table.exitSignal(from, to, reason),
    processDied: (self, reason) => table.processDied(self, reason),
    reply: (from, reply, sender) => router.reply(from, reply, sender),
    callFrom: () => Promise.reject(new Error('no calls here')),
    makeRef: () => table.makeRef(),
  };
  const table: ProcessTable = new ProcessTable({
    nodeAtom: atom(NODE),
    creation: 7,
    host,
    peers,
    reserved: SYSTEM_NAMES,
  });
  const router: Router = new Router({ table, peers, services, logger: silentLogger });
  return { table, router, sent, unreachable, serviceMail };
}

/** The connection a peer's signals arrive on, recording our answers. */
function peerConnection(): PeerConnection & { answers: Signal[] } {
  const answers: Signal[] = [];
  return { peerName: PEER, send: (s: Signal) => void answers.push(s), answers };
}

const remotePid = (id = 1) => new Pid(peerAtom, id, 0, 3);

/** The next message already in `proc`'s mailbox (none is an error). */
function next(proc: Process): Promise<Term> {
  return proc.receive(undefined, 0);
}

function assertTerm(actual: Term, expected: Term): void {
  assert.ok(termEquals(actual, expected), `${formatTerm(actual)} is not ${formatTerm(expected)}`);
}

test('a linked process dies with the reason of its link; trap_exit turns it into an EXIT message', async () => {
  const { table } = setup();
  const a = table.spawn();
  const b = table.spawn();
  const c = table.spawn();
  c.trapExit = true;
  table.link(a, b.pid);
  table.link(a, c.pid);
  a.terminate(atom('boom'));
  assertTerm(b.exitReason!, atom('boom'));
  assert.equal(c.alive, true);
  assertTerm(await next(c), tuple(atom('EXIT'), a.pid, atom('boom')));
  assert.equal(c.links.size, 0, 'the link is gone once it fired');
});

test('a normal exit does not take linked processes along; an unlinked process is untouched', () => {
  const { table } = setup();
  const a = table.spawn();
  const b = table.spawn();
  const c = table.spawn();
  table.link(a, b.pid);
  table.link(a, c.pid);
  table.unlink(a, c.pid);
  a.terminate(atom('normal'));
  assert.equal(b.alive, true);
  c.link(b.pid);
  b.terminate(atom('crash'));
  assertTerm(c.exitReason!, atom('crash'));
  assert.equal(table.all().includes(b), false, 'dead processes leave the table');
});

test('exit(Pid, kill) cannot be trapped, its links see killed; exit(Pid, normal) only ends the sender itself', async () => {
  const { table } = setup();
  const a = table.spawn();
  const b = table.spawn();
  const watcher = table.spawn();
  a.trapExit = true;
  watcher.trapExit = true;
  table.link(a, b.pid);
  table.link(a, watcher.pid);
  table.exitSignal(b.pid, a.pid, atom('kill'));
  assertTerm(a.exitReason!, atom('killed'));
  assertTerm(b.exitReason!, atom('killed'));
  assertTerm(await next(watcher), tuple(atom('EXIT'), a.pid, atom('killed')));
  // exit(Pid, normal) from another process is ignored; from itself it ends the process.
  const d = table.spawn();
  table.exitSignal(watcher.pid, d.pid, atom('normal'));
  assert.equal(d.alive, true);
  table.exitSignal(d.pid, d.pid, atom('normal'));
  assertTerm(d.exitReason!, atom('normal'));
});

test('linking to a dead or unknown local pid gives noproc at once', async () => {
  const { table } = setup();
  const dead = table.spawn();
  dead.terminate(atom('normal'));
  const a = table.spawn();
  a.trapExit = true;
  table.link(a, dead.pid);
  assertTerm(await next(a), tuple(atom('EXIT'), dead.pid, atom('noproc')));
  const b = table.spawn();
  table.link(b, new Pid(atom(NODE), 999, 0, 7));
  assertTerm(b.exitReason!, atom('noproc'));
});

test('a link to another node goes out as LINK; an unreachable node breaks it with noconnection', async () => {
  const { table, sent, unreachable } = setup();
  const a = table.spawn();
  a.trapExit = true;
  const remote = remotePid();
  table.link(a, remote);
  assert.deepEqual(sent, [
    { node: PEER, signal: { kind: 'link', from: a.pid, to: remote }, autoConnect: undefined },
  ]);
  unreachable.add('gone@test');
  const lost = new Pid(atom('gone@test'), 1, 0, 1);
  table.link(a, lost);
  assertTerm(await next(a), tuple(atom('EXIT'), lost, atom('noconnection')));
  // When a dies, its remaining remote link gets EXIT, without connecting anew.
  sent.length = 0;
  a.terminate(atom('bye'));
  assert.deepEqual(sent, [
    {
      node: PEER,
      signal: { kind: 'exit', from: a.pid, to: remote, reason: atom('bye') },
      autoConnect: false,
    },
  ]);
});

test('UNLINK_ID: exits from the peer are ignored until it acknowledges the unlink, then the link is gone', () => {
  const { table, router, sent } = setup();
  const a = table.spawn();
  const remote = remotePid();
  const conn = peerConnection();
  table.link(a, remote);
  table.unlink(a, remote);
  const unlink = sent.at(-1)!.signal;
  assert.equal(unlink.kind, 'unlink_id');
  const id = (unlink as SignalOf<'unlink_id'>).id;
  // The peer's exit crossed our unlink: it predates it and is dropped.
  router.onSignal(conn, { kind: 'exit', from: remote, to: a.pid, reason: atom('crossed') });
  assert.equal(a.alive, true);
  assert.equal(a.links.size, 1, 'the link stays until the ack');
  router.onSignal(conn, { kind: 'unlink_id_ack', id, from: remote, to: a.pid });
  assert.equal(a.links.size, 0);
  router.onSignal(conn, { kind: 'exit', from: remote, to: a.pid, reason: atom('late') });
  assert.equal(a.alive, true);
});

test("a peer's UNLINK_ID removes the link and is always acknowledged; our own unlink in flight wins", () => {
  const { table, router } = setup();
  const a = table.spawn();
  const remote = remotePid();
  const conn = peerConnection();
  router.onSignal(conn, { kind: 'link', from: remote, to: a.pid });
  assert.equal(a.links.size, 1);
  router.onSignal(conn, { kind: 'unlink_id', id: 5n, from: remote, to: a.pid });
  assert.equal(a.links.size, 0);
  assert.deepEqual(conn.answers, [{ kind: 'unlink_id_ack', id: 5n, from: a.pid, to: remote }]);
  table.link(a, remote);
  table.unlink(a, remote);
  router.onSignal(conn, { kind: 'unlink_id', id: 6n, from: remote, to: a.pid });
  assert.equal(a.links.size, 1, 'kept until the peer acks ours');
  assert.equal(conn.answers.length, 2);
});

test('a peer linking to or monitoring a process that is gone is told noproc', () => {
  const { table, router } = setup();
  const conn = peerConnection();
  const dead = table.spawn();
  dead.terminate(atom('normal'));
  const remote = remotePid();
  const ref = new Reference(peerAtom, 3, [1, 2, 3]);
  router.onSignal(conn, { kind: 'link', from: remote, to: dead.pid });
  router.onSignal(conn, { kind: 'monitor', from: remote, to: atom('nobody'), ref });
  assert.deepEqual(conn.answers, [
    { kind: 'exit', from: dead.pid, to: remote, reason: atom('noproc') },
    { kind: 'monitor_exit', from: atom('nobody'), to: remote, ref, reason: atom('noproc') },
  ]);
  // net_kernel, rex and global_name_server are the node itself: a monitor on them never fires.
  router.onSignal(conn, { kind: 'monitor', from: remote, to: atom('net_kernel'), ref });
  assert.equal(conn.answers.length, 2);
});

test("a peer's monitor by name fires monitor_exit from the name when the process ends", () => {
  const { table, router, sent } = setup();
  const conn = peerConnection();
  const server = table.spawn();
  table.register('srv', server);
  const remote = remotePid();
  const ref = new Reference(peerAtom, 3, [4, 5, 6]);
  router.onSignal(conn, { kind: 'monitor', from: remote, to: atom('srv'), ref });
  server.terminate(atom('done'));
  assert.deepEqual(sent, [
    {
      node: PEER,
      signal: { kind: 'monitor_exit', from: atom('srv'), to: remote, ref, reason: atom('done') },
      autoConnect: false,
    },
  ]);
  assert.equal(table.named('srv'), undefined, 'a dead process loses its name');
});

test('monitors: DOWN with the reason, {Name, Node} for a name, noproc for nobody, none after demonitor', async () => {
  const { table } = setup();
  const watcher = table.spawn();
  const byPid = table.spawn();
  const byName = table.spawn();
  const quiet = table.spawn();
  table.register('named', byName);
  const r1 = table.monitor(watcher, byPid.pid);
  const r2 = table.monitor(watcher, 'named');
  const r3 = table.monitor(watcher, atom('nobody'));
  const r4 = table.monitor(watcher, quiet.pid);
  table.demonitor(watcher, r4);
  byPid.terminate(atom('r1'));
  byName.terminate(atom('r2'));
  quiet.terminate(atom('r4'));
  const process = atom('process');
  assertTerm(await next(watcher), tuple(atom('DOWN'), r1, process, byPid.pid, atom('r1')));
  assertTerm(
    await next(watcher),
    tuple(atom('DOWN'), r2, process, tuple(atom('named'), atom(NODE)), atom('r2')),
  );
  const noproc = await watcher.receive(undefined, 1000);
  assertTerm(noproc, tuple(atom('DOWN'), r3, process, tuple(atom('nobody'), atom(NODE)), atom('noproc')));
  assert.equal(watcher.queueLength, 0, 'no DOWN after demonitor');
});

test('monitoring a node that cannot be reached gives DOWN noconnection', async () => {
  const { table, unreachable } = setup();
  unreachable.add('gone@test');
  const watcher = table.spawn();
  const target = tuple(atom('srv'), atom('gone@test'));
  const ref = table.monitor(watcher, target);
  assertTerm(await next(watcher), tuple(atom('DOWN'), ref, atom('process'), target, atom('noconnection')));
  assert.throws(
    () => table.monitor(watcher, tuple(1, 2)),
    (e: unknown) => e instanceof DistError && e.code === 'DIST_BADARG',
  );
});

test('node down: links to it break with noconnection, monitors fire, links being unlinked just go', async () => {
  const { table, router } = setup();
  const conn = peerConnection();
  const linked = table.spawn();
  const trapping = table.spawn();
  trapping.trapExit = true;
  const unlinking = table.spawn();
  const remote = remotePid();
  table.link(linked, remote);
  table.link(trapping, remote);
  table.link(unlinking, remote);
  table.unlink(unlinking, remote);
  const ref = table.monitor(trapping, remote);
  const peerRef = new Reference(peerAtom, 3, [7, 8, 9]);
  router.onSignal(conn, { kind: 'monitor', from: remote, to: trapping.pid, ref: peerRef });
  table.nodeDown(PEER);
  assertTerm(linked.exitReason!, atom('noconnection'));
  assertTerm(await next(trapping), tuple(atom('EXIT'), remote, atom('noconnection')));
  assertTerm(await next(trapping), tuple(atom('DOWN'), ref, atom('process'), remote, atom('noconnection')));
  assert.equal(unlinking.alive, true);
  assert.equal(unlinking.links.size, 0);
  assert.equal(trapping.monitoredBy.size, 0, "the peer's monitors on us are forgotten");
});

test('registered names: system names and taken names are refused', () => {
  const { table } = setup();
  const a = table.spawn();
  for (const name of SYSTEM_NAMES) {
    assert.throws(
      () => table.register(name, a),
      (e: unknown) => e instanceof DistError && e.code === 'DIST_NAME_TAKEN',
    );
  }
  table.register('mine', a);
  assert.throws(
    () => table.register('mine', table.spawn()),
    (e: unknown) => e instanceof DistError,
  );
  assert.equal(table.unregister('mine'), true);
  a.terminate(atom('normal'));
  assert.throws(
    () => table.register('again', a),
    (e: unknown) => e instanceof DistError && e.code === 'DIST_NOPROC',
  );
});

test('router: a peer reaches local pids, names and aliases, and the system services; nothing is relayed', async () => {
  const { table, router, sent, serviceMail } = setup();
  const conn = peerConnection();
  const a = table.spawn();
  table.register('named', a);
  const remote = remotePid();
  router.onSignal(conn, { kind: 'send', from: remote, to: a.pid, message: 1 });
  router.onSignal(conn, { kind: 'reg_send', from: remote, to: atom('named'), message: 2 });
  const alias = table.makeRef();
  table.addAlias(a, alias);
  router.onSignal(conn, { kind: 'alias_send', from: remote, alias, message: 3 });
  assert.deepEqual([await next(a), await next(a), await next(a)], [1, 2, 3]);
  router.onSignal(conn, { kind: 'reg_send', from: remote, to: atom('rex'), message: 4 });
  assert.deepEqual(serviceMail, [['rex', 4]]);
  // Messages for a third node, or an alias of one, stop here.
  const third = new Pid(atom('third@test'), 1, 0, 1);
  router.onSignal(conn, { kind: 'send', from: remote, to: third, message: 5 });
  const thirdAlias = new Reference(atom('third@test'), 1, [1, 2, 3]);
  router.onSignal(conn, { kind: 'alias_send', from: remote, alias: thirdAlias, message: 6 });
  assert.deepEqual(sent, []);
  assert.deepEqual(conn.answers, []);
  assert.deepEqual(router.signalCounts(), { send: 2, reg_send: 2, alias_send: 2 });
});

test('router: local processes send to pids here and there, {Name, Node}, and reply through aliases', async () => {
  const { table, router, sent } = setup();
  const a = table.spawn();
  const b = table.spawn();
  const remote = remotePid();
  router.send(b.pid, 'hi', a.pid);
  assert.equal(await next(b), 'hi');
  router.send(remote, 'there', a.pid);
  router.send(tuple(atom('srv'), peerAtom), 'named', a.pid);
  assert.deepEqual(
    sent.map((s) => s.signal),
    [
      { kind: 'send', from: a.pid, to: remote, message: 'there' },
      { kind: 'reg_send', from: a.pid, to: atom('srv'), message: 'named' },
    ],
  );
  const mref = table.makeRef();
  table.addAlias(b, mref);
  const tag = new ImproperList([atom('alias')], mref);
  router.reply(tuple(b.pid, tag), atom('ok'), a.pid);
  assertTerm(await next(b), tuple(tag, atom('ok')));
  assert.throws(
    () => router.send(tuple(1, 2, 3), 'bad', a.pid),
    (e: unknown) => e instanceof DistError && e.code === 'DIST_BADARG',
  );
});
