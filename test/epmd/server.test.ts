/**
 * Our EPMD server through real sockets: registration lifetime and creation rules, lookups and
 * NAMES/DUMP, the NameSource extension point, bounds (connection cap, packet timeout, request
 * size), and malformed requests at every split point and one byte at a time.
 */
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { EpmdServer } from '../../src/epmd/server.ts';
import { epmdNames, epmdPortPlease, epmdRegister } from '../../src/epmd/client.ts';
import type { Registration } from '../../src/epmd/client.ts';
import type { NameSource, NodeEntry } from '../../src/epmd/types.ts';
import { EpmdError } from '../../src/errors.ts';
import { exchange, malformedRequests, splits, trailingByteRequest, unknownNameRequests } from './helpers.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';
import { waitFor } from '../support/processes.ts';

const nextPort = portAllocator(PortSlices.epmd.server);
const servers: EpmdServer[] = [];

async function startServer(options: ConstructorParameters<typeof EpmdServer>[0] = {}): Promise<EpmdServer> {
  const server = new EpmdServer({ port: await nextPort(), ...options });
  servers.push(server);
  await server.listen();
  return server;
}

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const isEpmdError = (code: string) => (err: unknown) => {
  assert.ok(err instanceof EpmdError, `expected EpmdError, got ${String(err)}`);
  assert.equal(err.code, code);
  return true;
};

