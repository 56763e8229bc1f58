/**
 * The distribution codecs without sockets: framing at every split point, the handshake state
 * machine in both roles (including the old `n` form, dynamic names and refusals), headers with
 * the atom cache and fragments, and every control message op.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { FrameDecoder, encodeHandshakeFrame } from '../../src/distribution/framing.ts';
import { HandshakeError, SendQueueFullError } from '../../src/distribution/errors.ts';
import { Handshake, HandshakeTag, digest, type HandshakeOptions } from '../../src/distribution/handshake.ts';
import {
  DEFAULT_FRAGMENT_SIZE,
  HeaderDecoder,
  HeaderEncoder,
  HeaderTag,
  SPLICE_BINARY_BYTES,
} from '../../src/distribution/header.ts';
import {
  ControlOp,
  ControlShape,
  decodeSignal,
  encodeSignal,
  type Signal,
} from '../../src/distribution/control.ts';
import {
  DEFAULT_FLAGS,
  DIST_MANDATORY_25,
  DistFlags,
  missingMandatory,
} from '../../src/distribution/flags.ts';
import { Connection } from '../../src/distribution/connection.ts';
import { InboundBudget } from '../../src/distribution/inbound-budget.ts';
import { DistError } from '../../src/errors.ts';
import { Writer } from '../../src/bytes.ts';
import { encode, termEquals } from '../../src/etf/index.ts';
import { atom, Pid, Reference, Tuple, tuple, type Term } from '../../src/etf/terms.ts';
import { sameSignal } from './helpers.ts';

function frames(...bodies: Buffer[]): Buffer {
  const w = new Writer();
  for (const b of bodies) {
    w.u32(b.length);
    w.bytes(b);
  }
  return w.toBuffer();
}

describe('framing', () => {
  const stream = frames(Buffer.from('hello'), Buffer.alloc(0), Buffer.alloc(300, 1), Buffer.from('x'));

  test('every split point yields the same whole frames, ticks included', { timeout: 60_000 }, () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new FrameDecoder({ prefixSize: 4, maxFrame: 1000 });
      const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      assert.deepEqual(
        got.map((b) => b.length),
        [5, 0, 300, 1],
        `split at ${cut}`,
      );
      assert.equal(d.buffered, 0);
    }
  });

  test('one byte at a time', { timeout: 60_000 }, () => {
    const d = new FrameDecoder({ prefixSize: 4, maxFrame: 1000 });
    const got: Buffer[] = [];
    for (const byte of stream) got.push(...d.push(Buffer.of(byte)));
    assert.deepEqual(got[0], Buffer.from('hello'));
    assert.equal(got.length, 4);
  });

  test('a declared length over the cap is refused before anything is allocated', { timeout: 60_000 }, () => {
    const d = new FrameDecoder({ prefixSize: 4, maxFrame: 1000 });
    assert.throws(
      () => d.push(Buffer.from([0xff, 0xff, 0xff, 0xff])),
      (e: unknown) => e instanceof DistError && e.code === 'DIST_FRAME_TOO_LARGE',
    );
    const h = new FrameDecoder({ prefixSize: 2, maxFrame: 100 });
    assert.throws(() => h.push(Buffer.from([0x01, 0x00])), /exceeds the limit/);
  });

  test('whole frames before an oversized one in the same chunk come out first; the next drain refuses', () => {
    const d = new FrameDecoder({ prefixSize: 4, maxFrame: 1000 });
    const good = Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('ok')]);
    const frames = d.push(Buffer.concat([good, Buffer.from([0xff, 0xff, 0xff, 0xff])]));
    assert.deepEqual(frames, [Buffer.from('ok')]);
    assert.throws(
      () => d.drain(),
      (e: unknown) => e instanceof DistError && e.code === 'DIST_FRAME_TOO_LARGE',
    );
  });

  test('a node-wide budget: a frame still arriving holds its declared length until it is whole or released', () => {
    const budget = new InboundBudget(1000);
    const a = new FrameDecoder({ prefixSize: 4, maxFrame: 1000, budget });
    const b = new FrameDecoder({ prefixSize: 4, maxFrame: 1000, budget });
    // A whole frame in one chunk is never held.
    assert.deepEqual(a.push(frames(Buffer.alloc(900))).length, 1);
    assert.equal(budget.heldBytes, 0);
    assert.deepEqual(a.push(Buffer.from([0, 0, 2, 0x58, 1])), []);
    assert.equal(budget.heldBytes, 600);
    // Another decoder's 600 do not fit; its whole frames before the refused one come out first.
    const good = frames(Buffer.from('ok'));
    assert.deepEqual(b.push(Buffer.concat([good, Buffer.from([0, 0, 2, 0x58])])), [Buffer.from('ok')]);
    assert.throws(
      () => b.drain(),
      (e: unknown) => e instanceof DistError && e.code === 'DIST_INBOUND_LIMIT',
    );
    assert.equal(budget.heldBytes, 600);
    assert.equal(a.push(Buffer.alloc(599)).length, 1);
    assert.equal(budget.heldBytes, 0);
    a.push(Buffer.from([0, 0, 1, 0]));
    assert.equal(budget.heldBytes, 256);
    a.release();
    assert.equal(budget.heldBytes, 0);
  });

  test('handshake frames have 2-byte lengths; a partial frame waits', { timeout: 60_000 }, () => {
    const d = new FrameDecoder({ prefixSize: 2, maxFrame: 1024 });
    const f = encodeHandshakeFrame(Buffer.from('sok'));
    assert.deepEqual(d.push(f.subarray(0, 3)), []);
    assert.deepEqual(d.push(f.subarray(3)), [Buffer.from('sok')]);
  });
});

describe('flags', () => {
  test('MANDATORY_25_DIGEST is 0x4000000 and stands for the OTP 25 set', { timeout: 60_000 }, () => {
    assert.equal(DistFlags.MANDATORY_25_DIGEST, 0x4000000n);
    assert.equal(missingMandatory(DistFlags.MANDATORY_25_DIGEST | DistFlags.V4_NC | DistFlags.UNLINK_ID), 0n);
    assert.notEqual(missingMandatory(DIST_MANDATORY_25), 0n, 'OTP 26 added V4_NC and UNLINK_ID');
    assert.equal(missingMandatory(DEFAULT_FLAGS), 0n);
  });
});

/** Runs two handshakes against each other until both are done or one fails. */
function converse(init: Handshake, acc: Handshake): { i?: unknown; a?: unknown; error?: unknown } {
  const out: { i?: unknown; a?: unknown; error?: unknown } = {};
  let toAcc = init.start();
  acc.start();
  try {
    for (let round = 0; round < 10 && (toAcc.length > 0 || out.a === undefined); round++) {
      const toInit: Buffer[] = [];
      for (const f of toAcc) {
        const step = acc.receive(f);
        toInit.push(...step.send);
        if (step.done) out.a = step.done;
      }
      toAcc = [];
      for (const f of toInit) {
        const step = init.receive(f);
        toAcc.push(...step.send);
        if (step.done) out.i = step.done;
      }
      if (out.i !== undefined && out.a !== undefined) break;
    }
  } catch (e) {
    out.error = e;
  }
  return out;
}

