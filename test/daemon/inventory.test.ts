/**
 * The containers part of the membership document (src/daemon/inventory.ts): what this host lists,
 * what another host is shown, and a peer's reply read as hostile text (fuzzed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { CatalogEntry } from '../../src/docker/inspect.ts';
import { readContainer } from '../../src/docker/inspect.ts';
import type { Skip } from '../../src/docker/skips.ts';
import { hostContainers, membershipDocument, readPeerInventory } from '../../src/daemon/inventory.ts';
import { readPeerMembers, type ClusterView } from '../../src/daemon/membership-document.ts';
import { fuzzing } from '../fuzz.ts';

const { runs, guarded } = fuzzing('INVENTORY_FUZZ_SEED', 0x1a7e, Error);
const ID = (c: string) => c.repeat(64);

function inspect(id: string, labels: Record<string, string>, ports: unknown) {
  return {
    Id: id,
    Name: `/${labels['name'] ?? 'c'}`,
    State: { Running: true },
    Config: {
      Hostname: id.slice(0, 12),
      Image: 'eid-otp25',
      Labels: labels,
      ExposedPorts: { '12345/tcp': {} },
    },
    NetworkSettings: { Ports: { '12345/tcp': ports } },
  };
}

const served = readContainer(
  inspect(ID('a'), { name: 'web', 'eid.cluster': 'shop' }, [{ HostIp: '', HostPort: '32768' }]),
  12345,
  [],
);
const skipped = readContainer(
  inspect(ID('b'), { name: 'lonely', 'eid.cluster': '<b>x</b>' }, null),
  12345,
  [],
);
const plain = readContainer(
  inspect(ID('c'), { name: 'plain' }, [{ HostIp: '', HostPort: '32769' }]),
  12345,
  [],
);

const view: ClusterView = {
  name: 'shop',
  reconcileIntervalMs: 1000,
  lastReconcile: null,
  members: [
    {
      node: `aaaaaaaaaaaa@10.0.0.1`,
      container: 'aaaaaaaaaaaa',
      name: 'web',
      mesh: true,
      state: 'up',
      connected: [],
    },
  ],
  hosts: [],
};

const entries = [served!.entry!, plain!.entry!] as CatalogEntry[];
const skips = [skipped!.skip!] as Skip[];

test('this host lists served containers with port, node and labels, and skipped ones with the reason', () => {
  const list = hostContainers(entries, skips, [view]);
  assert.deepEqual(
    list.map((c) => [c.name, c.image, c.node, c.cluster, c.hostPort, c.served, c.skips.map((s) => s.reason)]),
    [
      ['lonely', 'eid-otp25', null, null, null, false, ['no_node_port']],
      ['plain', 'eid-otp25', null, null, 32769, true, []],
      ['web', 'eid-otp25', 'aaaaaaaaaaaa@10.0.0.1', 'shop', 32768, true, []],
    ],
  );
  // The raw label, markup and all: it is data, the page shows it as text.
  assert.deepEqual(list[0]!.labels, { 'eid.cluster': '<b>x</b>' });
  assert.equal(list[0]!.skips[0]!.text, 'publishes no host port for its node port');
});

test("another host sees its shared clusters' containers and unlabelled ones, and no peers", () => {
  const source = {
    entries: () => entries,
    skips: () => skips,
    registered: () => [{ name: 'local', port: 4000 }],
  };
  const peers = [
    { host: '10.0.0.9', reachable: true, lastSeen: null, error: null, containers: [], registered: [] },
  ];
  const local = membershipDocument('10.0.0.1', source, { views: [view], all: [view], peers });
  assert.deepEqual(
    local.containers.map((c) => c.name),
    ['lonely', 'plain', 'web'],
  );
  assert.deepEqual(local.peers, peers);
  assert.deepEqual(local.registered, [{ name: 'local', port: 4000 }]);
  const other = membershipDocument('10.0.0.1', source, { views: [], all: [view], peers }, new Set(['blog']));
  assert.deepEqual(
    other.containers.map((c) => c.name),
    ['lonely', 'plain'],
  );
  assert.deepEqual(other.peers, []);
  // What this host says is what a peer reads back.
  assert.deepEqual(readPeerInventory(JSON.stringify(local)), {
    containers: local.containers,
    registered: local.registered,
  });
});

test("a peer's members carry what they are connected to and their load; bad figures are dropped", () => {
  const stats = { memoryBytes: 1000, processes: 50, runQueue: 1, at: '2026-01-01T00:00:00Z' };
  const doc = (m: object) =>
    JSON.stringify({
      version: 1,
      host: 'h',
      clusters: [{ name: 'shop', members: [{ node: 'a@h', state: 'up', ...m }] }],
    });
  assert.deepEqual(readPeerMembers(doc({ connected: ['b@h', '<x>', 7], stats }), 'shop', 'h'), [
    { node: 'a@h', mesh: true, connected: ['b@h'], stats },
  ]);
  assert.equal(
    readPeerMembers(doc({ stats: { ...stats, processes: -1 } }), 'shop', 'h')[0]!.stats,
    undefined,
  );
});

test('fuzz: any peer reply yields typed, bounded containers and registered nodes, never a throw', () => {
  const valid = JSON.stringify(
    membershipDocument(
      'h',
      { entries: () => entries, skips: () => skips },
      { views: [], all: [view], peers: [] },
    ),
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc
          .record({ containers: fc.array(fc.anything()), registered: fc.array(fc.anything()) })
          .map((o) => JSON.stringify(o)),
        fc
          .tuple(fc.nat(valid.length), fc.nat(valid.length), fc.string({ maxLength: 8 }))
          .map(
            ([at, cut, insert]) =>
              valid.slice(0, at) + insert + valid.slice(Math.min(valid.length, at + (cut % 5))),
          ),
      ),
      (text) => {
        const result = guarded('readPeerInventory', () => readPeerInventory(text));
        assert.ok(!(result instanceof Error), String(result));
        for (const c of result.containers) {
          for (const s of [c.id, c.name, c.image, ...c.names, ...Object.entries(c.labels).flat()])
            assert.ok(typeof s === 'string' && s.length <= 256);
          assert.ok(
            c.hostPort === null || (Number.isInteger(c.hostPort) && c.hostPort > 0 && c.hostPort < 65536),
          );
          assert.equal(typeof c.served, 'boolean');
        }
        for (const r of result.registered) assert.ok(typeof r.name === 'string' && Number.isInteger(r.port));
      },
    ),
    runs(2000),
  );
});