describe('registration', () => {
  // A fresh server per test: names, creations and the NAMES order never carry over from another test.
  let server: EpmdServer;
  beforeEach(async () => {
    server = await startServer();
  });
  afterEach(() => server.close());

  test('register keeps the name while the connection lives; close unregisters it', async () => {
    const reg = await epmdRegister('alpha', 43991, { epmdPort: server.port });
    const entry = await epmdPortPlease('alpha', '127.0.0.1', { epmdPort: server.port });
    assert.deepEqual(entry, {
      name: 'alpha',
      port: 43991,
      nodeType: 77,
      protocol: 0,
      highestVersion: 6,
      lowestVersion: 5,
      extra: new Uint8Array(0),
    });
    assert.equal(server.registered()[0]?.creation, reg.creation);
    await reg.close();
    await waitFor(() => server.registered().length === 0, 'unregistration');
    await assert.rejects(
      epmdPortPlease('alpha', '127.0.0.1', { epmdPort: server.port }),
      isEpmdError('EPMD_NOT_REGISTERED'),
    );
  });

  test('a live name is refused to a second registrant; the first keeps it', async () => {
    const first = await epmdRegister('beta', 43992, { epmdPort: server.port });
    await assert.rejects(epmdRegister('beta', 43993, { epmdPort: server.port }), (err) => {
      isEpmdError('EPMD_DUPLICATE_NAME')(err);
      assert.equal((err as EpmdError).node, 'beta');
      assert.equal((err as EpmdError).peer, `127.0.0.1:${server.port}`);
      return true;
    });
    assert.equal((await epmdPortPlease('beta', '127.0.0.1', { epmdPort: server.port })).port, 43992);
    await first.close();
  });

  test('creation changes each time a name registers again (32-bit for version 6 nodes)', async () => {
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const reg = await epmdRegister('gamma', 43994, { epmdPort: server.port });
      seen.push(reg.creation);
      await reg.close();
      await waitFor(() => server.registered().length === 0, 'unregistration');
    }
    assert.ok(seen[0]! >= 4, `creation ${seen[0]} is at least 4`);
    assert.deepEqual(seen, [seen[0]!, seen[0]! + 1, seen[0]! + 2]);
  });

  test('nodes of distribution version 5 get ALIVE2_RESP with creation 1..3', async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const reg = await epmdRegister('delta', 43995, { epmdPort: server.port, highestVersion: 5 });
      assert.ok(reg.creation >= 1 && reg.creation <= 3, `creation ${reg.creation}`);
      seen.add(reg.creation);
      await reg.close();
      await waitFor(() => server.registered().length === 0, 'unregistration');
    }
    assert.equal(seen.size, 3, 'the 1..3 creation cycles');
    // The registration connection stays open: read until the 4-byte reply is in.
    const reply = await exchange(
      server.port,
      [Buffer.from('0010 78 0010 4d 00 0005 0005 0003 657073 0000'.replace(/ /g, ''), 'hex')],
      { until: (r) => r.length >= 4 },
    );
    assert.equal(reply.reply.slice(0, 4), '7900', 'ALIVE2_RESP, result 0');
    assert.equal(reply.reply.length, 8, '4-byte reply');
  });

  test('hidden nodes, extra bytes and UTF-8 names come back from PORT_PLEASE2 as registered', async () => {
    const extra = Uint8Array.of(1, 2, 3, 0, 255);
    const reg = await epmdRegister('nöde-ü', 43996, { epmdPort: server.port, nodeType: 72, extra });
    const entry = await epmdPortPlease('nöde-ü', 'localhost', { epmdPort: server.port });
    assert.equal(entry.nodeType, 72);
    assert.deepEqual(entry.extra, extra);
    assert.deepEqual((await epmdNames('::1', { epmdPort: server.port })).nodes, [
      { name: 'nöde-ü', port: 43996 },
    ]);
    await reg.close();
  });

  test('NAMES lists newest first with the epmd port; DUMP shows active and old names', async () => {
    const a = await epmdRegister('n1', 43001, { epmdPort: server.port });
    const b = await epmdRegister('n2', 43002, { epmdPort: server.port });
    const reply = await epmdNames('127.0.0.1', { epmdPort: server.port });
    assert.deepEqual(reply, {
      epmdPort: server.port,
      nodes: [
        { name: 'n2', port: 43002 },
        { name: 'n1', port: 43001 },
      ],
    });
    await a.close();
    await waitFor(() => server.registered().length === 1, 'unregistration');
    const dump = await exchange(server.port, [Buffer.from('000164', 'hex')]);
    assert.ok(dump.closed);
    const bytes = Buffer.from(dump.reply, 'hex');
    assert.equal(bytes.readUInt32BE(0), server.port);
    const text = bytes.subarray(4).toString('utf8');
    assert.match(text, /^active name {5}<n2> at port 43002, fd = \d+\n\0/);
    assert.match(text, /old\/unused name <n1>, port = 43001, fd = \d+ \n\0/);
    await b.close();
  });

  test('anything sent on a registration connection after the request drops the node, as epmd does', async () => {
    const socket = net.connect({ port: server.port, host: '127.0.0.1' });
    await new Promise((r) => socket.once('connect', r));
    socket.write(Buffer.from('0011 78 0010 4d 00 0006 0005 0004 666f6f6f 0000'.replace(/ /g, ''), 'hex'));
    await new Promise((r) => socket.once('data', r));
    assert.ok(server.registered().some((n) => n.name === 'fooo'));
    socket.write(Buffer.from('00', 'hex'));
    await new Promise((r) => socket.once('close', r));
    await waitFor(() => !server.registered().some((n) => n.name === 'fooo'), 'unregistration');
  });
});

