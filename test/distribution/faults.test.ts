/**
 * Bad input from a peer: a fake peer (a real handshake, then hostile frames) must get its own
 * connection closed with a logged reason, while the node's connection to a real OTP node
 * carries on untouched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Fixture, distFrame as frame, fragmentBody, handshakePeer, type ErlNode } from './helpers.ts';
import { PortSlices } from '../support/ports.ts';
import { waitFor } from '../support/processes.ts';
import type { Node } from '../../src/distribution/node.ts';
import { HeaderTag } from '../../src/distribution/header.ts';
import { ControlOp } from '../../src/distribution/control.ts';
import { DockerResolver } from '../../src/distribution/resolver.ts';
import { DockerError } from '../../src/errors.ts';
import { encode } from '../../src/etf/index.ts';
import { atom, Pid, Reference, tuple, type Term } from '../../src/etf/terms.ts';
import { createLogger } from '../../src/log.ts';

const f = new Fixture(PortSlices.distribution.faults);
let erl: ErlNode;
let ts: Node;
const lines: string[] = [];
let fakeCount = 0;

before(async () => {
  await f.startEpmd();
  erl = await f.startErl('faults_otp');
  ts = await f.startNode('ts_faults', {
    logger: createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(l) }),
    limits: { maxFrame: 1024 * 1024, maxReassemblyBytes: 1024 * 1024, maxSequences: 4 },
  });
  assert.equal(await ts.ping(erl.name), true);
});

after(async () => {
  await f.cleanup();
});

/** A raw socket that has completed a real handshake with the TS node. */
async function fakePeer(
  target: Node = ts,
): Promise<{ socket: net.Socket; closed: Promise<void>; name: string }> {
  const name = `fake${++fakeCount}@127.0.0.1`;
  const { socket, closed } = await handshakePeer(target, name);
  await waitFor(() => target.nodes().includes(name), `${name} up`, 5000);
  return { socket, closed, name };
}

const sendControl = () =>
  encode(tuple(ControlOp.REG_SEND, atom('x'), atom(''), atom('nobody')), { versionByte: false });
const payload = encode(atom('hi'), { versionByte: false });

function fragment(kind: number, seq: number, id: number, data: Uint8Array): Buffer {
  return frame(fragmentBody(kind, seq, id, data));
}

const cases: { name: string; code: string; bytes: () => Buffer }[] = [
  {
    name: 'a frame that is not a distribution message',
    code: 'DIST_BAD_MESSAGE',
    bytes: () => frame(Buffer.from('garbage!')),
  },
  {
    name: 'an atom cache reference out of range',
    code: 'DIST_BAD_MESSAGE',
    bytes: () => frame(Buffer.from([131, 68, 0, 104, 2, 97, ControlOp.LINK, 82, 9])),
  },
  {
    name: 'a reference to an atom cache entry never filled',
    code: 'DIST_BAD_MESSAGE',
    bytes: () => frame(Buffer.concat([Buffer.from([131, 68, 1, 0x03, 200]), sendControl(), payload])),
  },
  {
    name: 'fragments out of order',
    code: 'DIST_FRAGMENT_ORDER',
    bytes: () =>
      Buffer.concat([
        fragment(HeaderTag.FRAGMENT_FIRST, 1, 3, sendControl()),
        fragment(HeaderTag.FRAGMENT_NEXT, 1, 1, payload),
      ]),
  },
  {
    name: 'a fragment of a sequence never started',
    code: 'DIST_FRAGMENT_ORDER',
    bytes: () => fragment(HeaderTag.FRAGMENT_NEXT, 9, 1, payload),
  },
  {
    name: 'fragments never finished, past the reassembly budget',
    code: 'DIST_FRAGMENT_LIMIT',
    bytes: () => {
      const chunk = Buffer.alloc(60 * 1024);
      const parts = [fragment(HeaderTag.FRAGMENT_FIRST, 1, 1000, chunk)];
      for (let id = 999; id > 980; id--) parts.push(fragment(HeaderTag.FRAGMENT_NEXT, 1, id, chunk));
      return Buffer.concat(parts);
    },
  },
  {
    name: 'too many fragmented messages in flight',
    code: 'DIST_FRAGMENT_LIMIT',
    bytes: () =>
      Buffer.concat([1, 2, 3, 4, 5].map((seq) => fragment(HeaderTag.FRAGMENT_FIRST, seq, 5, sendControl()))),
  },
  {
    name: 'an oversized declared length',
    code: 'DIST_FRAME_TOO_LARGE',
    bytes: () => Buffer.from([0xff, 0xff, 0xff, 0xf0, 131, 68]),
  },
  {
    name: 'a well-formed term that is no control message',
    code: 'DIST_BAD_CONTROL',
    bytes: () =>
      frame(
        Buffer.concat([
          Buffer.from([131, 68, 0]),
          encode(tuple(ControlOp.LINK, atom('x')), { versionByte: false }),
        ]),
      ),
  },
];

