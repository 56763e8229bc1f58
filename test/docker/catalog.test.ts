/** The catalog's pure parts: event stream splitting, event parsing, the inspect parser and binding choice, name lookup. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { DockerError } from '../../src/errors.ts';
import { LineSplitter, parseEvent } from '../../src/docker/events.ts';
import { ContainerTable } from '../../src/docker/catalog.ts';
import {
  chooseBinding,
  entryFromInspect,
  isRunning,
  publishedNodePort,
  type CatalogEntry,
} from '../../src/docker/inspect.ts';
import { CONTAINER_NODE } from '../../src/daemon/catalog-source.ts';
import { dockerOptions, negotiateApiVersion, defaultEndpoint } from '../../src/docker/client.ts';

const ID_A = 'a'.repeat(8) + '1'.repeat(56);
const ID_B = 'a'.repeat(8) + '2'.repeat(56);

const startEvent = (id: string) =>
  JSON.stringify({
    Type: 'container',
    Action: 'start',
    Actor: { ID: id, Attributes: { name: 'x' } },
    time: 1,
  });

test('event lines come out whole whatever the split point, and one byte at a time', () => {
  const text = `${startEvent(ID_A)}\n${startEvent(ID_B)}\n{"Type":"network","Action":"connect"}\n`;
  const bytes = Buffer.from(text);
  const expected = text.split('\n').slice(0, 3);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const splitter = new LineSplitter();
    const lines = [...splitter.push(bytes.subarray(0, cut)), ...splitter.push(bytes.subarray(cut))];
    assert.deepEqual(lines, expected, `split at ${cut}`);
  }
  const splitter = new LineSplitter();
  const lines: string[] = [];
  for (const byte of bytes) lines.push(...splitter.push(Uint8Array.of(byte)));
  assert.deepEqual(lines, expected);
});

test('a multi-byte character split across chunks survives', () => {
  const bytes = Buffer.from('{"name":"é€"}\n');
  for (let cut = 0; cut <= bytes.length; cut++) {
    const splitter = new LineSplitter();
    assert.deepEqual(
      [...splitter.push(bytes.subarray(0, cut)), ...splitter.push(bytes.subarray(cut))],
      ['{"name":"é€"}'],
    );
  }
});

test('an event line over the cap is refused before it is buffered further', () => {
  const splitter = new LineSplitter(16);
  splitter.push(Buffer.from('0123456789'));
  assert.throws(
    () => splitter.push(Buffer.from('0123456789')),
    (err: unknown) => err instanceof DockerError && err.code === 'DOCKER_EVENT_TOO_LONG',
  );
  assert.throws(() => new LineSplitter(4).push(Buffer.from('toolong\n')), DockerError);
});

test('events: container and network events name their container; malformed ids and lines are dropped', () => {
  assert.deepEqual(parseEvent(startEvent(ID_A)), { type: 'container', action: 'start', containerId: ID_A });
  assert.deepEqual(
    parseEvent(
      JSON.stringify({
        Type: 'network',
        Action: 'disconnect',
        Actor: { ID: 'n', Attributes: { container: ID_B } },
      }),
    ),
    { type: 'network', action: 'disconnect', containerId: ID_B },
  );
  // An id that is not 64 hex digits never reaches an API path.
  assert.equal(parseEvent(startEvent('../../images/json?'))?.containerId, undefined);
  assert.equal(parseEvent(startEvent(ID_A.toUpperCase()))?.containerId, undefined);
  assert.equal(parseEvent('{"Type":"image","Action":"pull"}'), undefined);
  assert.equal(parseEvent('not json'), undefined);
  assert.equal(parseEvent('[1,2]'), undefined);
  assert.equal(parseEvent('null'), undefined);
});

test('binding choice: the served address, then the IPv4 wildcard, then the IPv6 wildcard; never loopback-only', () => {
  const both = [
    { HostIp: '::', HostPort: '32769' },
    { HostIp: '0.0.0.0', HostPort: '32768' },
  ];
  assert.equal(chooseBinding(both, []), 32768);
  assert.equal(chooseBinding([{ HostIp: '::', HostPort: '32769' }], []), 32769);
  assert.equal(chooseBinding([...both, { HostIp: '10.0.0.5', HostPort: '40000' }], ['10.0.0.5']), 40000);
  assert.equal(chooseBinding([{ HostIp: '127.0.0.1', HostPort: '40000' }], []), undefined);
  assert.equal(chooseBinding([{ HostIp: '', HostPort: '40001' }], []), 40001);
  assert.equal(chooseBinding([{ HostIp: '0.0.0.0', HostPort: 'x' }], []), undefined);
  assert.equal(chooseBinding([], []), undefined);
});

function inspectInfo(overrides: {
  id?: string;
  name?: string;
  hostname?: string;
  labels?: Record<string, string>;
  ports?: Record<string, { HostIp: string; HostPort: string }[] | null>;
  running?: boolean;
  paused?: boolean;
}): Docker.ContainerInspectInfo {
  return {
    Id: overrides.id ?? ID_A,
    Name: `/${overrides.name ?? 'web'}`,
    State: { Running: overrides.running ?? true, Paused: overrides.paused ?? false },
    Config: {
      Hostname: overrides.hostname ?? (overrides.id ?? ID_A).slice(0, 12),
      Labels: overrides.labels ?? {},
    },
    NetworkSettings: {
      Ports: overrides.ports ?? { '12345/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }] },
    },
  } as unknown as Docker.ContainerInspectInfo;
}

test('inspect → entry: node port from --node-port or the eid.port label; stopped, paused or unpublished is no entry', () => {
  assert.deepEqual(entryFromInspect(inspectInfo({ labels: { 'eid.name': 'api' } }), 12345, []), {
    id: ID_A,
    name: 'web',
    hostname: ID_A.slice(0, 12),
    labelName: 'api',
    nodePort: 12345,
    hostPort: 32768,
    bindings: [{ address: '0.0.0.0', port: 32768 }],
    // For display (the cluster page): the reply has no image here; eid.* labels as written.
    about: { name: 'web', image: '', labels: { 'eid.name': 'api' } },
  });
  const labelled = inspectInfo({
    labels: { 'eid.port': '9000' },
    ports: {
      '12345/tcp': [{ HostIp: '0.0.0.0', HostPort: '1' }],
      '9000/tcp': [{ HostIp: '0.0.0.0', HostPort: '41000' }],
    },
  });
  assert.equal(entryFromInspect(labelled, 12345, [])?.hostPort, 41000);
  assert.equal(entryFromInspect(inspectInfo({ labels: { 'eid.port': 'lots' } }), 12345, []), undefined);
  assert.equal(entryFromInspect(inspectInfo({ running: false }), 12345, []), undefined);
  assert.equal(entryFromInspect(inspectInfo({ paused: true }), 12345, []), undefined);
  assert.equal(entryFromInspect(inspectInfo({ ports: { '12345/tcp': null } }), 12345, []), undefined);
  assert.equal(entryFromInspect(inspectInfo({}), 4000, []), undefined);
  // A reply without a well-formed ID or name is no entry (IDs go into API paths), never a TypeError.
  for (const id of [undefined, '../../etc', 'abc']) {
    const info = { ...inspectInfo({}), Id: id } as unknown as Docker.ContainerInspectInfo;
    assert.equal(entryFromInspect(info, 12345, []), undefined);
  }
  const nameless = { ...inspectInfo({}), Name: undefined } as unknown as Docker.ContainerInspectInfo;
  assert.equal(entryFromInspect(nameless, 12345, [])?.name, '');
  // A label value that could not be a node name is ignored.
  assert.equal(
    entryFromInspect(inspectInfo({ labels: { 'eid.name': 'a/b' } }), 12345, [])?.labelName,
    undefined,
  );
});

test('published node port: the eid.port label wins over the node port; running state is not looked at', () => {
  const labelled = inspectInfo({
    labels: { 'eid.port': '9000' },
    ports: {
      '12345/tcp': [{ HostIp: '0.0.0.0', HostPort: '1' }],
      '9000/tcp': [{ HostIp: '0.0.0.0', HostPort: '41000' }],
    },
  });
  assert.deepEqual(publishedNodePort(labelled, 12345, []), { nodePort: 9000, hostPort: 41000 });
  assert.deepEqual(publishedNodePort(inspectInfo({}), 12345, []), { nodePort: 12345, hostPort: 32768 });
  // Ports only: the catalog and the resolver both check isRunning first.
  assert.deepEqual(publishedNodePort(inspectInfo({ paused: true }), 12345, []), {
    nodePort: 12345,
    hostPort: 32768,
  });
  assert.equal(isRunning(inspectInfo({})), true);
  assert.equal(isRunning(inspectInfo({ paused: true })), false);
  assert.equal(isRunning(inspectInfo({ running: false })), false);
  const twoBindings = inspectInfo({
    ports: {
      '12345/tcp': [
        { HostIp: '127.0.0.1', HostPort: '40000' },
        { HostIp: '0.0.0.0', HostPort: '40001' },
        { HostIp: '10.0.0.5', HostPort: '40002' },
      ],
    },
  });
  assert.equal(publishedNodePort(twoBindings, 12345, [])?.hostPort, 40001);
  assert.equal(publishedNodePort(twoBindings, 12345, ['10.0.0.5'])?.hostPort, 40002);
  assert.equal(publishedNodePort(twoBindings, 12345, ['127.0.0.1'])?.hostPort, 40000);
  for (const reply of [null, undefined, {}, { NetworkSettings: null }, { Config: { Labels: null } }]) {
    assert.equal(publishedNodePort(reply, 12345, []), undefined);
  }
});

test('ports in labels and bindings are decimal digits only, as --node-port takes them (not 0x3039, 1.2345e4 or " 12345")', () => {
  // Number() read these as ports before they went through ports.ts.
  for (const odd of ['0x3039', '1.2345e4', ' 12345', '12345 ', '12345.0', '+12345']) {
    const labelled = inspectInfo({ labels: { 'eid.port': odd } });
    assert.equal(entryFromInspect(labelled, 4000, []), undefined, `label ${JSON.stringify(odd)}`);
    assert.equal(chooseBinding([{ HostIp: '0.0.0.0', HostPort: odd }], []), undefined, `HostPort ${odd}`);
  }
  assert.equal(chooseBinding([{ HostIp: '0.0.0.0', HostPort: '0' }], []), undefined);
  assert.equal(chooseBinding([{ HostIp: '0.0.0.0', HostPort: '65536' }], []), undefined);
  assert.equal(chooseBinding([{ HostIp: '0.0.0.0', HostPort: '065535' }], []), 65535);
  assert.equal(entryFromInspect(inspectInfo({ labels: { 'eid.port': '0' } }), 12345, []), undefined);
});

function entry(id: string, name: string, hostname: string, labelName?: string): CatalogEntry {
  return { id, name, hostname, labelName, nodePort: 12345, hostPort: 30000 + name.length };
}

test('lookup by full ID, short ID, unique prefix, name, hostname and eid.name label', () => {
  const table = new ContainerTable();
  table.set(entry(ID_A, 'web', ID_A.slice(0, 12), 'api'));
  table.set(entry(ID_B, 'db', 'database'));
  assert.equal(table.find(ID_A)?.id, ID_A);
  assert.equal(table.find(ID_B.slice(0, 12))?.id, ID_B);
  assert.equal(table.find(ID_B.slice(0, 9))?.id, ID_B);
  assert.equal(table.find('web')?.id, ID_A);
  assert.equal(table.find('database')?.id, ID_B);
  assert.equal(table.find('api')?.id, ID_A);
  // A prefix both IDs share answers neither; so does a prefix too short to mean an ID.
  assert.equal(table.find(ID_A.slice(0, 8)), undefined);
  assert.equal(table.find('aaaa'), undefined);
  assert.equal(table.find('nothere'), undefined);
});

test('lookup: a hostname two containers share answers neither; removal and rename update every index', () => {
  const table = new ContainerTable();
  table.set(entry(ID_A, 'one', 'shared'));
  table.set(entry(ID_B, 'two', 'shared'));
  assert.equal(table.find('shared'), undefined);
  table.delete(ID_B);
  assert.equal(table.find('shared')?.id, ID_A);
  assert.equal(table.find('two'), undefined);
  table.set(entry(ID_A, 'renamed', 'shared'));
  assert.equal(table.find('one'), undefined);
  assert.equal(table.find('renamed')?.id, ID_A);
  assert.equal(table.size, 1);
  table.clear();
  assert.equal(table.size, 0);
  assert.equal(table.find(ID_A), undefined);
});

test('names from the network are checked before any index sees them', () => {
  const table = new ContainerTable();
  table.set(entry(ID_A, 'web', 'web'));
  for (const bad of [
    '',
    '../web',
    'web?all=1',
    'web/json',
    '-web',
    'we b',
    'web\n',
    'x'.repeat(256),
    'wéb',
  ]) {
    assert.equal(table.find(bad), undefined, JSON.stringify(bad));
  }
});

test('a container entry answers like a stock OTP node: normal node, TCP, versions 5 to 6', () => {
  assert.deepEqual(CONTAINER_NODE, { nodeType: 77, protocol: 0, highestVersion: 6, lowestVersion: 5 });
});

test('API version: the daemon’s, capped at ours; a daemon older than we support is refused', () => {
  assert.equal(negotiateApiVersion('1.41'), '1.41');
  assert.equal(negotiateApiVersion('1.50'), '1.43');
  // Compared as numbers: 1.9 is older than 1.24.
  assert.throws(() => negotiateApiVersion('1.9'), DockerError);
  assert.equal(negotiateApiVersion('1.24'), '1.24');
  assert.throws(
    () => negotiateApiVersion('1.12'),
    (e: unknown) => e instanceof DockerError && e.code === 'DOCKER_API_VERSION',
  );
  assert.throws(() => negotiateApiVersion('two'), DockerError);
});

test('endpoints: DOCKER_HOST unix:// and tcp://, TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH', () => {
  assert.equal(defaultEndpoint({}), 'unix:///var/run/docker.sock');
  assert.equal(defaultEndpoint({ DOCKER_HOST: 'tcp://h:2375' }), 'tcp://h:2375');
  assert.deepEqual(dockerOptions('unix:///run/x.sock', {}), { socketPath: '/run/x.sock' });
  assert.deepEqual(dockerOptions('tcp://10.0.0.1:2375', {}), {
    host: '10.0.0.1',
    port: 2375,
    protocol: 'http',
  });
  assert.equal(dockerOptions('tcp://10.0.0.1', {}).port, 2375);

  const certs = mkdtempSync(join(tmpdir(), 'eid-certs-'));
  for (const file of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(certs, file), file);
  const tls = dockerOptions('tcp://docker.example:2376', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs });
  assert.equal(tls.protocol, 'https');
  assert.equal(tls.port, 2376);
  assert.equal(String(tls.ca), 'ca.pem');
  assert.equal(String(tls.cert), 'cert.pem');
  assert.equal(String(tls.key), 'key.pem');
  rmSync(certs, { recursive: true });
  assert.throws(
    () => dockerOptions('tcp://h:2376', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs }),
    (e: unknown) => e instanceof DockerError && e.code === 'DOCKER_TLS',
  );
  // Port 0 is nothing to connect to (it used to be passed on to the socket as is).
  for (const bad of ['unix://', 'http://h:1', 'ssh://u@h', '/var/run/docker.sock', 'tcp://h:0']) {
    assert.throws(
      () => dockerOptions(bad, {}),
      (e: unknown) => e instanceof DockerError && e.code === 'DOCKER_BAD_ENDPOINT',
    );
  }
});