describe('name source extension point', () => {
  const entry = (name: string, port: number): NodeEntry => ({
    name,
    port,
    nodeType: 77,
    protocol: 0,
    highestVersion: 6,
    lowestVersion: 5,
    extra: new Uint8Array(0),
  });

  test('answers names not registered locally; local registrations win; bad names and a failing source are contained', async () => {
    let failing = false;
    const catalog = new Map([
      ['web', entry('web', 43100)],
      ['shared', entry('shared', 43101)],
      // Never listed: it would corrupt the line-based NAMES reply.
      ['bad\nname', entry('bad\nname', 43109)],
    ]);
    const source: NameSource = {
      lookup: (name) => {
        if (failing) throw new Error('catalog down');
        return catalog.get(name);
      },
      names: () => {
        if (failing) throw new Error('catalog down');
        return [...catalog.values()].map(({ name, port }) => ({ name, port }));
      },
    };
    const server = await startServer({ source });
    const reg = await epmdRegister('shared', 43102, { epmdPort: server.port });
    assert.equal((await epmdPortPlease('web', '127.0.0.1', { epmdPort: server.port })).port, 43100);
    assert.equal((await epmdPortPlease('shared', '127.0.0.1', { epmdPort: server.port })).port, 43102);
    assert.deepEqual((await epmdNames('127.0.0.1', { epmdPort: server.port })).nodes, [
      { name: 'shared', port: 43102 },
      { name: 'web', port: 43100 },
    ]);
    failing = true;
    await assert.rejects(
      epmdPortPlease('web', '127.0.0.1', { epmdPort: server.port }),
      isEpmdError('EPMD_NOT_REGISTERED'),
    );
    assert.deepEqual((await epmdNames('127.0.0.1', { epmdPort: server.port })).nodes, [
      { name: 'shared', port: 43102 },
    ]);
    await reg.close();
  });
  test('an entry the wire cannot carry is answered as not registered; the server keeps serving', async () => {
    const entries = new Map<string, NodeEntry>([
      [
        'wide',
        {
          name: 'wide',
          port: 70000,
          nodeType: 77,
          protocol: 0,
          highestVersion: 6,
          lowestVersion: 5,
          extra: new Uint8Array(0),
        },
      ],
      [
        'fine',
        {
          name: 'fine',
          port: 43103,
          nodeType: 77,
          protocol: 0,
          highestVersion: 6,
          lowestVersion: 5,
          extra: new Uint8Array(0),
        },
      ],
    ]);
    const server = await startServer({ source: { lookup: (name) => entries.get(name), names: () => [] } });
    await assert.rejects(
      epmdPortPlease('wide', '127.0.0.1', { epmdPort: server.port }),
      isEpmdError('EPMD_NOT_REGISTERED'),
    );
    assert.equal((await epmdPortPlease('fine', '127.0.0.1', { epmdPort: server.port })).port, 43103);
  });

  test('a name source is told the address the lookup arrived on', async () => {
    const asked: (string | undefined)[] = [];
    const source: NameSource = {
      lookup: (name, localAddress) => {
        asked.push(localAddress);
        return name === 'here' ? entry('here', 43104) : undefined;
      },
      names: () => [],
    };
    const server = await startServer({ source });
    assert.equal((await epmdPortPlease('here', '127.0.0.1', { epmdPort: server.port })).port, 43104);
    const reg = await epmdRegister('local', 43105, { epmdPort: server.port });
    // A registered name is answered without asking the source.
    assert.equal((await epmdPortPlease('local', '127.0.0.1', { epmdPort: server.port })).port, 43105);
    assert.deepEqual(asked, ['127.0.0.1']);
    await reg.close();
  });
});