describe('a hostile peer loses only its own connection', () => {
  for (const c of cases) {
    test(c.name, { timeout: 60_000 }, async () => {
      const peer = await fakePeer();
      lines.length = 0;
      peer.socket.write(c.bytes());
      await peer.closed;
      await waitFor(
        () => lines.some((l) => l.includes(c.code) && l.includes(peer.name)),
        `log line with ${c.code}`,
        5000,
      );
      assert.ok(!ts.nodes().includes(peer.name));
      // The real OTP node is still connected and answering.
      assert.ok(ts.nodes().includes(erl.name));
      assert.equal(await ts.rpc(erl.name, 'erlang', 'node', []), atom(erl.name));
    });
  }

  test(
    'a peer that connects and says nothing is dropped after the setup time',
    { timeout: 60_000 },
    async () => {
      const quiet = await f.startNode('ts_quiet', {
        connectTimeoutMs: 300,
        logger: createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(l) }),
      });
      const socket = net.connect({ host: '127.0.0.1', port: quiet.port });
      socket.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      lines.length = 0;
      await closed;
      assert.ok(lines.some((l) => l.includes('DIST_HANDSHAKE_TIMEOUT')));
      await quiet.stop();
    },
  );

  test('garbage during the handshake closes that socket only', { timeout: 60_000 }, async () => {
    const socket = net.connect({ host: '127.0.0.1', port: ts.port });
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    lines.length = 0;
    socket.write(Buffer.from([0x00, 0x05, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a]));
    await closed;
    await waitFor(
      () => lines.some((l) => l.includes('DIST_HANDSHAKE_PROTOCOL')),
      'handshake error log',
      5000,
    );
    const huge = net.connect({ host: '127.0.0.1', port: ts.port });
    huge.on('error', () => undefined);
    const hugeClosed = new Promise<void>((resolve) => huge.once('close', () => resolve()));
    huge.write(Buffer.from([0xff, 0xff]));
    await hugeClosed;
    assert.equal(await ts.ping(erl.name), true);
  });
});

test(
  'DockerResolver: an Engine API reply that is not an inspect object is a DockerError, never a TypeError',
  { timeout: 60_000 },
  async () => {
    let reply = '';
    const api = http.createServer((_req, res) => res.writeHead(200).end(reply));
    const port = await f.nextPort();
    await new Promise<void>((resolve) => api.listen(port, '127.0.0.1', resolve));
    try {
      const resolver = new DockerResolver({ enginePort: port });
      for (const [body, code] of [
        ['null', 'DOCKER_NO_PORT'],
        ['[]', 'DOCKER_NO_PORT'],
        ['{"NetworkSettings":{"Ports":{"12345/tcp":"x"}}}', 'DOCKER_NO_PORT'],
        ['{"NetworkSettings":', 'DOCKER_BAD_REPLY'],
      ] as const) {
        reply = body;
        await assert.rejects(
          resolver.resolve('abc@127.0.0.1'),
          (e: unknown) => e instanceof DockerError && e.code === code,
          body,
        );
      }
    } finally {
      api.closeAllConnections();
      await new Promise<void>((resolve) => api.close(() => resolve()));
    }
  },
);

