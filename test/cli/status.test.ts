/** `eid status`: convergence and the table, from status documents (no daemon needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterStatus, formatStatus, missingPeers, type HostStatus } from '../../src/cli/status.ts';
import { formatHostStatus } from '../../src/cli/status-host.ts';
import type { MembershipDocument } from '../../src/daemon/membership-document.ts';
import type { Member } from '../../src/daemon/membership-document.ts';

const member = (node: string, connected: string[], extra: Partial<Member> = {}): Member => ({
  node,
  container: node.slice(0, 1).repeat(12),
  name: node,
  mesh: true,
  state: 'up',
  connected,
  ...extra,
});
const host = (name: string, members: Member[], extra: Partial<HostStatus> = {}): HostStatus => ({
  host: name,
  reachable: true,
  error: null,
  lastReconcile: '2026-12-01T00:00:00.000Z',
  members,
  ...extra,
});

test('converged: every host reconciled and every meshed member connected to every other', () => {
  const full = [host('h1', [member('a@h1', ['b@h2'])]), host('h2', [member('b@h2', ['a@h1'])])];
  assert.equal(clusterStatus('shop', full).converged, true);
  const gap = [host('h1', [member('a@h1', [])]), host('h2', [member('b@h2', ['a@h1'])])];
  assert.deepEqual(missingPeers(gap).get('a@h1'), ['b@h2']);
  assert.equal(clusterStatus('shop', gap).converged, false);
  // A daemon that has not finished a pass knows nothing yet: not converged, even with no members.
  const fresh = [full[0]!, host('h2', [], { lastReconcile: null })];
  assert.equal(clusterStatus('shop', fresh).converged, false);
  const away = [full[0]!, host('h2', [], { reachable: false, error: 'ECONNREFUSED', lastReconcile: null })];
  assert.equal(clusterStatus('shop', away).converged, false);
  // A -connect_all false member is nobody's gap.
  const solo = [host('h1', [member('a@h1', ['b@h2']), member('s@h1', [], { mesh: false })]), full[1]!];
  assert.equal(clusterStatus('shop', solo).converged, true);
});

test('the table: one row per member, gaps named, colour only when asked, peer text escaped', () => {
  const status = clusterStatus('shop', [
    host('h1', [member('a@h1', []), member('x\u001b[2J@h1', [], { state: 'refused' })]),
    host('h2', [member('b@h2', ['a@h1'])]),
    host('h3', [], { reachable: false, error: 'timeout', lastReconcile: null }),
  ]);
  const plain = formatStatus(status, false);
  assert.equal(
    plain,
    [
      'cluster shop: not a full mesh yet',
      'HOST  NODE           CONTAINER     STATE             MESH  NOT CONNECTED TO',
      'h1    a@h1           aaaaaaaaaaaa  up                yes   b@h2',
      'h1    x\\u001b[2J@h1  xxxxxxxxxxxx  refused           yes',
      'h2    b@h2           bbbbbbbbbbbb  up                yes   -',
      'h3    -              -             host unreachable  -     timeout',
      '',
    ].join('\n'),
  );
  const coloured = formatStatus(status, true);
  const ESC = '\u001b';
  assert.ok(coloured.includes(`${ESC}[32mh2    b@h2`), coloured);
  assert.ok(coloured.includes(`${ESC}[33mh1    a@h1`), coloured);
  assert.ok(coloured.includes(`${ESC}[31mh3`), coloured);
  assert.equal(coloured.replaceAll(new RegExp(`${ESC}\\[\\d+m`, 'g'), ''), plain);
});

test('eid status --host: tables of hosts, clusters, containers and registered nodes; colour only when asked', () => {
  const doc: MembershipDocument = {
    version: 1,
    host: '10.0.0.1',
    generated: '2026-12-01T00:00:00.000Z',
    clusters: [
      {
        name: 'shop',
        reconcileIntervalMs: 1000,
        lastReconcile: null,
        members: [
          {
            node: 'a@10.0.0.1',
            container: 'aaaaaaaaaaaa',
            name: 'a',
            mesh: true,
            state: 'up',
            connected: [],
            stats: { memoryBytes: 15 * 1048576, processes: 50, runQueue: 2, at: '' },
          },
        ],
        hosts: [],
      },
    ],
    containers: [
      {
        id: 'aaaaaaaaaaaa',
        name: 'evil\x1b[2J',
        image: 'img',
        labels: {},
        names: ['a'],
        node: 'a@10.0.0.1',
        cluster: 'shop',
        nodePort: 12345,
        hostPort: 32768,
        served: true,
        skips: [],
      },
    ],
    registered: [{ name: 'local', port: 4000 }],
    peers: [
      {
        host: '10.0.0.2',
        reachable: false,
        lastSeen: null,
        error: 'ECONNREFUSED',
        containers: [],
        registered: [],
      },
    ],
  };
  const plain = formatHostStatus(doc, false);
  assert.ok(!plain.includes('\x1b'), 'no escape codes, not even from a container name');
  assert.match(plain, /^10\.0\.0\.2 +not answering: ECONNREFUSED +0 +0 +0 +never$/m);
  assert.match(plain, /^CLUSTER shop\n.*\na@10\.0\.0\.1 +10\.0\.0\.1 +up +0 of 0 +15\.0 MB +50 +2$/m);
  assert.match(
    plain,
    /^10\.0\.0\.1 +aaaaaaaaaaaa +evil\\u001b\[2J +img +a@10\.0\.0\.1 +shop +32768 -> 12345 +yes$/m,
  );
  assert.match(plain, /^10\.0\.0\.1 +local +4000$/m);
  assert.ok(formatHostStatus(doc, true).includes('\x1b[31m10.0.0.2'), 'the unreachable host in red');
});