describe('bounds', () => {
  test('connections over the cap are closed at once; registered nodes are untouched', async () => {
    const server = await startServer({ maxConnections: 3 });
    const reg = await epmdRegister('capped', 43103, { epmdPort: server.port });
    const idle = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect({ port: server.port, host: '127.0.0.1' }, () => resolve(s));
          }),
      ),
    );
    await waitFor(() => server.connectionCount === 3, 'three open connections');
    const refused = await exchange(server.port, [Buffer.from('00017a', 'hex')]);
    assert.deepEqual(refused, { reply: '', closed: true });
    for (const s of idle) s.destroy();
    await waitFor(() => server.connectionCount === 1, 'idle connections gone');
    assert.equal((await epmdPortPlease('capped', '127.0.0.1', { epmdPort: server.port })).port, 43103);
    await reg.close();
  });

  test('a connection that sends too little is closed after the packet timeout; a registration is not', async () => {
    const server = await startServer({ packetTimeoutMs: 200 });
    const reg = await epmdRegister('patient', 43104, { epmdPort: server.port });
    const partial = await exchange(server.port, [Buffer.from('00057a', 'hex')]);
    assert.deepEqual(partial, { reply: '', closed: true });
    assert.equal((await epmdPortPlease('patient', '127.0.0.1', { epmdPort: server.port })).port, 43104);
    await reg.close();
  });

  test('a request longer than maxRequestSize is closed before it is read', async () => {
    const server = await startServer({ maxRequestSize: 16 });
    assert.deepEqual(await exchange(server.port, [Buffer.from('00117a', 'hex')]), {
      reply: '',
      closed: true,
    });
    assert.deepEqual(await exchange(server.port, [Buffer.from('00057a6e6f6e65', 'hex')]), {
      reply: '7701',
      closed: true,
    });
  });

  test('a slowloris trickling one byte at a time under the idle timeout is cut by the whole-request deadline', async () => {
    const server = await startServer({ packetTimeoutMs: 2000, requestTimeoutMs: 1500 });
    const reg = await epmdRegister('outlasts', 43107, { epmdPort: server.port });
    const socket = await new Promise<net.Socket>((resolve) => {
      const s = net.connect({ port: server.port, host: '127.0.0.1', noDelay: true }, () => resolve(s));
    });
    // A PORT_PLEASE2 of 3000 bytes, one byte every 100 ms: the idle timeout never fires, and the
    // request would take 5 minutes to complete.
    socket.write(Buffer.from('0bb87a', 'hex'));
    let sent = 3;
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write('n', () => sent++);
    }, 100);
    try {
      await new Promise<void>((resolve, reject) => {
        const bound = setTimeout(() => reject(new Error('the slowloris was not cut within 30 s')), 30_000);
        socket.once('close', () => {
          clearTimeout(bound);
          resolve();
        });
        socket.on('error', () => undefined);
      });
    } finally {
      clearInterval(trickle);
    }
    assert.ok(sent < 3002, `cut before the request was whole (${sent} bytes sent)`);
    // The registration, older than the deadline, stays.
    assert.equal(server.registered()[0]?.name, 'outlasts');
    assert.equal((await epmdPortPlease('outlasts', '127.0.0.1', { epmdPort: server.port })).port, 43107);
    await reg.close();
  });

  test('a silent connection is closed at the request deadline; a registration is not subject to it', async () => {
    const server = await startServer({ requestTimeoutMs: 300 });
    const reg = await epmdRegister('registered', 43108, { epmdPort: server.port });
    let lost = false;
    void reg.closed.then(() => (lost = true));
    // Opened after the registration, so its deadline passes after the registration's would have.
    const idle = await exchange(server.port, [], { settleMs: 30_000 });
    assert.deepEqual(idle, { reply: '', closed: true });
    assert.equal(lost, false, 'the registration connection is still open');
    assert.equal((await epmdPortPlease('registered', '127.0.0.1', { epmdPort: server.port })).port, 43108);
    await reg.close();
  });

  test('one source address cannot take the slots of another; registrations do not count against it', async () => {
    const server = await startServer({ maxConnections: 16, maxConnectionsPerSource: 3 });
    // Registrations from 127.0.0.1 are not counted: the cap of 3 still leaves room for lookups.
    const regs = await Promise.all(
      ['one', 'two', 'three', 'four'].map((n, i) => epmdRegister(n, 43110 + i, { epmdPort: server.port })),
    );
    const open = (localAddress: string) =>
      new Promise<net.Socket>((resolve) => {
        const s = net.connect({ port: server.port, host: '127.0.0.1', localAddress }, () => resolve(s));
        s.on('error', () => undefined);
      });
    const held = await Promise.all([0, 1, 2].map(() => open('127.0.0.2')));
    await waitFor(() => server.connectionCount === 4 + 3, 'three held connections');
    // A whole lookup of a registered name: closed unanswered only because of the cap.
    const refused = await exchange(server.port, [Buffer.from('00047a6f6e65', 'hex')], {
      localAddress: '127.0.0.2',
    });
    assert.deepEqual(refused, { reply: '', closed: true }, 'a fourth from 127.0.0.2 is closed unanswered');
    const fromOther = await exchange(server.port, [Buffer.from('00047a6f6e65', 'hex')], {
      localAddress: '127.0.0.1',
    });
    assert.equal(fromOther.closed, true);
    assert.equal(fromOther.reply.slice(0, 4), '7700', 'a lookup from 127.0.0.1 is answered');
    held[0]!.destroy();
    await waitFor(() => server.connectionCount === 4 + 2, 'a slot of 127.0.0.2 freed');
    const again = await exchange(server.port, [Buffer.from('00047a6f6e65', 'hex')], {
      localAddress: '127.0.0.2',
    });
    assert.equal(again.reply.slice(0, 4), '7700', 'answered once 127.0.0.2 is under its cap');
    for (const s of held) s.destroy();
    await Promise.all(regs.map((r) => r.close()));
  });

  test('a flood of idle, partial and junk connections leaves registered nodes registered and reachable', async () => {
    const server = await startServer({ maxConnections: 32, packetTimeoutMs: 300 });
    const reg = await epmdRegister('steady', 43106, { epmdPort: server.port });
    let lost = false;
    void reg.closed.then(() => (lost = true));
    const junk = [
      Buffer.alloc(0),
      Buffer.from('00ff7a', 'hex'),
      Buffer.from('ffff', 'hex'),
      Buffer.from('0003780000', 'hex'),
    ];
    await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        exchange(server.port, [junk[i % junk.length]!], { settleMs: 2000 }).catch(() => undefined),
      ),
    );
    await waitFor(() => server.connectionCount === 1, 'the flood to drain');
    assert.equal(lost, false, 'the registration connection survived');
    assert.equal((await epmdPortPlease('steady', '127.0.0.1', { epmdPort: server.port })).port, 43106);
    await reg.close();
  });
});