function opts(name: string, extra: Partial<HandshakeOptions> = {}): HandshakeOptions {
  return { thisName: name, cookie: 'c', flags: DEFAULT_FLAGS | DistFlags.PUBLISHED, creation: 7, ...extra };
}

const fixed = () => 0x12345678;

/** What an initiator a@h sends (send_name, challenge_reply) to an acceptor b@h that uses the `fixed` challenge. */
function initiatorFrames(): Buffer[] {
  const init = new Handshake('initiator', opts('a@h', { challenge: fixed }));
  const acc = new Handshake('acceptor', opts('b@h', { challenge: fixed }));
  acc.start();
  const name = init.start()[0]!;
  const frames = [encodeHandshakeFrame(name)];
  for (const f of acc.receive(name).send)
    for (const g of init.receive(f).send) frames.push(encodeHandshakeFrame(g));
  return frames;
}

describe('handshake', () => {
  test('both roles complete and agree on flags, names and creations', { timeout: 60_000 }, () => {
    const r = converse(
      new Handshake('initiator', opts('a@h', { peerName: 'b@h' })),
      new Handshake('acceptor', opts('b@h', { creation: 9 })),
    );
    assert.equal(r.error, undefined);
    const i = r.i as { peerName: string; peerCreation: number; flags: bigint };
    const a = r.a as { peerName: string; peerCreation: number; flags: bigint };
    assert.equal(i.peerName, 'b@h');
    assert.equal(i.peerCreation, 9);
    assert.equal(a.peerName, 'a@h');
    assert.equal(a.peerCreation, 7);
    assert.equal(i.flags, a.flags);
  });

  test('a wrong cookie fails on the acceptor with DIST_HANDSHAKE_BAD_COOKIE', { timeout: 60_000 }, () => {
    const r = converse(
      new Handshake('initiator', opts('a@h', { cookie: 'x' })),
      new Handshake('acceptor', opts('b@h')),
    );
    assert.ok(r.error instanceof DistError);
    assert.equal(r.error.code, 'DIST_HANDSHAKE_BAD_COOKIE');
  });

  test(
    'the digest is MD5(cookie ++ decimal challenge), and the challenge is used as unsigned',
    { timeout: 60_000 },
    () => {
      // The oracle is node:crypto on the text the protocol defines, not our own digest().
      const md5 = (text: string) => createHash('md5').update(text).digest('hex');
      assert.equal(digest(0xffffffff, 'abc').toString('hex'), md5('abc4294967295'));
      // A cookie is hashed one byte per character (Latin-1), as OTP's atom_to_list gives it.
      const latin1 = createHash('md5')
        .update(Buffer.from([0x63, 0xe9, 0x31]))
        .digest('hex');
      assert.equal(digest(1, 'c\u00e9').toString('hex'), latin1);
      assert.equal(digest(-1, 'abc').toString('hex'), md5('abc4294967295'));
      assert.equal(digest(42, 'cookie').toString('hex'), md5('cookie42'));
      // What the initiator sends: length, 'r', its own challenge, then the digest of ours.
      const reply = initiatorFrames()[1]!;
      assert.equal(reply.readUInt16BE(0), 1 + 4 + 16);
      assert.equal(reply[2], HandshakeTag.CHALLENGE_REPLY);
      assert.equal(reply.subarray(7).toString('hex'), md5(`c${0x12345678}`));
    },
  );

  test(
    'acceptor refusals go out as status frames: nok, not_allowed (missing flags)',
    { timeout: 60_000 },
    () => {
      const acc = new Handshake('acceptor', opts('b@h', { accept: () => ({ status: 'nok' }) }));
      acc.start();
      const init = new Handshake('initiator', opts('a@h'));
      const [name] = init.start();
      assert.throws(
        () => acc.receive(name!),
        (e: unknown) =>
          e instanceof HandshakeError && e.code === 'DIST_HANDSHAKE_NOK' && e.send[0]!.toString() === 'snok',
      );
      assert.throws(
        () => init.receive(Buffer.from('snok')),
        (e: unknown) => e instanceof DistError && e.code === 'DIST_HANDSHAKE_NOK',
      );

      const strict = new Handshake('acceptor', opts('b@h'));
      strict.start();
      const old = new Handshake('initiator', opts('a@h', { flags: DistFlags.PUBLISHED }));
      assert.throws(
        () => strict.receive(old.start()[0]!),
        (e: unknown) =>
          e instanceof HandshakeError &&
          e.code === 'DIST_HANDSHAKE_FLAGS' &&
          e.send[0]!.toString() === 'snot_allowed',
      );
    },
  );

  test('status alive: the initiator answers true and goes on', { timeout: 60_000 }, () => {
    let replaced: boolean | undefined;
    const r = converse(
      new Handshake('initiator', opts('a@h')),
      new Handshake(
        'acceptor',
        opts('b@h', { accept: () => ({ status: 'alive' }), onAliveReply: (x) => (replaced = x) }),
      ),
    );
    assert.equal(r.error, undefined);
    assert.equal(replaced, true);
  });

  test('dynamic names: the acceptor names the initiator with status named:', { timeout: 60_000 }, () => {
    const r = converse(
      new Handshake('initiator', opts('h', { flags: DEFAULT_FLAGS | DistFlags.NAME_ME })),
      new Handshake(
        'acceptor',
        opts('b@h', {
          accept: (_n, _f, dynamic) =>
            dynamic ? { status: 'named', name: 'js1@h', creation: 5 } : { status: 'ok' },
        }),
      ),
    );
    assert.equal(r.error, undefined);
    const i = r.i as { assignedName: string; assignedCreation: number };
    assert.equal(i.assignedName, 'js1@h');
    assert.equal(i.assignedCreation, 5);
    assert.equal((r.a as { peerName: string }).peerName, 'js1@h');
  });

  test(
    'the old send_name `n` from OTP 23/24 gets the new challenge and a `c` complement',
    { timeout: 60_000 },
    () => {
      const acc = new Handshake('acceptor', opts('b@h'));
      acc.start();
      const w = new Writer();
      w.u8(HandshakeTag.OLD_SEND_NAME);
      w.u16(5);
      w.u32(Number(DEFAULT_FLAGS & 0xffffffffn));
      w.bytes(Buffer.from('old@h'));
      const step = acc.receive(w.toBuffer());
      assert.equal(step.send[0]!.toString(), 'sok');
      const challenge = step.send[1]!;
      assert.equal(challenge[0], HandshakeTag.CHALLENGE);
      const ch = challenge.readUInt32BE(9);
      const c = new Writer();
      c.u8(HandshakeTag.COMPLEMENT);
      c.u32(Number(DEFAULT_FLAGS >> 32n));
      c.u32(77);
      assert.deepEqual(acc.receive(c.toBuffer()).send, []);
      const reply = new Writer();
      reply.u8(HandshakeTag.CHALLENGE_REPLY);
      reply.u32(1234);
      reply.bytes(digest(ch, 'c'));
      const done = acc.receive(reply.toBuffer());
      assert.deepEqual(
        done.send[0],
        Buffer.concat([Buffer.of(HandshakeTag.CHALLENGE_ACK), digest(1234, 'c')]),
      );
      assert.equal(done.done?.peerName, 'old@h');
      assert.equal(done.done?.peerCreation, 77);
    },
  );

  test('truncated and garbage handshake messages are typed errors', { timeout: 60_000 }, () => {
    for (const bad of [
      Buffer.alloc(0),
      Buffer.from('N'),
      Buffer.from('Nxxxxxxxxxxxxxxxxxxxxxxx'),
      Buffer.from('zzz'),
    ]) {
      const acc = new Handshake('acceptor', opts('b@h'));
      acc.start();
      assert.throws(() => acc.receive(bad), DistError);
    }
  });

  test(
    'a Connection completes the handshake and reads a message, the stream split at every point',
    { timeout: 60_000 },
    () => {
      const parts = initiatorFrames();
      const w = new Writer();
      const message = tuple(ControlOp.SEND, atom(''), new Pid(atom('b@h'), 1, 0, 7));
      new HeaderEncoder({ atomCache: true, fragments: true }).encode(w, message, atom('hi'));
      const stream = Buffer.concat([...parts, w.toBuffer(), Buffer.alloc(4)]);
      for (let cut = 0; cut <= stream.length; cut++) {
        const log: string[] = [];
        const c = new Connection(
          { write: () => undefined, destroy: () => undefined },
          { role: 'acceptor', handshake: opts('b@h', { challenge: fixed }), tickTimeMs: 60000 },
          {
            up: () => log.push('up'),
            signal: (_c, sig) => log.push(sig.kind),
            down: (_c, reason) => log.push(`down:${reason}`),
          },
        );
        c.start();
        c.feed(stream.subarray(0, cut));
        c.feed(stream.subarray(cut));
        assert.deepEqual(log, ['up', 'send'], `split at ${cut}`);
        c.close();
      }
    },
  );

  test(
    'a Connection past its send bound refuses sends from JS with SendQueueFullError; writable() and drain follow the drain',
    { timeout: 60_000 },
    async () => {
      const written: Buffer[] = [];
      let drain: (() => void) | undefined;
      const transport = {
        writableLength: 0,
        write: (b: Uint8Array) => written.push(Buffer.from(b)),
        destroy: () => undefined,
        once: (_e: 'drain', listener: () => void) => (drain = listener),
      };
      const drains: string[] = [];
      const c = new Connection(
        transport,
        {
          role: 'acceptor',
          handshake: opts('b@h', { challenge: fixed }),
          tickTimeMs: 60000,
          sendHighWater: 1000,
          maxSendQueue: 5000,
        },
        {
          up: () => undefined,
          signal: () => undefined,
          down: () => undefined,
          drain: () => drains.push('drain'),
        },
      );
      c.start();
      c.feed(Buffer.concat(initiatorFrames()));
      assert.ok(c.isUp);
      written.length = 0;
      const to = new Pid(atom('a@h'), 1, 0, 7);
      c.admit();
      await c.writable();
      transport.writableLength = 2000;
      c.send({ kind: 'send', from: undefined, to, message: 0 });
      let writable = false;
      const waiting = c.writable().then(() => (writable = true));
      c.admit(); // 2000 + the batch: below the bound
      transport.writableLength = 5000;
      assert.throws(
        () => c.admit(),
        (e: unknown) =>
          e instanceof SendQueueFullError && e.code === 'DIST_SEND_QUEUE_FULL' && e.limit === 5000,
      );
      // The node's own signals are never refused, and go out in order.
      c.send({ kind: 'send', from: undefined, to, message: 1 });
      c['flush']();
      transport.writableLength = 0;
      drain?.();
      await waiting;
      assert.ok(writable);
      assert.deepEqual(drains, ['drain']);
      const dec = new HeaderDecoder();
      const got = new FrameDecoder({ prefixSize: 4, maxFrame: 1 << 20 })
        .push(Buffer.concat(written))
        .map((f) => dec.decode(f)?.payload);
      assert.deepEqual(got, [0, 1]);
      transport.writableLength = 2000;
      const closed = c.writable();
      c.close();
      await assert.rejects(closed, (e: unknown) => e instanceof DistError);
    },
  );

  test('a Connection fed garbage closes with a typed reason instead of throwing', { timeout: 60_000 }, () => {
    const log: string[] = [];
    const c = new Connection(
      { write: () => undefined, destroy: () => log.push('destroyed') },
      { role: 'acceptor', handshake: opts('b@h'), tickTimeMs: 60000 },
      {
        up: () => log.push('up'),
        signal: () => log.push('signal'),
        down: (_c, reason) => log.push(`down:${reason}`),
      },
    );
    c.start();
    c.feed(Buffer.from([0, 3, 0x7a, 0x7a, 0x7a]));
    assert.deepEqual(log, ['destroyed', 'down:DIST_HANDSHAKE_PROTOCOL']);
  });
});

