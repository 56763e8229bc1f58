/**
 * Which container a name means (IDs first, shared names answer none), why a container is not
 * served, which binding serves which local address, and the refresh queue's bounds. No sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContainerTable } from '../../src/docker/catalog.ts';
import { portFor, readContainer, type CatalogEntry, type InspectReply } from '../../src/docker/inspect.ts';
import { RefreshQueue } from '../../src/docker/refresh-queue.ts';
import { SkippedContainers, type Skip } from '../../src/docker/skips.ts';
import type { Logger } from '../../src/log.ts';

const VICTIM = '3f2a9c1b7d4e' + '5'.repeat(52);
const ATTACKER = '9b8c7d6e5f40' + '6'.repeat(52);

function entry(id: string, name: string, hostname: string, labelName?: string): CatalogEntry {
  return { id, name, hostname, labelName, nodePort: 12345, hostPort: id === VICTIM ? 30001 : 30002 };
}

test('a container named after another one’s short ID does not take its name (docker run --name <ID>)', () => {
  const table = new ContainerTable();
  table.set(entry(VICTIM, 'victim', VICTIM.slice(0, 12)));
  table.set(entry(ATTACKER, VICTIM.slice(0, 12), 'attacker'));
  assert.equal(table.find(VICTIM.slice(0, 12))?.id, VICTIM);
  // Whatever the order the two were catalogued in.
  const reversed = new ContainerTable();
  reversed.set(entry(ATTACKER, VICTIM.slice(0, 12), 'attacker'));
  reversed.set(entry(VICTIM, 'victim', VICTIM.slice(0, 12)));
  assert.equal(reversed.find(VICTIM.slice(0, 12))?.id, VICTIM);
  assert.deepEqual([...table.skips()], [{ id: ATTACKER, reason: 'id_like_name', name: VICTIM.slice(0, 12) }]);
});

test('--hostname <ID> -l eid.name=<ID> claims nothing: every ID prefix of 12+ digits means that container only', () => {
  const table = new ContainerTable();
  table.set(entry(VICTIM, 'victim', VICTIM.slice(0, 12)));
  table.set(entry(ATTACKER, 'attacker', VICTIM.slice(0, 12), VICTIM.slice(0, 12)));
  for (const length of [12, 13, 20, 63, 64]) assert.equal(table.find(VICTIM.slice(0, length))?.id, VICTIM);
  // The full ID and long prefixes cannot be claimed either.
  table.set(entry(ATTACKER, VICTIM, VICTIM.slice(0, 20), VICTIM.slice(0, 30)));
  for (const length of [12, 20, 30, 64]) assert.equal(table.find(VICTIM.slice(0, length))?.id, VICTIM);
  assert.equal(table.find('attacker'), undefined);
});

test('a name of 12 to 64 hex digits is only an ID: a hostname like that answers nothing unless it is the container’s own', () => {
  const table = new ContainerTable();
  table.set(entry(VICTIM, 'web', 'deadbeefcafe'));
  assert.equal(table.find('deadbeefcafe'), undefined);
  assert.equal(table.claims('deadbeefcafe'), false);
  assert.deepEqual([...table.skips()], [{ id: VICTIM, reason: 'id_like_name', name: 'deadbeefcafe' }]);
  // Upper case or 11 digits are ordinary names.
  table.set(entry(VICTIM, 'web', 'DEADBEEFCAFE', 'deadbeefcaf'));
  assert.equal(table.find('DEADBEEFCAFE')?.id, VICTIM);
  assert.equal(table.find('deadbeefcaf')?.id, VICTIM);
});

test('a name two containers answer to, through any mix of name, hostname and label, answers neither and is reported', () => {
  const table = new ContainerTable();
  table.set(entry(VICTIM, 'web', VICTIM.slice(0, 12)));
  table.set(entry(ATTACKER, 'other', 'web'));
  assert.equal(table.find('web'), undefined);
  assert.equal(table.claims('web'), true);
  assert.deepEqual(
    [...table.skips()].sort((a, b) => a.id.localeCompare(b.id)),
    [
      { id: VICTIM, reason: 'ambiguous_name', name: 'web' },
      { id: ATTACKER, reason: 'ambiguous_name', name: 'web' },
    ].sort((a, b) => a.id.localeCompare(b.id)),
  );
  table.set(entry(ATTACKER, 'other', 'host', 'web'));
  assert.equal(table.find('web'), undefined);
  table.delete(ATTACKER);
  assert.equal(table.find('web')?.id, VICTIM);
  assert.deepEqual([...table.skips()], []);
  // A container's own name, hostname and label being the same is one name, not a conflict.
  table.set(entry(ATTACKER, 'same', 'same', 'same'));
  assert.equal(table.find('same')?.id, ATTACKER);
});

test('a short hex name that is also another container’s ID prefix answers neither', () => {
  const table = new ContainerTable();
  table.set(entry(VICTIM, 'victim', VICTIM.slice(0, 12)));
  table.set(entry(ATTACKER, '3f2a9c1b', 'attacker'));
  assert.equal(table.find('3f2a9c1b'), undefined);
  assert.equal(table.find(VICTIM.slice(0, 6))?.id, VICTIM);
  assert.equal(table.find(VICTIM.slice(0, 9))?.id, VICTIM);
  assert.ok([...table.skips()].some((s) => s.id === ATTACKER && s.reason === 'ambiguous_name'));
});

function inspect(ports: Record<string, unknown>, extra: Partial<InspectReply> = {}): InspectReply {
  return {
    Id: VICTIM,
    Name: '/web',
    State: { Running: true, Paused: false },
    Config: { Hostname: 'web', Labels: {}, ExposedPorts: {} },
    NetworkSettings: { Ports: ports },
    ...extra,
  };
}

test('containers that cannot be served say why; containers that never mention the node port are not reported', () => {
  const reason = (info: InspectReply, served: string[] = []) =>
    readContainer(info, 12345, served)?.skip?.reason;
  assert.equal(reason(inspect({ '12345/tcp': null })), 'no_node_port');
  assert.equal(reason(inspect({ '12345/tcp': [] })), 'no_node_port');
  assert.equal(reason(inspect({}, { Config: { Labels: { 'eid.name': 'api' } } })), 'no_node_port');
  assert.equal(reason(inspect({}, { Config: { Labels: { 'eid.port': 'x' } } })), 'bad_port_label');
  assert.equal(
    readContainer(inspect({ '80/tcp': [{ HostIp: '', HostPort: '8080' }] }), 12345, []),
    undefined,
  );
  const loopback = readContainer(
    inspect({ '12345/tcp': [{ HostIp: '127.0.0.1', HostPort: '40000' }] }),
    12345,
    [],
  );
  assert.equal(loopback?.skip?.reason, 'loopback_only');
  // Loopback bindings still serve lookups made on this host.
  assert.equal(loopback?.entry?.hostPort, 40000);
  const specific = inspect({ '12345/tcp': [{ HostIp: '10.0.0.1', HostPort: '40001' }] });
  assert.equal(reason(specific, ['10.0.0.2']), 'unserved_address');
  assert.equal(reason(specific, ['10.0.0.1']), undefined);
  assert.equal(reason(specific, []), undefined);
  assert.equal(readContainer(specific, 12345, [])?.entry?.hostPort, 40001);
});

test('the binding that serves a lookup is the one on the address it arrived on, else a wildcard one', () => {
  const reading = readContainer(
    inspect({
      '12345/tcp': [
        { HostIp: '10.0.0.1', HostPort: '40001' },
        { HostIp: '0.0.0.0', HostPort: '40002' },
        { HostIp: '::', HostPort: '40003' },
        { HostIp: '127.0.0.1', HostPort: '40004' },
      ],
    }),
    12345,
    [],
  );
  const e = reading!.entry!;
  assert.equal(portFor(e, '10.0.0.1'), 40001);
  assert.equal(portFor(e, '::ffff:10.0.0.1'), 40001);
  assert.equal(portFor(e, '10.0.0.9'), 40002);
  assert.equal(portFor(e, 'fd00::1'), 40003);
  assert.equal(portFor(e, '127.0.0.1'), 40004);
  assert.equal(portFor(e, undefined), 40002);
  // Published only on 10.0.0.1 (-p 10.0.0.1::12345): served there, and nowhere else.
  const only = readContainer(
    inspect({ '12345/tcp': [{ HostIp: '10.0.0.1', HostPort: '40001' }] }),
    12345,
    [],
  )!.entry!;
  assert.equal(portFor(only, '10.0.0.1'), 40001);
  assert.equal(portFor(only, '10.0.0.2'), undefined);
  assert.equal(portFor(only, '127.0.0.1'), undefined);
  // Entries made without bindings (older callers) serve hostPort everywhere.
  assert.equal(portFor(entry(VICTIM, 'a', 'b'), '10.0.0.2'), 30001);
});

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const none = () => undefined;
  return {
    warnings,
    debug: none,
    info: none,
    error: none,
    warn: (msg, fields) => void warnings.push(`${msg} ${JSON.stringify(fields)}`),
  };
}

test('a skipped container is logged once while it stays skipped, and counted by reason', () => {
  const log = recordingLogger();
  const skipped = new SkippedContainers(log);
  const a: Skip = { id: VICTIM, reason: 'ambiguous_name', name: 'web' };
  const b: Skip = { id: ATTACKER, reason: 'ambiguous_name', name: 'web' };
  skipped.update(['ambiguous_name'], [a, b]);
  skipped.update(['ambiguous_name'], [a, b]);
  skipped.update(['no_node_port'], [{ id: ATTACKER, reason: 'no_node_port' }]);
  assert.equal(log.warnings.length, 3);
  assert.equal(skipped.counts().ambiguous_name, 2);
  assert.equal(skipped.counts().no_node_port, 1);
  assert.equal(skipped.counts().loopback_only, 0);
  skipped.update(['ambiguous_name'], []);
  assert.equal(skipped.counts().ambiguous_name, 0);
  assert.equal(skipped.counts().no_node_port, 1);
  skipped.update(['ambiguous_name'], [a]);
  assert.equal(log.warnings.length, 4);
});

test('refreshes: events for one container coalesce, a few run at once, failures are retried and then given up', async () => {
  let running = 0;
  let most = 0;
  const runs = new Map<string, number>();
  const failing = new Set(['bad', 'flaky']);
  const givenUp: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const queue = new RefreshQueue({
    concurrency: 3,
    attempts: 3,
    minBackoffMs: 1,
    maxBackoffMs: 4,
    run: async (key) => {
      running += 1;
      most = Math.max(most, running);
      runs.set(key, (runs.get(key) ?? 0) + 1);
      await gate;
      running -= 1;
      if (key === 'flaky' && runs.get(key)! >= 2) failing.delete(key);
      if (failing.has(key)) throw new Error(`${key} failed`);
    },
    onGiveUp: (key) => givenUp.push(key),
  });
  for (let i = 0; i < 50; i++) for (const key of ['a', 'b', 'c', 'd', 'e']) queue.push(key);
  queue.push('bad');
  queue.push('flaky');
  release();
  for (let i = 0; i < 500 && queue.size > 0; i++) await sleep(5);
  assert.equal(queue.size, 0);
  assert.ok(most <= 3, `${most} at once`);
  // 50 events for a container while the first refresh of it ran: that one, and one more after it.
  for (const key of ['a', 'b', 'c']) assert.ok(runs.get(key)! <= 2, `${key}: ${runs.get(key)}`);
  for (const key of ['d', 'e']) assert.equal(runs.get(key), 1, key);
  assert.equal(runs.get('bad'), 3);
  assert.deepEqual(givenUp, ['bad']);
  assert.equal(runs.get('flaky'), 2);
});
