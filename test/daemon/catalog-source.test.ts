/** The catalog as the daemon's EPMD server sees it: container entries as PORT2_RESP entries, and the lookup counters. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerTable } from '../../src/docker/catalog.ts';
import { CatalogSource, CONTAINER_NODE } from '../../src/daemon/catalog-source.ts';
import { decodePort2Reply, encodePort2Reply } from '../../src/epmd/protocol.ts';

const ID = 'c'.repeat(64);

function table(): ContainerTable {
  const t = new ContainerTable();
  t.set({ id: ID, name: 'web', hostname: 'webhost', labelName: 'api', nodePort: 12345, hostPort: 32768 });
  return t;
}

test('a container answers PORT_PLEASE2 under the name asked, at its published host port, like a stock OTP node', () => {
  const source = new CatalogSource(table());
  for (const name of ['web', 'webhost', 'api', ID, ID.slice(0, 12)]) {
    assert.deepEqual(source.lookup(name), { name, port: 32768, ...CONTAINER_NODE, extra: new Uint8Array(0) });
  }
  assert.equal(source.lookup('nothere'), undefined);
  // What goes on the wire decodes back to the same entry.
  const entry = source.lookup('web')!;
  const decoded = decodePort2Reply(encodePort2Reply(entry));
  assert.ok(decoded !== undefined && decoded.reply.found);
  assert.deepEqual(decoded.reply.entry, entry);
});

test('NAMES lists each container once, by hostname (the name a node in a container takes by default)', () => {
  const t = table();
  t.set({
    id: 'd'.repeat(64),
    name: 'db',
    hostname: 'dbhost',
    labelName: undefined,
    nodePort: 12345,
    hostPort: 32769,
  });
  assert.deepEqual(
    [...new CatalogSource(t).names()],
    [
      { name: 'webhost', port: 32768 },
      { name: 'dbhost', port: 32769 },
    ],
  );
});

test('counters: every lookup that reaches the catalog, as a hit or a miss', () => {
  const source = new CatalogSource(table());
  source.lookup('web');
  source.lookup('nothere');
  source.lookup('api');
  assert.deepEqual(source.counters, { lookups: 3, hits: 2, misses: 1 });
});