describe('headers', () => {
  const me = atom('a@h');
  const pid = new Pid(me, 5, 0, 3);
  const send = (msg: Term) => ({ control: tuple(ControlOp.SEND_SENDER, pid, pid) as Term, payload: msg });

  function roundTrip(
    enc: HeaderEncoder,
    dec: HeaderDecoder,
    control: Term,
    payload: Term,
  ): { control: Term; payload: Term | undefined } {
    const w = new Writer();
    const large = enc.encode(w, control, payload);
    const fd = new FrameDecoder({ prefixSize: 4, maxFrame: 1 << 30 });
    let got: { control: Term; payload: Term | undefined } | undefined;
    for (const f of fd.push(Buffer.concat([w.view(), ...(large?.buffers ?? [])]))) {
      const m = dec.decode(f);
      if (m !== undefined) got = m;
    }
    assert.ok(got !== undefined);
    return got;
  }

  test(
    'atom cache: new entries, then references, across many messages and slot collisions',
    { timeout: 60_000 },
    () => {
      const enc = new HeaderEncoder({ atomCache: true, fragments: true });
      const dec = new HeaderDecoder();
      for (let round = 0; round < 3; round++) {
        for (let start = 0; start < 6000; start += 500) {
          const atoms = Array.from({ length: 500 }, (_, i) => atom(`a${start + i}`));
          const m = send(tuple(...atoms));
          const got = roundTrip(enc, dec, m.control, m.payload);
          assert.ok(termEquals(got.payload!, m.payload), `round ${round} start ${start}`);
          assert.ok(termEquals(got.control, m.control));
        }
      }
    },
  );

  test(
    'the second message with the same atoms is smaller (references, not text)',
    { timeout: 60_000 },
    () => {
      const enc = new HeaderEncoder({ atomCache: true, fragments: true });
      const m = send(tuple(atom('some_long_atom_name'), atom('another_long_atom_name')));
      const w1 = new Writer();
      enc.encode(w1, m.control, m.payload);
      const w2 = new Writer();
      enc.encode(w2, m.control, m.payload);
      assert.ok(w2.offset < w1.offset - 30, `${w2.offset} vs ${w1.offset}`);
    },
  );

  test('fragments: a 1 MB message goes in 64 KiB fragments and is reassembled', { timeout: 60_000 }, () => {
    const enc = new HeaderEncoder({ atomCache: true, fragments: true });
    const dec = new HeaderDecoder();
    const big = Buffer.alloc(1024 * 1024, 9);
    const w = new Writer();
    const large = enc.encode(w, send(big).control, big);
    assert.equal(w.offset, 0, 'a large message is handed over, not copied into the batch');
    const fd = new FrameDecoder({ prefixSize: 4, maxFrame: 1 << 20 });
    const fs = fd.push(Buffer.concat(large?.buffers ?? []));
    assert.equal(fs.length, 17);
    assert.equal(fs[0]![1], HeaderTag.FRAGMENT_FIRST);
    assert.equal(fs[1]![1], HeaderTag.FRAGMENT_NEXT);
    const results = fs.map((f) => dec.decode(f));
    assert.ok(results.slice(0, -1).every((r) => r === undefined));
    assert.deepEqual(results.at(-1)!.payload, big);
    assert.equal(dec.pendingBytes, 0);
  });

  test(
    'fragmented messages decode from frames that span reads, the stream fed in pieces of every size down to one byte',
    { timeout: 60_000 },
    () => {
      const enc = new HeaderEncoder({ atomCache: true, fragments: true, fragmentSize: 1000 });
      const big = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff));
      const payloads = [tuple(atom('first'), big), tuple(atom('second'), big.subarray(0, 3000))];
      const w = new Writer();
      const parts: Buffer[] = [];
      for (const p of payloads) {
        const large = enc.encode(w, send(p).control, p);
        parts.push(w.toBuffer(), ...(large?.buffers ?? []));
        w.reset();
      }
      const stream = Buffer.concat(parts);
      for (const size of [1, 2, 3, 17, 999, 1000, 1001, 1030, 4096, stream.length]) {
        const budget = new InboundBudget(1 << 20);
        const fd = new FrameDecoder({ prefixSize: 4, maxFrame: 1 << 20, budget });
        const dec = new HeaderDecoder({ budget });
        const reads: Uint8Array[] = [];
        const got: Term[] = [];
        for (let at = 0; at < stream.length; at += size) {
          // Each read in a buffer of its own, as a socket delivers them.
          const read = new Uint8Array(stream.subarray(at, at + size));
          reads.push(read);
          for (const f of fd.pushSplit(read)) {
            const m = f.length === 0 ? undefined : dec.decode(f);
            if (m !== undefined) got.push(m.payload!);
          }
        }
        const label = `reads of ${size} bytes`;
        assert.equal(got.length, 2, label);
        // The messages own their bytes: the reads may be reused.
        for (const read of reads) read.fill(0);
        got.forEach((m, i) => assert.ok(termEquals(m, payloads[i]!), label));
        assert.equal(dec.pendingBytes, 0, label);
        assert.equal(budget.heldBytes, 0, label);
      }
    },
  );

  test("a fragment's small share of a large read is copied, not held as a view of the read", () => {
    const dec = new HeaderDecoder();
    const fragment = (id: number, data: Buffer): Buffer => {
      const w = new Writer();
      w.u8(131);
      w.u8(id === 3 ? HeaderTag.FRAGMENT_FIRST : HeaderTag.FRAGMENT_NEXT);
      w.u64(1n);
      w.u64(BigInt(id));
      if (id === 3) w.u8(0);
      w.bytes(data);
      return w.toBuffer();
    };
    const message = Buffer.concat([
      encode(tuple(ControlOp.SEND, atom(''), pid), { versionByte: false }),
      encode(Buffer.alloc(300, 7), { versionByte: false }),
    ]);
    assert.equal(dec.decode(fragment(3, message.subarray(0, 100))), undefined);
    // The second fragment spans two reads: its first 130 bytes end a read of 64 KiB.
    const second = fragment(2, message.subarray(100, 250));
    const read = Buffer.alloc(64 * 1024, 0xee);
    second.copy(read, read.length - 130, 0, 130);
    assert.equal(dec.decode([read.subarray(read.length - 130), second.subarray(130)]), undefined);
    read.fill(0);
    const whole = dec.decode(fragment(1, message.subarray(250)));
    assert.deepEqual(whole?.payload, Buffer.alloc(300, 7));
  });

  test(
    'large binaries go out as their own chunks: frames byte-identical to copying them, at every size around the thresholds',
    { timeout: 60_000 },
    () => {
      const k = SPLICE_BINARY_BYTES;
      const f = DEFAULT_FRAGMENT_SIZE;
      const sizes = [k - 1, k, k + 1, f - 40, f - 39, 2 * f - 1, 2 * f, 2 * f + 1, 5 * f + 3];
      for (const fragments of [true, false]) {
        for (const fragmentSize of [f, 1000]) {
          const opts = { atomCache: true, fragments, fragmentSize };
          const splicing = new HeaderEncoder(opts);
          const copying = new HeaderEncoder({ ...opts, spliceBinaryBytes: Infinity });
          const dec = new HeaderDecoder();
          for (const size of sizes) {
            const big = Buffer.alloc(size, size & 0xff);
            const payload = tuple(atom('two'), big, Buffer.alloc(10, 1), [big, 'text']);
            const m = send(payload);
            const frames = (enc: HeaderEncoder): Buffer => {
              const w = new Writer();
              const large = enc.encode(w, m.control, m.payload);
              return Buffer.concat([w.view(), ...(large?.buffers ?? [])]);
            };
            const label = `${size} bytes, fragments ${fragments}, fragment size ${fragmentSize}`;
            const w = new Writer();
            const large = splicing.encode(w, m.control, m.payload);
            const referenced = (large?.buffers ?? []).filter((b) => b.buffer === big.buffer).length;
            assert.ok(size < k || referenced >= 2, `${label}: binary referenced`);
            const got = Buffer.concat([w.view(), ...(large?.buffers ?? [])]);
            assert.deepStrictEqual(got, frames(copying), label);
            const fd = new FrameDecoder({ prefixSize: 4, maxFrame: 1 << 30 });
            const out = fd.push(got).map((fr) => dec.decode(fr));
            assert.ok(termEquals(out.at(-1)!.payload!, payload), label);
          }
        }
      }
    },
  );

  test('received binaries that are most of their message are views of it; smaller ones are copies', () => {
    const enc = new HeaderEncoder({ atomCache: true, fragments: true });
    const dec = new HeaderDecoder();
    const receive = (payload: Term): Term => {
      const w = new Writer();
      const m = send(payload);
      const large = enc.encode(w, m.control, m.payload);
      const fd = new FrameDecoder({ prefixSize: 4, maxFrame: 1 << 30 });
      const got = fd.push(Buffer.concat([w.view(), ...(large?.buffers ?? [])])).map((f) => dec.decode(f));
      return got.at(-1)!.payload!;
    };
    const one = receive(Buffer.alloc(1024 * 1024, 5)) as Buffer;
    assert.ok(one.buffer.byteLength > one.length, 'a view of the reassembled message');
    const third = 300 * 1024;
    const three = receive([
      Buffer.alloc(third, 1),
      Buffer.alloc(third, 2),
      Buffer.alloc(third, 3),
    ]) as Buffer[];
    for (const b of three)
      assert.equal(b.buffer.byteLength, third, 'a copy: it would keep 3x its size alive');
  });

  test('pass-through form (no atom cache) both ways', { timeout: 60_000 }, () => {
    const enc = new HeaderEncoder({ atomCache: false, fragments: false });
    const m = send(tuple(atom('x'), 1));
    const got = roundTrip(enc, new HeaderDecoder(), m.control, m.payload);
    assert.ok(termEquals(got.payload!, m.payload));
  });

  function failsWith(code: string, ...frames: Buffer[]) {
    const dec = new HeaderDecoder({ maxSequences: 2, maxReassemblyBytes: 1000, maxFragments: 100 });
    assert.throws(
      () => {
        for (const f of frames) dec.decode(f);
      },
      (e: unknown) => e instanceof DistError && e.code === code,
    );
  }

  const ctl = encode(tuple(ControlOp.SEND, atom(''), pid), { versionByte: false });
  const body = encode(atom('hi'), { versionByte: false });
  function fragment(kind: number, seq: number, id: number, data: Buffer, withRefs = true): Buffer {
    const w = new Writer();
    w.u8(131);
    w.u8(kind);
    w.u64(BigInt(seq));
    w.u64(BigInt(id));
    if (kind === HeaderTag.FRAGMENT_FIRST && withRefs) w.u8(0);
    w.bytes(data);
    return w.toBuffer();
  }

  test('fragments count against the node-wide budget and give it back when whole or released', () => {
    const budget = new InboundBudget(ctl.length + 150);
    const one = new HeaderDecoder({ budget });
    const two = new HeaderDecoder({ budget });
    const hundred = Buffer.alloc(100);
    assert.equal(one.decode(fragment(HeaderTag.FRAGMENT_FIRST, 1, 3, ctl)), undefined);
    assert.equal(two.decode(fragment(HeaderTag.FRAGMENT_FIRST, 1, 3, hundred)), undefined);
    // The first reserves its whole message (3 fragments of its size); the second's 300 did not
    // fit, so it holds its first fragment and must grow for the next.
    assert.equal(budget.heldBytes, 3 * ctl.length + 100);
    assert.throws(
      () => two.decode(fragment(HeaderTag.FRAGMENT_NEXT, 1, 2, hundred)),
      (e: unknown) => e instanceof DistError && e.code === 'DIST_INBOUND_LIMIT',
    );
    two.release();
    assert.equal(budget.heldBytes, 3 * ctl.length);
    assert.equal(one.decode(fragment(HeaderTag.FRAGMENT_NEXT, 1, 2, body)), undefined);
    const whole = one.decode(fragment(HeaderTag.FRAGMENT_NEXT, 1, 1, Buffer.alloc(0)));
    assert.ok(whole !== undefined && termEquals(whole.payload!, atom('hi')));
    assert.equal(budget.heldBytes, 0);
  });

  test('a fragmented message reserves fragment count x first fragment size; a larger fragment grows it within the limits', () => {
    const data = Buffer.concat([ctl, encode(Buffer.alloc(250, 7), { versionByte: false })]);
    const [a, b, c] = [data.subarray(0, 60), data.subarray(60, 100), data.subarray(100)];
    const dec = new HeaderDecoder({ maxReassemblyBytes: 1000 });
    assert.equal(dec.decode(fragment(HeaderTag.FRAGMENT_FIRST, 1, 3, a)), undefined);
    assert.equal(dec.pendingBytes, 180, "three fragments of the first one's size");
    assert.equal(dec.decode(fragment(HeaderTag.FRAGMENT_NEXT, 1, 2, b)), undefined);
    assert.equal(dec.pendingBytes, 180);
    // The last fragment is larger than the room left: the message grows for it.
    const whole = dec.decode(fragment(HeaderTag.FRAGMENT_NEXT, 1, 1, c));
    assert.deepEqual(whole?.payload, Buffer.alloc(250, 7));
    assert.equal(dec.pendingBytes, 0);
    // An announcement over the limit holds only its first fragment; growing past the limit is refused.
    const small = new HeaderDecoder({ maxReassemblyBytes: 120 });
    assert.equal(small.decode(fragment(HeaderTag.FRAGMENT_FIRST, 1, 3, a)), undefined);
    assert.equal(small.pendingBytes, 60);
    assert.equal(small.decode(fragment(HeaderTag.FRAGMENT_NEXT, 1, 2, b)), undefined);
    assert.equal(small.pendingBytes, 120, 'grown to what the limit has left');
    assert.throws(
      () => small.decode(fragment(HeaderTag.FRAGMENT_NEXT, 1, 1, c)),
      (e: unknown) => e instanceof DistError && e.code === 'DIST_FRAGMENT_LIMIT',
    );
    assert.equal(small.pendingBytes, 120, 'the refused fragment is not counted');
  });

  test('a message announced in tiny fragments and sent in large ones grows a few times, not once per fragment', () => {
    const dec = new HeaderDecoder({ maxReassemblyBytes: 4 * 1024 * 1024, maxFragments: 1 << 16 });
    assert.equal(dec.decode(fragment(HeaderTag.FRAGMENT_FIRST, 1, 60_000, Buffer.alloc(1))), undefined);
    const sizes = new Set<number>();
    for (let id = 59_999; id > 59_000; id--) {
      assert.equal(dec.decode(fragment(HeaderTag.FRAGMENT_NEXT, 1, id, Buffer.alloc(1024))), undefined);
      sizes.add(dec.pendingBytes);
    }
    assert.ok(sizes.size <= 14, `${sizes.size} sizes`);
    assert.ok(dec.pendingBytes <= 4 * 1024 * 1024);
  });

  test('a peer that overflows a full message by a byte, then fills it exactly, and so on: what is copied stays within the bytes received', () => {
    const dec = new HeaderDecoder({ maxReassemblyBytes: 4 * 1024 * 1024 });
    let received = 16 * 1024;
    let copied = 0;
    assert.equal(dec.decode(fragment(HeaderTag.FRAGMENT_FIRST, 1, 401, Buffer.alloc(received))), undefined);
    for (let id = 400; id > 1; id--) {
      const had = dec.pendingBytes;
      const size = id % 2 === 0 ? 1 : had - received;
      try {
        dec.decode(fragment(HeaderTag.FRAGMENT_NEXT, 1, id, Buffer.alloc(size)));
      } catch (e) {
        // The limit ends it, once the peer has sent about that much.
        assert.ok(e instanceof DistError && e.code === 'DIST_FRAGMENT_LIMIT', String(e));
        break;
      }
      received += size;
      // A grow copies what the buffer held: at most its old size.
      if (dec.pendingBytes > had) copied += had;
    }
    assert.ok(copied <= 2 * received, `${copied} bytes copied for ${received} received`);
  });

  test('a first fragment reserves at most 32 fragments of its size; an honest message grows once, to its size', () => {
    const budget = new InboundBudget();
    const dec = new HeaderDecoder({ budget });
    assert.equal(dec.decode(fragment(HeaderTag.FRAGMENT_FIRST, 1, 65_535, Buffer.alloc(1024))), undefined);
    assert.equal(dec.pendingBytes, 32 * 1024);
    assert.equal(budget.heldBytes, 32 * 1024);
    dec.release();
    // 100 fragments of 1000 bytes: room for 32, then for the 68 still to come.
    const big = Buffer.alloc(99_000, 4);
    const data = Buffer.concat([ctl, encode(big, { versionByte: false })]);
    const size = Math.ceil(data.length / 100);
    const sizes = new Set<number>();
    let whole;
    for (let i = 0; i < 100; i++) {
      const kind = i === 0 ? HeaderTag.FRAGMENT_FIRST : HeaderTag.FRAGMENT_NEXT;
      whole = dec.decode(fragment(kind, 2, 100 - i, data.subarray(i * size, (i + 1) * size)));
      sizes.add(dec.pendingBytes);
    }
    assert.deepEqual([...sizes], [32 * size, 100 * size, 0]);
    const got = whole?.payload as Buffer;
    assert.deepEqual(got, big);
    assert.ok(got.buffer.byteLength > got.length, 'a view of its message: the buffer was its size');
    assert.equal(budget.heldBytes, 0);
  });

  test('a message announced large and sent small: its binary is a copy, not a view of the buffer reserved for it', () => {
    const big = Buffer.alloc(70_000, 3);
    const dec = new HeaderDecoder();
    const data = Buffer.concat([ctl, encode(big, { versionByte: false })]);
    let whole = dec.decode(fragment(HeaderTag.FRAGMENT_FIRST, 1, 900, data));
    for (let id = 899; id >= 1; id--)
      whole = dec.decode(fragment(HeaderTag.FRAGMENT_NEXT, 1, id, Buffer.alloc(0)));
    const got = whole?.payload as Buffer;
    assert.deepEqual(got, big);
    assert.ok(got.buffer.byteLength <= 2 * got.length, `holds ${got.buffer.byteLength} bytes`);
  });

  test('a transient frame (a view of a reused buffer) gives copies of its binaries, in every header form', () => {
    const big = Buffer.alloc(70_000, 5);
    const payload = encode(big, { versionByte: false });
    const forms: Record<string, Buffer> = {
      normal: Buffer.concat([Buffer.from([131, HeaderTag.NORMAL, 0]), ctl, payload]),
      'pass-through': Buffer.concat([
        Buffer.from([131, HeaderTag.PASS_THROUGH, 131]),
        ctl,
        Buffer.from([131]),
        payload,
      ]),
      'a first fragment of one': fragment(HeaderTag.FRAGMENT_FIRST, 1, 1, Buffer.concat([ctl, payload])),
    };
    for (const [form, frame] of Object.entries(forms)) {
      const m = new HeaderDecoder().decode(frame, true);
      frame.fill(0);
      assert.deepEqual(m?.payload, big, form);
    }
  });

  test(
    'bad input: unknown header, refs to empty cache entries, refs out of range',
    { timeout: 60_000 },
    () => {
      failsWith('DIST_BAD_MESSAGE', Buffer.from([131, 99, 0]));
      failsWith('DIST_BAD_MESSAGE', Buffer.from([1, 68, 0]));
      // One ref, not new, to an entry never filled.
      failsWith('DIST_BAD_MESSAGE', Buffer.concat([Buffer.from([131, 68, 1, 0x00, 5]), ctl, body]));
      // ATOM_CACHE_REF index 3 with only one ref in the header.
      const w = new Writer();
      w.bytes(Buffer.from([131, 68, 1, 0x08, 5, 1, 0x61]));
      w.bytes(Buffer.from([104, 3, 97, ControlOp.SEND, 82, 3, 82, 0]));
      failsWith('DIST_BAD_MESSAGE', w.toBuffer());
      // Trailing garbage after the message.
      failsWith(
        'DIST_BAD_MESSAGE',
        Buffer.concat([Buffer.from([131, 68, 0]), ctl, body, Buffer.from([1, 2])]),
      );
    },
  );

  test(
    'bad input: fragments out of order, unknown sequence, duplicate start, limits',
    { timeout: 60_000 },
    () => {
      const data = Buffer.concat([ctl, body]);
      const a = data.subarray(0, 5);
      const b = data.subarray(5);
      failsWith('DIST_FRAGMENT_ORDER', fragment(HeaderTag.FRAGMENT_NEXT, 1, 1, b));
      failsWith(
        'DIST_FRAGMENT_ORDER',
        fragment(HeaderTag.FRAGMENT_FIRST, 1, 3, a),
        fragment(HeaderTag.FRAGMENT_NEXT, 1, 1, b),
      );
      failsWith(
        'DIST_FRAGMENT_ORDER',
        fragment(HeaderTag.FRAGMENT_FIRST, 1, 3, a),
        fragment(HeaderTag.FRAGMENT_FIRST, 1, 3, a),
      );
      failsWith(
        'DIST_FRAGMENT_LIMIT',
        fragment(HeaderTag.FRAGMENT_FIRST, 1, 3, a),
        fragment(HeaderTag.FRAGMENT_FIRST, 2, 3, a),
        fragment(HeaderTag.FRAGMENT_FIRST, 3, 3, a),
      );
      failsWith('DIST_FRAGMENT_LIMIT', fragment(HeaderTag.FRAGMENT_FIRST, 1, 1_000_000, a));
      // Never finished: the reassembly budget bounds memory.
      failsWith(
        'DIST_FRAGMENT_LIMIT',
        fragment(HeaderTag.FRAGMENT_FIRST, 1, 50, Buffer.alloc(600)),
        fragment(HeaderTag.FRAGMENT_NEXT, 1, 49, Buffer.alloc(600)),
      );
      // In order, it works.
      const dec = new HeaderDecoder();
      assert.equal(dec.decode(fragment(HeaderTag.FRAGMENT_FIRST, 7, 2, a)), undefined);
      assert.equal(dec.pendingSequences, 1);
      const m = dec.decode(fragment(HeaderTag.FRAGMENT_NEXT, 7, 1, b));
      assert.equal(m?.payload, atom('hi'));
      assert.equal(dec.pendingSequences, 0);
    },
  );
});