test(
  'DockerResolver reads the inspect reply as eid daemon does: running and unpaused only, the eid.port label, and the binding reachable on the host',
  { timeout: 60_000 },
  async () => {
    let reply: unknown;
    const api = http.createServer((_req, res) => res.writeHead(200).end(JSON.stringify(reply)));
    const port = await f.nextPort();
    await new Promise<void>((resolve) => api.listen(port, '127.0.0.1', resolve));
    const inspect = (labels: Record<string, string>, ports: Record<string, unknown>) => ({
      Id: 'f'.repeat(64),
      State: { Running: true, Paused: false },
      Config: { Hostname: 'web', Labels: labels },
      NetworkSettings: { Ports: ports },
    });
    try {
      const resolver = new DockerResolver({ enginePort: port });
      // The label names the node port; the default port's binding (listed first) is not it.
      reply = inspect(
        { 'eid.port': '9000' },
        {
          '12345/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }],
          '9000/tcp': [{ HostIp: '0.0.0.0', HostPort: '41000' }],
        },
      );
      assert.deepEqual(await resolver.resolve('web@127.0.0.1'), { host: '127.0.0.1', port: 41000 });
      // A label that is not a port is no port, not the default's binding.
      reply = inspect({ 'eid.port': 'lots' }, { '12345/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }] });
      await assert.rejects(
        resolver.resolve('web@127.0.0.1'),
        (e: unknown) => e instanceof DockerError && e.code === 'DOCKER_NO_PORT',
      );
      // Of several bindings: the one on the target host's address, else the IPv4 wildcard, else the
      // IPv6 one; a binding on another specific address (listed first here) is unreachable from elsewhere.
      const elsewhere = { HostIp: '10.9.9.9', HostPort: '40000' };
      const v6 = { HostIp: '::', HostPort: '40001' };
      const v4 = { HostIp: '0.0.0.0', HostPort: '40002' };
      const onTarget = { HostIp: '127.0.0.1', HostPort: '40003' };
      for (const [bindings, want] of [
        [[elsewhere, v6, v4], 40002],
        [[elsewhere, v6, v4, onTarget], 40003],
        [[elsewhere, v6], 40001],
      ] as const) {
        reply = inspect({}, { '12345/tcp': bindings });
        assert.deepEqual(await resolver.resolve('web@127.0.0.1'), { host: '127.0.0.1', port: want });
      }
      reply = inspect({}, { '12345/tcp': [elsewhere] });
      await assert.rejects(
        resolver.resolve('web@127.0.0.1'),
        (e: unknown) => e instanceof DockerError && e.code === 'DOCKER_NO_PORT',
      );
      // A paused or stopped container that still lists its binding is not served, as in the catalog.
      for (const State of [
        { Running: true, Paused: true },
        { Running: false, Paused: false },
      ]) {
        reply = { ...inspect({}, { '12345/tcp': [v4] }), State };
        await assert.rejects(
          resolver.resolve('web@127.0.0.1'),
          (e: unknown) =>
            e instanceof DockerError && e.code === 'DOCKER_NO_PORT' && /not running/.test(e.message),
          JSON.stringify(State),
        );
      }
    } finally {
      api.closeAllConnections();
      await new Promise<void>((resolve) => api.close(() => resolve()));
    }
  },
);

test(
  'messages from a peer to pids and aliases of other nodes are dropped, never relayed (no connection attempt)',
  { timeout: 60_000 },
  async () => {
    const asked: string[] = [];
    const node = await f.startNode('ts_norelay', {
      resolver: {
        resolve: (name) => {
          asked.push(name);
          return Promise.reject(new DockerError('DOCKER_NO_CONTAINER', 'not here'));
        },
      },
    });
    const inbox = node.spawn((self) => self.receive());
    node.register('inbox', inbox);
    const peer = await fakePeer(node);
    const elsewhere = atom('elsewhere@127.0.0.1');
    const passThrough = (control: Term, message: Term) =>
      frame(
        Buffer.concat([
          Buffer.of(HeaderTag.VERSION, HeaderTag.PASS_THROUGH),
          encode(control),
          encode(message),
        ]),
      );
    const sender = new Pid(atom(peer.name), 1, 0, 1);
    peer.socket.write(
      Buffer.concat([
        passThrough(tuple(ControlOp.SEND, atom(''), new Pid(elsewhere, 1, 0, 1)), atom('relay me')),
        passThrough(tuple(ControlOp.SEND_SENDER, sender, new Pid(elsewhere, 2, 0, 1)), atom('relay me')),
        passThrough(
          tuple(ControlOp.ALIAS_SEND, sender, new Reference(elsewhere, 1, [1, 2, 3])),
          atom('relay me'),
        ),
        // Signals of one connection are handled in order: once this arrives, the others were handled.
        passThrough(tuple(ControlOp.REG_SEND, sender, atom(''), atom('inbox')), atom('done')),
      ]),
    );
    assert.equal(await inbox.exited, atom('normal'));
    assert.deepEqual(asked, []);
    peer.socket.destroy();
    await node.stop();
  },
);
