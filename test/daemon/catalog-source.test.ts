/** The catalog as the daemon's EPMD server sees it: container entries as PORT2_RESP entries, and the lookup counters. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerTable } from '../../src/docker/catalog.ts';
import { CatalogSource, CONTAINER_NODE } from '../../src/daemon/catalog-source.ts';
import { decodePort2Reply, encodePort2Reply } from '../../src/epmd/protocol.ts';
import { EpmdServer } from '../../src/epmd/server.ts';
import { epmdPortPlease, epmdRegister } from '../../src/epmd/client.ts';
import { EpmdError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import type { CatalogEntry } from '../../src/docker/inspect.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

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

test('NAMES lists each container once, by its eid.name label, else its hostname (the name its node takes); a shared name not at all', () => {
  const t = table();
  // Two replicas of a Compose service given one `hostname:`: that name answers for neither.
  for (const c of ['e', 'f'])
    t.set({
      id: c.repeat(64),
      name: `rep_${c}`,
      hostname: 'shared',
      labelName: undefined,
      nodePort: 12345,
      hostPort: 33000,
    });
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
      { name: 'api', port: 32768 },
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

const OTHER = 'e'.repeat(64);

/** Container `web` (hostname webhost, no label). */
const web = (extra: Partial<CatalogEntry>): CatalogEntry => ({
  id: ID,
  name: 'web',
  hostname: 'webhost',
  labelName: undefined,
  nodePort: 12345,
  hostPort: 32768,
  ...extra,
});

function recording(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const none = () => undefined;
  return { warnings, debug: none, info: none, error: none, warn: (msg) => void warnings.push(msg) };
}

test('a local registration of a name a container answers to is refused with epmd’s reply for a taken name; others register', async () => {
  const server = new EpmdServer({ port: 0, addresses: ['127.0.0.1'], source: new CatalogSource(table()) });
  await server.listen();
  try {
    for (const name of ['web', 'webhost', 'api', ID.slice(0, 12), ID]) {
      await assert.rejects(
        epmdRegister(name, 5000, { epmdPort: server.port }),
        (err: unknown) => err instanceof EpmdError && err.code === 'EPMD_DUPLICATE_NAME',
        name,
      );
    }
    const ok = await epmdRegister('plain', 5001, { epmdPort: server.port });
    assert.deepEqual(
      server.registered().map((n) => n.name),
      ['plain'],
    );
    await ok.close();
    // A stock node is told the same: its name is in use.
    const node = await run(
      'erl',
      ['-noshell', '-start_epmd', 'false', '-name', 'web@127.0.0.1', '-setcookie', 'c', '-eval', 'halt().'],
      { env: { ...process.env, ERL_EPMD_PORT: String(server.port) }, timeout: 60_000 },
    ).then(
      () => 'started',
      (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
    );
    assert.match(node, /seems to be in use by another Erlang node/);
  } finally {
    await server.close();
  }
});

test('a container that starts with a name a local node holds: the node keeps it, the container is reported once and keeps its ID', async () => {
  const t = new ContainerTable();
  const log = recording();
  const held = ['web'];
  const source = new CatalogSource(t, log, () => held);
  const server = new EpmdServer({ port: 0, addresses: ['127.0.0.1'], source });
  await server.listen();
  const node = await epmdRegister('web', 5002, { epmdPort: server.port });
  try {
    t.set(web({ hostPort: 32768 }));
    source.recheck();
    source.recheck();
    assert.equal(source.nameTaken(), 1);
    assert.equal(log.warnings.filter((w) => /locally registered node/.test(w)).length, 1);
    assert.equal((await epmdPortPlease('web', '127.0.0.1', { epmdPort: server.port })).port, 5002);
    assert.equal((await epmdPortPlease(ID.slice(0, 12), '127.0.0.1', { epmdPort: server.port })).port, 32768);
    assert.equal((await epmdPortPlease('webhost', '127.0.0.1', { epmdPort: server.port })).port, 32768);
    held.length = 0;
    source.recheck();
    assert.equal(source.nameTaken(), 0);
  } finally {
    await node.close();
    await server.close();
  }
});

test('a lookup is answered with the binding on the address it arrived on, else a wildcard one (-p 10.0.0.1::12345)', async () => {
  const t = new ContainerTable();
  const bindings = [
    { address: '127.0.0.2', port: 40001 },
    { address: '0.0.0.0', port: 40002 },
  ];
  t.set(web({ hostPort: 40002, bindings }));
  t.set({
    id: OTHER,
    name: 'only',
    hostname: 'onlyhost',
    labelName: undefined,
    nodePort: 12345,
    hostPort: 40003,
    bindings: [{ address: '127.0.0.3', port: 40003 }],
  });
  // Every address (0.0.0.0), so that lookups arrive on 127.0.0.2 and 127.0.0.3 too.
  const server = new EpmdServer({ port: 0, addresses: [], source: new CatalogSource(t) });
  await server.listen();
  try {
    const ask = (name: string, host: string) => epmdPortPlease(name, host, { epmdPort: server.port });
    assert.equal((await ask('web', '127.0.0.2')).port, 40001);
    assert.equal((await ask('web', '127.0.0.1')).port, 40002);
    assert.equal((await ask('only', '127.0.0.3')).port, 40003);
    await assert.rejects(ask('only', '127.0.0.1'), EpmdError);
  } finally {
    await server.close();
  }
});