describe('control messages', () => {
  const n = atom('n@h');
  const p1 = new Pid(n, 1, 0, 1);
  const p2 = new Pid(n, 2, 0, 1);
  const ref = new Reference(n, 1, [1, 2, 3]);
  const tok = tuple(atom('token'));
  /** A spawn request of m:f/1 with argument 1 (options and token per test). */
  const spawn = {
    kind: 'spawn_request' as const,
    reqId: ref,
    from: p1,
    groupLeader: p1,
    module: atom('m'),
    function: atom('f'),
    arity: 1,
    args: [1],
  };

  test('every op 1..37 has a shape, and each decodes to its signal', { timeout: 60_000 }, () => {
    const ops = Object.values(ControlOp);
    for (const op of ops) assert.ok(ControlShape[op] !== undefined, `op ${op}`);
    const r = atom('r');
    const name = atom('name');
    const mfaTuple = tuple(atom('m'), atom('f'), 1);
    const cases: [Term[], Term | undefined, Signal][] = [
      [[1, p1, p2], undefined, { kind: 'link', from: p1, to: p2 }],
      [[2, atom(''), p2], 'm', { kind: 'send', from: undefined, to: p2, message: 'm' }],
      [[3, p1, p2, r], undefined, { kind: 'exit', from: p1, to: p2, reason: r }],
      [[4, p1, p2], undefined, { kind: 'unlink', from: p1, to: p2 }],
      [[6, p1, atom(''), name], 'm', { kind: 'reg_send', from: p1, to: name, message: 'm' }],
      [[7, p1, p2], undefined, { kind: 'group_leader', from: p1, to: p2 }],
      [[8, p1, p2, r], undefined, { kind: 'exit2', from: p1, to: p2, reason: r }],
      [[12, atom(''), p2, tok], 'm', { kind: 'send', from: undefined, to: p2, message: 'm', token: tok }],
      [[13, p1, p2, tok, r], undefined, { kind: 'exit', from: p1, to: p2, reason: r, token: tok }],
      [
        [16, p1, atom(''), name, tok],
        'm',
        { kind: 'reg_send', from: p1, to: name, message: 'm', token: tok },
      ],
      [[18, p1, p2, tok, r], undefined, { kind: 'exit2', from: p1, to: p2, reason: r, token: tok }],
      [[19, p1, name, ref], undefined, { kind: 'monitor', from: p1, to: name, ref }],
      [[20, p1, p2, ref], undefined, { kind: 'demonitor', from: p1, to: p2, ref }],
      [[21, p1, p2, ref, r], undefined, { kind: 'monitor_exit', from: p1, to: p2, ref, reason: r }],
      [[22, p1, p2], 'm', { kind: 'send', from: p1, to: p2, message: 'm' }],
      [[23, p1, p2, tok], 'm', { kind: 'send', from: p1, to: p2, message: 'm', token: tok }],
      [[24, p1, p2], r, { kind: 'exit', from: p1, to: p2, reason: r }],
      [[25, p1, p2, tok], r, { kind: 'exit', from: p1, to: p2, reason: r, token: tok }],
      [[26, p1, p2], r, { kind: 'exit2', from: p1, to: p2, reason: r }],
      [[27, p1, p2, tok], r, { kind: 'exit2', from: p1, to: p2, reason: r, token: tok }],
      [[28, name, p2, ref], r, { kind: 'monitor_exit', from: name, to: p2, ref, reason: r }],
      [[29, ref, p1, p1, mfaTuple, [atom('monitor')]], [1], { ...spawn, options: [atom('monitor')] }],
      [[30, ref, p1, p1, mfaTuple, [], tok], [1], { ...spawn, options: [], token: tok }],
      [[31, ref, p1, 2, p2], undefined, { kind: 'spawn_reply', reqId: ref, to: p1, flags: 2, result: p2 }],
      [
        [32, ref, p1, 0, atom('badarg'), tok],
        undefined,
        { kind: 'spawn_reply', reqId: ref, to: p1, flags: 0, result: atom('badarg'), token: tok },
      ],
      [[33, p1, ref], 'm', { kind: 'alias_send', from: p1, alias: ref, message: 'm' }],
      [[34, p1, ref, tok], 'm', { kind: 'alias_send', from: p1, alias: ref, message: 'm', token: tok }],
      [[35, 7, p1, p2], undefined, { kind: 'unlink_id', id: 7n, from: p1, to: p2 }],
      [[36, 7, p1, p2], undefined, { kind: 'unlink_id_ack', id: 7n, from: p1, to: p2 }],
      [[37, 4, p1, ref], 'm', { kind: 'altact_sig', flags: 4, from: p1, target: ref, payload: 'm' }],
      [
        [37, 6, p1, ref, tok],
        'm',
        { kind: 'altact_sig', flags: 6, from: p1, target: ref, payload: 'm', token: tok },
      ],
    ];
    for (const [elements, payload, expected] of cases) {
      const s = decodeSignal({ control: new Tuple(elements), payload });
      assert.ok(sameSignal(s, expected), `op ${String(elements[0])}: ${JSON.stringify(Object.keys(s))}`);
    }
  });

  test('malformed control messages are DIST_BAD_CONTROL', { timeout: 60_000 }, () => {
    const bad: [Term, Term | undefined][] = [
      [atom('x'), undefined],
      [tuple(99, p1), undefined],
      [tuple(1, p1), undefined],
      [tuple(1, p1, atom('notapid')), undefined],
      [tuple(2, atom(''), p2), undefined],
      [tuple(1, p1, p2), 'unexpected payload'],
      [tuple(19, p1, 5, ref), undefined],
      [tuple(29, ref, p1, p1, atom('nomfa'), []), []],
    ];
    for (const [control, payload] of bad) {
      assert.throws(
        () => decodeSignal({ control, payload }),
        (e: unknown) => e instanceof DistError && e.code === 'DIST_BAD_CONTROL',
      );
    }
  });

  test('signals encode with the op the flags allow and decode back', { timeout: 60_000 }, () => {
    const signals: Signal[] = [
      { kind: 'link', from: p1, to: p2 },
      { kind: 'unlink_id', id: 5n, from: p1, to: p2 },
      { kind: 'unlink_id_ack', id: 5n, from: p1, to: p2 },
      { kind: 'send', from: p1, to: p2, message: 'hello' },
      { kind: 'send', from: p1, to: p2, message: 'hello', token: tok },
      { kind: 'reg_send', from: p1, to: atom('rex'), message: 1 },
      { kind: 'alias_send', from: p1, alias: ref, message: 1 },
      { kind: 'exit', from: p1, to: p2, reason: atom('boom') },
      { kind: 'exit2', from: p1, to: p2, reason: atom('kill'), token: tok },
      { kind: 'monitor', from: p1, to: atom('net_kernel'), ref },
      { kind: 'demonitor', from: p1, to: p2, ref },
      { kind: 'monitor_exit', from: p2, to: p1, ref, reason: atom('noproc') },
      { ...spawn, options: [] },
      { kind: 'spawn_reply', reqId: ref, to: p1, flags: 3, result: p2 },
      { kind: 'altact_sig', flags: 4, from: p1, target: ref, payload: 'x' },
    ];
    for (const flags of [DEFAULT_FLAGS, DistFlags.HANDSHAKE_23]) {
      for (const s of signals) {
        const e = encodeSignal(s, flags);
        const back = decodeSignal({ control: e.control, payload: e.payload });
        // Without SEND_SENDER the SEND op has no sender field (OTP's own rule): the sender is dropped.
        const dropsSender = s.kind === 'send' && (flags & DistFlags.SEND_SENDER) === 0n;
        const expected = dropsSender ? { ...s, from: undefined } : s;
        assert.ok(sameSignal(back, expected), `${s.kind} with flags ${flags} came back different`);
      }
    }
    assert.equal(encodeSignal(signals[3]!, DEFAULT_FLAGS).control.elements[0], ControlOp.SEND_SENDER);
    assert.equal(encodeSignal(signals[3]!, 0n).control.elements[0], ControlOp.SEND);
    assert.equal(encodeSignal(signals[7]!, DEFAULT_FLAGS).control.elements[0], ControlOp.PAYLOAD_EXIT);
    assert.equal(encodeSignal(signals[7]!, 0n).control.elements[0], ControlOp.EXIT);
  });
});
