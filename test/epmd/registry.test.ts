/**
 * epmd's registration table without sockets: creation numbers (seeded from the clock, bumped on
 * reuse, 32-bit for version 6 and 1..3 for version 5, never 0..3 once 32-bit), duplicate refusal,
 * unregistration when the owner goes (and only of the live registration), NAMES and DUMP order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_REMEMBERED_NAMES,
  MIN_CREATION,
  NodeRegistry,
  bumpCreation,
  creationFor,
  type Registration,
} from '../../src/epmd/registry.ts';
import { decodePort2Reply, dumpLine, type Alive2Request } from '../../src/epmd/protocol.ts';

/** The clock epmd seeds creations from, fixed: 1_000_000 s. */
const NOW_MS = 1_000_000_000;
const SEED = NOW_MS / 1000;

function alive2(name: string, port: number, over: Partial<Alive2Request> = {}): Alive2Request {
  return {
    type: 'alive2',
    port,
    nodeType: 77,
    protocol: 0,
    highestVersion: 6,
    lowestVersion: 5,
    name,
    extra: new Uint8Array(0),
    ...over,
  };
}

/** Registers and fails the test on a refusal. */
function registerOk<T>(registry: NodeRegistry<T>, req: Alive2Request, owner: T): Registration<T> {
  const outcome = registry.register(req, owner, `owner-${String(owner)}`);
  assert.ok('registration' in outcome, `refused: ${'refusal' in outcome ? outcome.refusal : ''}`);
  return outcome.registration;
}

test('creation: seeded from the clock in seconds, plus one; bumped each time the name comes back', () => {
  const registry = new NodeRegistry<string>(() => NOW_MS);
  const seen: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = registerOk(registry, alive2('gamma', 4000), 'conn');
    seen.push(r.creation);
    assert.ok(registry.unregister(r));
  }
  assert.deepEqual(seen, [SEED + 1, SEED + 2, SEED + 3]);
  // Another name starts from the clock again.
  assert.equal(registerOk(registry, alive2('other', 4001), 'conn').creation, SEED + 1);
});

test('creation: version 5 nodes get 1..3, cycling with the same counter', () => {
  const registry = new NodeRegistry<number>(() => NOW_MS);
  const seen: number[] = [];
  for (let i = 0; i < 6; i++) {
    const r = registerOk(registry, alive2('delta', 4000, { highestVersion: 5 }), i);
    seen.push(r.creation);
    registry.unregister(r);
  }
  assert.deepEqual(
    seen,
    [1, 2, 3, 4, 5, 6].map((k) => ((SEED + k) % 3) + 1),
  );
  assert.deepEqual(new Set(seen), new Set([1, 2, 3]));
});

test('creation: the 32-bit counter wraps past 2^32-1 to MIN_CREATION (4), never 0..3', () => {
  assert.equal(MIN_CREATION, 4);
  assert.equal(bumpCreation(0xfffffffe), 0xffffffff);
  assert.equal(bumpCreation(0xffffffff), 4);
  assert.equal(bumpCreation(0), 4);
  assert.equal(bumpCreation(3), 4);
  assert.equal(bumpCreation(4), 5);
  fc.assert(
    fc.property(fc.nat(0xffffffff), fc.integer({ min: 0, max: 10 }), (counter, version) => {
      const next = bumpCreation(counter);
      assert.ok(next >= MIN_CREATION && next <= 0xffffffff);
      const creation = creationFor(next, version);
      if (version >= 6) assert.equal(creation, next);
      else assert.ok(creation >= 1 && creation <= 3);
    }),
  );
  // A clock so late its seconds wrap the counter: the first creation is still 4 or more.
  const late = new NodeRegistry<string>(() => 0xffffffff * 1000);
  assert.equal(registerOk(late, alive2('late', 4000), 'c').creation, 4);
});

test('a live name is refused to a second registrant; the first keeps it', () => {
  const registry = new NodeRegistry<string>(() => NOW_MS);
  const first = registerOk(registry, alive2('beta', 4000), 'first');
  assert.deepEqual(registry.register(alive2('beta', 4001), 'second', 'p'), {
    refusal: 'name already registered',
  });
  assert.equal(registry.get('beta'), first);
  assert.equal(registry.get('beta')?.entry.port, 4000);
  assert.equal(registry.size, 1);
  // The refusal did not touch the counter: the name's next registration is the next creation.
  registry.unregister(first);
  assert.equal(registerOk(registry, alive2('beta', 4001), 'second').creation, first.creation + 1);
});

