/**
 * The receive path of connections the TS node dials over plain TCP: they read with `onread` into
 * a buffer the connection reuses (docs/node.md, "Limits"). What arrives must survive later
 * reads, a message cut at every byte must still decode, and a hostile peer must meet the same
 * typed errors as on the 'data' path (faults.test.ts, where the peer dials the TS node).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type net from 'node:net';
import { Fixture, acceptingPeer, distFrame as frame, fragmentBody, run, type ErlNode } from './helpers.ts';
import { PortSlices } from '../support/ports.ts';
import { waitFor } from '../support/processes.ts';
import type { Node } from '../../src/distribution/node.ts';
import { HeaderTag } from '../../src/distribution/header.ts';
import { ControlOp } from '../../src/distribution/control.ts';
import { StaticResolver } from '../../src/distribution/resolver.ts';
import { encode } from '../../src/etf/index.ts';
import { atom, Pid, Tuple, tuple, type Term } from '../../src/etf/terms.ts';
import { createLogger } from '../../src/log.ts';

const MiB = 1024 * 1024;
const f = new Fixture(PortSlices.receivePath.onread);
let erl: ErlNode;

before(async () => {
  await f.startEpmd();
  erl = await f.startErl('receive_otp');
});

after(async () => {
  await f.cleanup();
});

test(
  '1 MB binaries from a BEAM node the TS node dialled are intact after every later read',
  { timeout: 120_000 },
  async () => {
    const ts = await f.startNode('ts_receive');
    // ts dials: eval is a call from ts to the agent.
    const received = await run(ts, async (self) => {
      await erl.eval(
        ts,
        [
          'lists:foreach(fun(I) ->',
          '  Bin = crypto:strong_rand_bytes(1048576 + I * 1000),',
          '  P ! {bin, Bin, erlang:md5(Bin)},',
          '  P ! {small, I}',
          'end, lists:seq(1, 12)), P ! done',
        ].join('\n'),
        { P: self.pid },
      );
      const kept: { bin: Buffer; md5: Buffer }[] = [];
      for (;;) {
        const m = await self.receive();
        if (m instanceof Tuple && m.elements[0] === atom('bin'))
          kept.push({ bin: m.elements[1] as Buffer, md5: m.elements[2] as Buffer });
        else if (m === atom('done')) return kept;
      }
    });
    assert.equal(received.length, 12);
    for (const [i, { bin, md5 }] of received.entries()) {
      assert.equal(bin.length, MiB + (i + 1) * 1000);
      assert.deepEqual(createHash('md5').update(bin).digest(), md5, `binary ${i + 1}`);
    }
  },
);

describe('a peer the TS node dials', () => {
  const lines: string[] = [];
  const peerName = 'fake_acceptor@127.0.0.1';
  let ts: Node;
  let server: net.Server;
  // What the next peer writes once the handshake is done, and the sockets so far.
  let script: (socket: net.Socket) => Promise<void> = async () => undefined;
  const peers: { socket: net.Socket; closed: Promise<void> }[] = [];

  before(async () => {
    const port = await f.nextPort();
    server = await acceptingPeer(peerName, port, (socket, closed) => {
      peers.push({ socket, closed });
      void script(socket).catch(() => undefined);
    });
    ts = await f.startNode('ts_dialler', {
      resolver: new StaticResolver({
        [peerName]: { host: '127.0.0.1', port },
        [erl.name]: { host: '127.0.0.1', port: erl.port },
      }),
      logger: createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(l) }),
      limits: { maxFrame: MiB, maxReassemblyBytes: MiB, maxInboundBytes: 1.5 * MiB, maxSequences: 4 },
    });
  });

  after(() => {
    for (const p of peers) p.socket.destroy();
    server.close();
  });

  const ts2peer = () => new Pid(atom(peerName), 1, 0, 1);
  const regSend = (to: string) =>
    encode(tuple(ControlOp.REG_SEND, ts2peer(), atom(''), atom(to)), { versionByte: false });

  test('a message and a fragmented one written a byte at a time decode', { timeout: 60_000 }, async () => {
    const payload = Buffer.alloc(3000, 9);
    const body = encode(tuple(atom('one'), payload), { versionByte: false });
    const whole = Buffer.concat([Buffer.from([131, 68, 0]), regSend('catcher'), body]);
    const data = Buffer.concat([
      regSend('catcher'),
      encode(tuple(atom('two'), payload), { versionByte: false }),
    ]);
    const bytes = Buffer.concat([
      frame(whole),
      frame(fragmentBody(HeaderTag.FRAGMENT_FIRST, 5, 2, data.subarray(0, 1000))),
      frame(fragmentBody(HeaderTag.FRAGMENT_NEXT, 5, 1, data.subarray(1000))),
    ]);
    script = async (socket) => {
      for (const b of bytes) {
        socket.write(Buffer.of(b));
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const got = await run(ts, async (self) => {
      ts.register('catcher', self);
      await ts.connect(peerName);
      return [await self.receive(), await self.receive()];
    });
    assert.deepEqual(got, [tuple(atom('one'), payload), tuple(atom('two'), payload)]);
    peers.at(-1)!.socket.destroy();
    await waitFor(() => !ts.nodes().includes(peerName), 'the peer gone', 10_000);
  });

  test(
    'binaries of 70 to 400 KB in whole frames, the first with the handshake ack in one read, are intact after every later read',
    { timeout: 60_000 },
    async () => {
      const sizes = [300_000, 100_000, 120_000, 400_000, 90_000, 70_000, 100_000, 100_000];
      const sent = sizes.map((n, i) => Buffer.alloc(n, i + 1));
      // Normal and pass-through frames, none fragmented: frames up to 256 KiB are collected in the
      // two buffers the connection reuses, larger ones in buffers of their own.
      const stream = Buffer.concat(
        sent.map((binary, i) => {
          const payload = encode(tuple(atom('bin'), i, binary), { versionByte: false });
          return i % 2 === 0
            ? frame(Buffer.concat([Buffer.from([131, HeaderTag.NORMAL, 0]), regSend('catcher'), payload]))
            : frame(
                Buffer.concat([
                  Buffer.from([131, HeaderTag.PASS_THROUGH, 131]),
                  regSend('catcher'),
                  Buffer.from([131]),
                  payload,
                ]),
              );
        }),
      );
      script = async (socket) => {
        // Written in the turn the handshake ended, so read with the ack: the node takes it up
        // with the frame it started.
        socket.write(stream.subarray(0, 150_000));
        for (let at = 150_000; at < stream.length;) {
          const n = 777 + ((at * 7919) % 50_000);
          await new Promise((resolve) => socket.write(stream.subarray(at, at + n), resolve));
          await new Promise((resolve) => setImmediate(resolve));
          at += n;
        }
      };
      const got = await run(ts, async (self) => {
        ts.register('catcher', self);
        await ts.connect(peerName);
        const out: Term[] = [];
        while (out.length < sent.length) out.push(await self.receive());
        return out;
      });
      got.forEach((m, i) => assert.deepEqual(m, tuple(atom('bin'), i, sent[i]!), `binary ${i}`));
      peers.at(-1)!.socket.destroy();
      await waitFor(() => !ts.nodes().includes(peerName), 'the peer gone', 10_000);
    },
  );

  test('a peer that closes in the middle of a frame and of a fragmented message: what they held is given back', async () => {
    script = async (socket) => {
      socket.write(
        Buffer.concat([
          // Reserves room for 4 fragments of 60 000 bytes.
          frame(fragmentBody(HeaderTag.FRAGMENT_FIRST, 9, 4, Buffer.alloc(60_000))),
          // 100 000 bytes of a frame of 900 000, which holds its length while it arrives.
          Buffer.from([0x00, 0x0d, 0xbb, 0xa0]),
          Buffer.alloc(100_000),
        ]),
      );
    };
    await ts.connect(peerName);
    await waitFor(() => ts.inboundBytes === 4 * 60_000 + 900_000, 'both held', 10_000);
    peers.at(-1)!.socket.destroy();
    await waitFor(() => ts.inboundBytes === 0, 'nothing held', 10_000);
    await waitFor(() => !ts.nodes().includes(peerName), 'the peer gone', 10_000);
  });

  const cases: { name: string; code: string; bytes: () => Buffer }[] = [
    {
      name: 'a frame over the limit',
      code: 'DIST_FRAME_TOO_LARGE',
      bytes: () => Buffer.concat([Buffer.from([0x7f, 0xff, 0xff, 0xff]), Buffer.alloc(64)]),
    },
    {
      name: 'a frame that is not a distribution message',
      code: 'DIST_BAD_MESSAGE',
      bytes: () => frame(Buffer.from('garbage!')),
    },
    {
      name: 'fragments past the reassembly limit',
      code: 'DIST_FRAGMENT_LIMIT',
      bytes: () => {
        const chunk = Buffer.alloc(60 * 1024);
        const parts = [frame(fragmentBody(HeaderTag.FRAGMENT_FIRST, 1, 1000, chunk))];
        for (let id = 999; id > 980; id--)
          parts.push(frame(fragmentBody(HeaderTag.FRAGMENT_NEXT, 1, id, chunk)));
        return Buffer.concat(parts);
      },
    },
    {
      name: 'a frame still arriving past the node-wide limit',
      code: 'DIST_INBOUND_LIMIT',
      // A message whose first fragment (900 KiB) is held, then the start of a frame of 1 MiB:
      // together past the 1.5 MiB the node holds in flight.
      bytes: () =>
        Buffer.concat([
          frame(fragmentBody(HeaderTag.FRAGMENT_FIRST, 1, 2, Buffer.alloc(900 * 1024))),
          Buffer.from([0x00, 0x10, 0x00, 0x00, 131, 68]),
        ]),
    },
  ];

  for (const c of cases) {
    test(`${c.name}: ${c.code}, that connection only`, { timeout: 60_000 }, async () => {
      lines.length = 0;
      script = async (socket) => {
        await new Promise((resolve) => socket.write(c.bytes(), resolve));
      };
      await ts.connect(peerName);
      await peers.at(-1)!.closed;
      await waitFor(
        () => lines.some((l) => l.includes(c.code) && l.includes(peerName)),
        `log line with ${c.code}`,
        10_000,
      );
      assert.ok(!ts.nodes().includes(peerName));
      assert.equal(await ts.ping(erl.name), true);
    });
  }
});