describe('malformed requests', () => {
  // Each test gets its own server with a fresh registration that must survive what the test sends.
  let server: EpmdServer;
  let survivor: Registration;
  beforeEach(async () => {
    server = await startServer();
    survivor = await epmdRegister('survivor', 43105, { epmdPort: server.port });
  });
  afterEach(async () => {
    await survivor.close();
    await server.close();
  });

  for (const c of [...malformedRequests, ...unknownNameRequests]) {
    test(`${c.name}: epmd's answer whole, at every split point and one byte at a time`, async () => {
      const expected = { reply: c.reply, closed: true };
      assert.deepEqual(await exchange(server.port, [c.bytes]), expected, 'whole');
      for (const chunks of splits(c.bytes)) {
        assert.deepEqual(
          await exchange(server.port, chunks),
          expected,
          `split ${chunks.map((x) => x.length).join('+')}`,
        );
      }
      assert.equal((await epmdPortPlease('survivor', '127.0.0.1', { epmdPort: server.port })).port, 43105);
    });
  }

  test('more bytes than the declared length in one write: closed without a reply, as epmd does', async () => {
    assert.deepEqual(await exchange(server.port, [trailingByteRequest]), { reply: '', closed: true });
  });

  test('a valid lookup split at every byte is answered', async () => {
    const request = Buffer.from('00097a' + Buffer.from('survivor').toString('hex'), 'hex');
    const reply = await exchange(server.port, [request]);
    assert.match(reply.reply, /^7700a861/);
    for (const chunks of splits(request)) assert.deepEqual(await exchange(server.port, chunks), reply);
  });

  test('fuzz: random requests never crash the server or drop a registration', async () => {
    // A short packet timeout closes every connection that is not a registration, so each outcome
    // is a close or a registration's ALIVE2_X_RESP, never a silence of some length.
    const fuzzed = await startServer({ packetTimeoutMs: 100 });
    const kept = await epmdRegister('survivor', 43105, { epmdPort: fuzzed.port });
    const registered = (r: Buffer) => r.length >= 6 && r[0] === 0x76 && r[1] === 0;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.boolean(), async (body, framed) => {
        const bytes = framed
          ? Buffer.concat([Buffer.from([body.length >> 8, body.length]), body])
          : Buffer.from(body);
        const outcome = await exchange(fuzzed.port, [bytes], { until: registered });
        assert.ok(outcome.closed || registered(Buffer.from(outcome.reply, 'hex')), JSON.stringify(outcome));
      }),
      { numRuns: 150 },
    );
    assert.equal((await epmdPortPlease('survivor', '127.0.0.1', { epmdPort: fuzzed.port })).port, 43105);
    assert.ok(fuzzed.registered().some((n) => n.name === 'survivor'));
    await kept.close();
    await fuzzed.close();
  });
});