test("the decoder's refusal (a bad name or extra) is passed on; nothing is registered", () => {
  const registry = new NodeRegistry<string>(() => NOW_MS);
  const refusal = 'node name is empty, too long or not UTF-8';
  assert.deepEqual(registry.register(alive2('', 4000, { refusal }), 'c', 'p'), { refusal });
  assert.equal(registry.size, 0);
  assert.equal(registry.has(''), false);
});

test('unregister when the owner goes: the name is free, its counter remembered; a stale registration is a no-op', () => {
  const registry = new NodeRegistry<string>(() => NOW_MS);
  const old = registerOk(registry, alive2('alpha', 4000), 'conn1');
  assert.equal(registry.unregister(old), true);
  assert.equal(registry.has('alpha'), false);
  assert.deepEqual(registry.registered(), []);
  // The old connection closing again (or late) must not drop the name's new owner.
  const fresh = registerOk(registry, alive2('alpha', 4002), 'conn2');
  assert.equal(registry.unregister(old), false);
  assert.equal(registry.get('alpha'), fresh);
  assert.equal(fresh.owner, 'conn2');
  assert.equal(fresh.creation, old.creation + 1);
});

test('registered(): newest first, with creation and peer; PORT2_RESP encoded once per registration', () => {
  const registry = new NodeRegistry<string>(() => NOW_MS);
  const extra = Uint8Array.of(1, 2, 3);
  registerOk(registry, alive2('n1', 4001), 'a');
  const r2 = registerOk(registry, alive2('nöde', 4002, { nodeType: 72, extra }), 'b');
  assert.deepEqual(
    registry.registered().map(({ name, port, creation, peer }) => ({ name, port, creation, peer })),
    [
      { name: 'nöde', port: 4002, creation: SEED + 1, peer: 'owner-b' },
      { name: 'n1', port: 4001, creation: SEED + 1, peer: 'owner-a' },
    ],
  );
  const decoded = decodePort2Reply(r2.port2Reply);
  assert.ok(decoded !== undefined && decoded.reply.found);
  assert.deepEqual(decoded.reply.entry, r2.entry);
  assert.deepEqual(decoded.reply.entry.extra, extra);
});

test('DUMP: active nodes newest first, then names that left, oldest first; ids stand for fds', () => {
  const registry = new NodeRegistry<string>(() => NOW_MS);
  const a = registerOk(registry, alive2('a', 4001), 'a');
  const b = registerOk(registry, alive2('b', 4002), 'b');
  const c = registerOk(registry, alive2('c', 4003), 'c');
  registry.unregister(c);
  registry.unregister(a);
  assert.equal(
    registry.dumpText(),
    dumpLine('active', 'b', 4002, b.id) + dumpLine('old', 'c', 4003, c.id) + dumpLine('old', 'a', 4001, a.id),
  );
  // A name that comes back is active again and no longer old.
  const a2 = registerOk(registry, alive2('a', 4004), 'a');
  assert.equal(
    registry.dumpText(),
    dumpLine('active', 'a', 4004, a2.id) +
      dumpLine('active', 'b', 4002, b.id) +
      dumpLine('old', 'c', 4003, c.id),
  );
});

test('names that left are remembered up to MAX_REMEMBERED_NAMES; the oldest is forgotten first', () => {
  const registry = new NodeRegistry<number>(() => NOW_MS);
  for (let i = 0; i <= MAX_REMEMBERED_NAMES; i++) {
    assert.ok(registry.unregister(registerOk(registry, alive2(`n${i}`, 4000), i)));
  }
  assert.equal(
    registry
      .dumpText()
      .split('\n\0')
      .filter((l) => l.startsWith('old')).length,
    MAX_REMEMBERED_NAMES,
  );
  // n0 was forgotten: its creation is seeded from the clock again; n1's counter was kept.
  assert.equal(registerOk(registry, alive2('n0', 4000), 0).creation, SEED + 1);
  assert.equal(registerOk(registry, alive2('n1', 4000), 1).creation, SEED + 2);
});
