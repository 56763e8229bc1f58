/**
 * Fuzzing the distribution parsers (framing, handshake in both roles, headers with the atom cache
 * and fragments, control messages) with mutated valid input and random bytes. Only DistError may
 * escape, no case may hang, and the stateful parsers never hold more than their caps.
 * Deterministic: DIST_FUZZ_SEED=<n> replays another seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeHandshakeFrame, FrameDecoder, type PrefixSize } from '../../src/distribution/framing.ts';
import { digest, Handshake, HandshakeTag, type HandshakeOptions } from '../../src/distribution/handshake.ts';
import { HeaderDecoder, HeaderEncoder, HeaderTag, type DistMessage } from '../../src/distribution/header.ts';
import { ControlOp, ControlShape, decodeSignal, encodeSignal } from '../../src/distribution/control.ts';
import { DEFAULT_FLAGS, DistFlags } from '../../src/distribution/flags.ts';
import { DistError } from '../../src/errors.ts';
import { InboundBudget } from '../../src/distribution/inbound-budget.ts';
import { Writer } from '../../src/bytes.ts';
import { atom, Pid, Reference, Tuple, type Term } from '../../src/etf/terms.ts';
import { termEquals } from '../../src/etf/index.ts';
import { termArb } from '../etf/arbitraries.ts';
import { chunksOf, fuzzing, mutate, randomBytes, rng } from '../fuzz.ts';
import { fragmentBody, sameSignal } from './helpers.ts';

const { runs, guarded, replay: REPLAY } = fuzzing('DIST_FUZZ_SEED', 0x0d157, DistError);

/** Mutates a sequence of frames: some frames mutated, and frames dropped, repeated, swapped or injected. */
function mutateSequence(frames: readonly Buffer[], random: (n: number) => number): Buffer[] {
  const out = [...frames];
  for (let i = 0, n = 1 + random(3); i < n; i++) {
    const at = random(Math.max(out.length, 1));
    switch (random(6)) {
      case 0:
        out.splice(at, 1);
        break;
      case 1:
        if (out[at] !== undefined) out.splice(at, 0, out[at]);
        break;
      case 2: {
        const other = random(Math.max(out.length, 1));
        if (out[at] !== undefined && out[other] !== undefined) [out[at], out[other]] = [out[other], out[at]];
        break;
      }
      case 3:
        out.splice(at, 0, randomBytes(random, 64));
        break;
      case 4:
        out.length = random(out.length + 1);
        break;
      default:
        if (out[at] !== undefined) out[at] = mutate(out[at], random);
    }
  }
  return out;
}

// Framing ---------------------------------------------------------------------------------------

/** A byte stream made of frames (their length honest) and raw bytes, and where to split it. */
const streamArb = fc.record({
  prefixSize: fc.constantFrom<PrefixSize>(2, 4),
  maxFrame: fc.integer({ min: 0, max: 600 }),
  parts: fc.array(
    fc.oneof(
      fc.uint8Array({ maxLength: 700 }).map((body) => ({ body })),
      fc.uint8Array({ minLength: 1, maxLength: 12 }).map((raw) => ({ raw })),
    ),
    { maxLength: 10 },
  ),
  cuts: fc.array(fc.nat(), { maxLength: 12 }),
  oneByteAtATime: fc.boolean(),
});

function prefixed(prefixSize: PrefixSize, body: Uint8Array): Buffer {
  const prefix = Buffer.alloc(prefixSize);
  if (prefixSize === 2) prefix.writeUInt16BE(body.length, 0);
  else prefix.writeUInt32BE(body.length, 0);
  return Buffer.concat([prefix, body]);
}

/** The frames of `stream` taken one at a time from one push, and the error that stopped them. */
function framesOneByOne(stream: Buffer, prefixSize: PrefixSize, maxFrame: number) {
  const frames: Buffer[] = [];
  const fd = new FrameDecoder({ prefixSize, maxFrame });
  let out = guarded('first frame', () => fd.push(stream, true));
  while (!(out instanceof DistError) && out.length > 0) {
    frames.push(...out);
    out = guarded('next frame', () => fd.drain(true));
  }
  return { frames, error: out instanceof DistError ? out : undefined };
}

test('framing: any split of any stream gives the same frames, each within the cap, never buffering past it', () => {
  let errors = 0;
  fc.assert(
    fc.property(streamArb, ({ prefixSize, maxFrame, parts, cuts, oneByteAtATime }) => {
      const stream = Buffer.concat(
        parts.map((p) => ('body' in p ? prefixed(prefixSize, p.body) : Buffer.from(p.raw))),
      );
      const whole = framesOneByOne(stream, prefixSize, maxFrame);
      const fd = new FrameDecoder({ prefixSize, maxFrame });
      const got: Buffer[] = [];
      let error: DistError | undefined;
      for (const chunk of chunksOf(stream, cuts, oneByteAtATime)) {
        const out = guarded('push', () => fd.push(chunk));
        if (out instanceof DistError) {
          error = out;
          break;
        }
        got.push(...out);
        // An oversized frame met after whole ones in the same chunk is reported by the next drain.
        const rest = guarded('drain', () => fd.drain());
        if (rest instanceof DistError) {
          error = rest;
          break;
        }
        got.push(...rest);
        assert.ok(
          fd.buffered < Math.max(prefixSize, maxFrame),
          `${fd.buffered} bytes buffered, cap ${maxFrame}`,
        );
      }
      for (const f of got) assert.ok(f.length <= maxFrame);
      // Every whole frame before an oversized one is handed over before the error: nothing is lost.
      assert.deepEqual(got, whole.frames);
      assert.equal(error?.code, whole.error?.code);
      if (error !== undefined) errors++;
      // Honest frames only: exactly the bodies come out.
      if (parts.every((p) => 'body' in p && p.body.length <= maxFrame)) {
        assert.deepEqual(
          got.map((f) => Buffer.from(f)),
          parts.map((p) => ('body' in p ? Buffer.from(p.body) : Buffer.alloc(0))),
        );
        assert.equal(fd.buffered, 0);
      }
    }),
    runs(3_000),
  );
  assert.ok(errors > 0, 'some streams declared a frame over the cap');
});

/**
 * Reads `stream` as a socket with `onread` would, at the points `chunksOf` cuts it: each read into
 * `fd.readTarget()` when it names one, else into one buffer of the reader's own, which is
 * overwritten after every read (data read into it is valid only during the call). `onFrames`
 * gets each read's frames (and a deferred error's drain) during the call; errors end the stream.
 */
function readInto(
  fd: FrameDecoder,
  stream: Buffer,
  cuts: number[],
  oneByteAtATime: boolean,
  onFrames: (frames: Buffer[]) => void,
  ownBytes = 256,
): DistError | undefined {
  const own = Buffer.alloc(ownBytes);
  for (const chunk of chunksOf(stream, cuts, oneByteAtATime)) {
    for (let at = 0; at < chunk.length;) {
      const into = fd.readTarget() ?? own;
      const n = Math.min(into.length, chunk.length - at);
      into.set(chunk.subarray(at, at + n));
      at += n;
      const out = guarded('pushRead', () => fd.pushRead(into, n));
      if (out instanceof DistError) return out;
      onFrames(out);
      const rest = guarded('drain', () => fd.drain());
      if (rest instanceof DistError) return rest;
      onFrames(rest);
      own.fill(0xee);
    }
  }
  return undefined;
}

/**
 * From how many bytes left of a frame pushRead reads straight into it: 1 always, 4096 never for
 * these small frames (a frame collected in a reused buffer then ends in a read into the reader's
 * own, which may start the next frame in the other reused buffer).
 */
const directReadArb = fc.constantFrom(1, 64, 4096);

test('framing: reads into a reused buffer (onread) give the frames and errors of push at any split; frames not transient stay intact', () => {
  fc.assert(
    fc.property(
      streamArb,
      fc.nat(40),
      directReadArb,
      ({ maxFrame, parts, cuts, oneByteAtATime }, reused, direct) => {
        // Connected mode only (pushRead's), so 4-byte prefixes.
        const stream = Buffer.concat(
          parts.map((p) => ('body' in p ? prefixed(4, p.body) : Buffer.from(p.raw))),
        );
        const whole = framesOneByOne(stream, 4, maxFrame);
        const budget = new InboundBudget(700);
        const fd = new FrameDecoder({
          prefixSize: 4,
          maxFrame,
          budget,
          reusedFrameBytes: reused,
          directReadBytes: direct,
        });
        const copies: Buffer[] = [];
        const kept: { frame: Buffer; copy: Buffer }[] = [];
        const error = readInto(fd, stream, cuts, oneByteAtATime, (frames) => {
          for (const frame of frames) {
            const copy = Buffer.from(frame);
            copies.push(copy);
            if (!fd.isTransient(frame)) kept.push({ frame, copy });
          }
          assert.ok(budget.heldBytes <= maxFrame, `${budget.heldBytes} bytes held, cap ${maxFrame}`);
        });
        assert.deepEqual(
          copies,
          whole.frames.map((f) => Buffer.from(f)),
        );
        // The budget (700) is never short of a frame within the cap (600): the same errors as push.
        assert.equal(error?.code, whole.error?.code);
        for (const { frame, copy } of kept) assert.deepEqual(Buffer.from(frame), copy);
        fd.release();
        assert.equal(budget.heldBytes, 0);
      },
    ),
    runs(3_000),
  );
});

test('framing: a frame collected in a reused buffer ends in a read that starts the next one: that one goes to the other buffer', () => {
  const a = Buffer.alloc(10_000, 0xaa);
  const b = Buffer.alloc(10_000, 0xbb);
  const stream = Buffer.concat([prefixed(4, a), prefixed(4, b)]);
  // Default sizes: the last 2004 bytes of a (under 4 KiB) come in a read of the reader's own
  // buffer with the first 96 of b, which does not fit that read.
  const fd = new FrameDecoder({ prefixSize: 4, maxFrame: 1 << 20 });
  const got: Buffer[] = [];
  const error = readInto(
    fd,
    stream,
    [8000, 10_104],
    false,
    (frames) => {
      for (const frame of frames) got.push(Buffer.from(frame));
    },
    64 * 1024,
  );
  assert.equal(error, undefined);
  assert.deepEqual(got, [a, b]);
});

test('framing: reads into a reused buffer refuse a frame past the node-wide budget as push does, after the frames before it', () => {
  fc.assert(
    fc.property(
      fc.array(fc.nat(300), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (sizes, cuts) => {
        const stream = Buffer.concat(sizes.map((n, i) => prefixed(4, Buffer.alloc(n, i))));
        const push = new FrameDecoder({ prefixSize: 4, maxFrame: 1000, budget: new InboundBudget(150) });
        const pushed: Buffer[] = [];
        let pushError: DistError | undefined;
        for (const chunk of chunksOf(stream, cuts)) {
          const out = guarded('push', () => push.push(new Uint8Array(chunk)));
          if (out instanceof DistError) {
            pushError = out;
            break;
          }
          pushed.push(...out.map((f) => Buffer.from(f)));
          // A refused frame after whole ones in the same chunk: the next drain throws.
          const rest = guarded('drain', () => push.drain());
          if (rest instanceof DistError) {
            pushError = rest;
            break;
          }
        }
        const budget = new InboundBudget(150);
        const fd = new FrameDecoder({ prefixSize: 4, maxFrame: 1000, budget, directReadBytes: 1 });
        const read: Buffer[] = [];
        // Reads as large as push's chunks: whether a frame is whole in one decides the budget check.
        const error = readInto(
          fd,
          stream,
          cuts,
          false,
          (frames) => read.push(...frames.map((f) => Buffer.from(f))),
          stream.length,
        );
        assert.deepEqual(read, pushed);
        assert.equal(error?.code, pushError?.code);
        assert.ok(budget.heldBytes <= 150);
      },
    ),
    runs(1_000),
  );
});

test('framing: reads into a reused buffer carry on a frame that push started (the last read of the handshake)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 5 }),
      fc.nat(),
      fc.array(fc.nat(), { maxLength: 8 }),
      (bodies, split, cuts) => {
        const stream = Buffer.concat(bodies.map((b) => prefixed(4, b)));
        const at = split % (stream.length + 1);
        const fd = new FrameDecoder({ prefixSize: 4, maxFrame: 1024, directReadBytes: 1 });
        const got = fd.push(stream.subarray(0, at)).map((f) => Buffer.from(f));
        const error = readInto(fd, stream.subarray(at), cuts, false, (frames) =>
          got.push(...frames.map((f) => Buffer.from(f))),
        );
        assert.equal(error, undefined);
        assert.deepEqual(
          got,
          bodies.map((b) => Buffer.from(b)),
        );
        assert.equal(fd.buffered, 0);
      },
    ),
    runs(2_000),
  );
});

test('framing: handshake frames, then a switch to 4-byte frames mid-chunk, at any split', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 50 }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (handshake, connected, cuts) => {
        const stream = Buffer.concat([
          ...handshake.map((b) => encodeHandshakeFrame(b)),
          ...connected.map((b) => prefixed(4, b)),
        ]);
        const fd = new FrameDecoder({ prefixSize: 2, maxFrame: 1024 });
        const got: Buffer[] = [];
        let switched = false;
        for (const chunk of chunksOf(stream, cuts, false)) {
          let out = fd.push(chunk, !switched);
          for (;;) {
            got.push(...out);
            if (switched) break;
            if (got.length === handshake.length) {
              fd.setMode(4, 1024);
              switched = true;
              out = fd.drain();
            } else if (out.length === 0) break;
            else out = fd.drain(true);
          }
        }
        assert.deepEqual(
          got.map((f) => Buffer.from(f)),
          [...handshake, ...connected].map((b) => Buffer.from(b)),
        );
        assert.equal(fd.buffered, 0);
      },
    ),
    runs(2_000),
  );
});

// Handshake -------------------------------------------------------------------------------------

const COOKIE = 'fuzz-cookie';
const FIXED_CHALLENGE = 0x12345678;
const fixedChallenge = () => FIXED_CHALLENGE;

function options(name: string, extra: Partial<HandshakeOptions> = {}): HandshakeOptions {
  return {
    thisName: name,
    cookie: COOKIE,
    flags: DEFAULT_FLAGS | DistFlags.PUBLISHED,
    creation: 7,
    challenge: fixedChallenge,
    ...extra,
  };
}

interface Scenario {
  name: string;
  initiator: HandshakeOptions;
  acceptor: HandshakeOptions;
}

const SCENARIOS: Scenario[] = [
  { name: 'ok', initiator: options('a@h', { peerName: 'b@h' }), acceptor: options('b@h') },
  {
    name: 'alive',
    initiator: options('a@h'),
    acceptor: options('b@h', { accept: () => ({ status: 'alive' }), onAliveReply: () => undefined }),
  },
  {
    name: 'named',
    initiator: options('h', { flags: DEFAULT_FLAGS | DistFlags.NAME_ME }),
    acceptor: options('b@h', {
      accept: (_n, _f, dynamic) =>
        dynamic ? { status: 'named', name: 'js1@h', creation: 5 } : { status: 'ok' },
    }),
  },
];

/** The frame bodies each side sends in a successful handshake. */
function conversation(s: Scenario): { toAcceptor: Buffer[]; toInitiator: Buffer[] } {
  const init = new Handshake('initiator', s.initiator);
  const acc = new Handshake('acceptor', s.acceptor);
  const toAcceptor: Buffer[] = [];
  const toInitiator: Buffer[] = [];
  let pending = init.start();
  acc.start();
  while (pending.length > 0) {
    toAcceptor.push(...pending);
    const answers = pending.flatMap((f) => acc.receive(f).send);
    toInitiator.push(...answers);
    pending = answers.flatMap((f) => init.receive(f).send);
  }
  assert.ok(init.finished && acc.finished, `scenario ${s.name} completes`);
  return { toAcceptor, toInitiator };
}

/** The old `n` send_name of OTP 23/24, its complement and challenge reply, as the acceptor gets them. */
function oldNameFrames(): Buffer[] {
  const name = new Writer();
  name.u8(HandshakeTag.OLD_SEND_NAME);
  name.u16(5);
  name.u32(Number(DEFAULT_FLAGS & 0xffffffffn));
  name.bytes(Buffer.from('old@h'));
  const complement = new Writer();
  complement.u8(HandshakeTag.COMPLEMENT);
  complement.u32(Number(DEFAULT_FLAGS >> 32n));
  complement.u32(77);
  const reply = new Writer();
  reply.u8(HandshakeTag.CHALLENGE_REPLY);
  reply.u32(1234);
  reply.bytes(digest(FIXED_CHALLENGE, COOKIE));
  return [name.toBuffer(), complement.toBuffer(), reply.toBuffer()];
}

interface HandshakeCase {
  role: 'initiator' | 'acceptor';
  options: HandshakeOptions;
  frames: Buffer[];
}

const HANDSHAKE_CASES: HandshakeCase[] = [
  ...SCENARIOS.flatMap((s): HandshakeCase[] => {
    const c = conversation(s);
    return [
      { role: 'acceptor', options: s.acceptor, frames: c.toAcceptor },
      { role: 'initiator', options: s.initiator, frames: c.toInitiator },
    ];
  }),
  { role: 'acceptor', options: options('b@h'), frames: oldNameFrames() },
];

/** Where the digest of our (fixed) challenge sits in the frame that completes the handshake. */
const DIGEST_AT = { initiator: 1, acceptor: 5 } as const;

/** Feeds frames to a fresh handshake until it finishes or fails; a finished one must have seen the right digest. */
function playHandshake(c: HandshakeCase, frames: Buffer[], label: string): 'done' | 'failed' | 'waiting' {
  const hs = new Handshake(c.role, c.options);
  hs.start();
  for (const frame of frames) {
    const step = guarded(label, () => hs.receive(frame));
    if (step instanceof DistError) {
      assert.equal(
        guarded(label, () => hs.receive(frame)) instanceof DistError,
        true,
        'a failed handshake stays failed',
      );
      return 'failed';
    }
    if (step.done !== undefined) {
      assert.ok(hs.finished);
      const at = DIGEST_AT[c.role];
      assert.deepEqual(
        frame.subarray(at, at + 16),
        digest(FIXED_CHALLENGE, COOKIE),
        `${label}: finished without the digest of our challenge (${REPLAY})`,
      );
      assert.ok(guarded(label, () => hs.receive(frame)) instanceof DistError, 'nothing is taken after done');
      return 'done';
    }
  }
  return 'waiting';
}

test('handshake: the unmutated conversations complete in both roles', () => {
  for (const [i, c] of HANDSHAKE_CASES.entries())
    assert.equal(playHandshake(c, c.frames, `case ${i}`), 'done');
});

test('handshake: mutated, truncated, extended, reordered and random frames in both roles give only DistError', () => {
  const outcomes = { done: 0, failed: 0, waiting: 0 };
  fc.assert(
    fc.property(fc.nat(HANDSHAKE_CASES.length - 1), fc.nat(), (index, seed) => {
      const c = HANDSHAKE_CASES[index]!;
      const frames = mutateSequence(c.frames, rng(seed));
      outcomes[playHandshake(c, frames, `${c.role} case ${index} seed ${seed}`)]++;
    }),
    runs(10_000),
  );
  assert.ok(outcomes.failed > 0 && outcomes.done > 0, JSON.stringify(outcomes));
});

// Headers ---------------------------------------------------------------------------------------

const HEADER_LIMITS = { maxReassemblyBytes: 32 * 1024, maxSequences: 4, maxFragments: 1024, maxDepth: 64 };

const node = atom('a@h');
const pid = new Pid(node, 5, 0, 3);

/** Sessions of frames as one connection would get them: atom cache entries announced then referenced, fragments. */
function headerSessions(): Buffer[][] {
  const payloads = fc.sample(termArb, { numRuns: 120, seed: 7 });
  const sessions: Buffer[][] = [];
  for (let s = 0; s < 12; s++) {
    const atomCache = s % 3 !== 2;
    const enc = new HeaderEncoder({ atomCache, fragments: true, fragmentSize: 128 + s * 64 });
    const frames: Buffer[] = [];
    const fd = new FrameDecoder({ prefixSize: 4, maxFrame: 1 << 20 });
    for (const payload of payloads.slice(s * 10, s * 10 + 10)) {
      const control = new Tuple([ControlOp.REG_SEND, pid, atom(''), atom(`name${s % 4}`)]);
      const w = new Writer();
      const large = enc.encode(w, control, payload);
      frames.push(
        ...fd.push(Buffer.concat([w.view(), ...(large?.buffers ?? [])])).map((f) => Buffer.from(f)),
      );
    }
    sessions.push(frames);
  }
  return sessions;
}

const SESSIONS = headerSessions();

/** Decodes a session's frames with small limits, checking the limits after every frame (errors included). */
function playHeaders(
  frames: Buffer[],
  label: string,
  keepGoing: boolean,
  limits = HEADER_LIMITS,
): { messages: DistMessage[]; errors: number } {
  const dec = new HeaderDecoder(limits);
  const messages: DistMessage[] = [];
  let errors = 0;
  for (const frame of frames) {
    const m = guarded(label, () => dec.decode(frame));
    assert.ok(dec.pendingSequences <= limits.maxSequences, `${label}: ${dec.pendingSequences} sequences`);
    assert.ok(dec.pendingBytes <= limits.maxReassemblyBytes, `${label}: ${dec.pendingBytes} bytes held`);
    if (m instanceof DistError) {
      errors++;
      if (!keepGoing) break;
    } else if (m !== undefined) messages.push(m);
  }
  return { messages, errors };
}

/** A session's frames decoded one by one as they come off a stream, to compare with {@link playHeaders}. */
class Played {
  readonly messages: DistMessage[] = [];
  errors = 0;
  private readonly dec = new HeaderDecoder(HEADER_LIMITS);

  constructor(private readonly label: string) {}

  decode(frame: Buffer | Buffer[], transient: boolean): void {
    const m = guarded(this.label, () => this.dec.decode(frame, transient));
    assert.ok(this.dec.pendingBytes <= HEADER_LIMITS.maxReassemblyBytes, `${this.label}: bytes held`);
    if (m instanceof DistError) this.errors++;
    else if (m !== undefined) this.messages.push(m);
  }

  assertSame(whole: { messages: DistMessage[]; errors: number }): void {
    const label = this.label;
    assert.equal(this.errors, whole.errors, label);
    assert.equal(this.messages.length, whole.messages.length, label);
    this.messages.forEach((m, i) => {
      const w = whole.messages[i]!;
      assert.ok(termEquals(m.control, w.control), label);
      assert.ok(
        (m.payload === undefined && w.payload === undefined) ||
          (m.payload !== undefined && w.payload !== undefined && termEquals(m.payload, w.payload)),
        label,
      );
    });
  }
}

test('headers: the unmutated sessions decode, fragments included', () => {
  assert.ok(SESSIONS.some((s) => s.some((f) => f[1] === HeaderTag.FRAGMENT_FIRST)));
  assert.ok(SESSIONS.some((s) => s.some((f) => f[1] === HeaderTag.PASS_THROUGH)));
  for (const [i, frames] of SESSIONS.entries()) {
    const { messages, errors } = playHeaders(frames, `session ${i}`, false);
    assert.equal(errors, 0);
    assert.equal(messages.length, 10);
  }
});

test('headers: mutated sessions (frames changed, dropped, repeated, reordered, unfinished) give only DistError, within the limits', () => {
  fc.assert(
    fc.property(fc.nat(SESSIONS.length - 1), fc.nat(), fc.boolean(), (index, seed, keepGoing) => {
      const frames = mutateSequence(SESSIONS[index]!, rng(seed));
      playHeaders(frames, `session ${index} seed ${seed}`, keepGoing);
    }),
    runs(4_000),
  );
});

/** A mutated session as a stream, and what its whole frames decode to. */
function sessionStream(index: number, seed: number) {
  const label = `session ${index} seed ${seed}`;
  // Empty frames are ticks on a stream; the frames here are messages.
  const frames = mutateSequence(SESSIONS[index]!, rng(seed)).filter((f) => f.length > 0);
  const stream = Buffer.concat(frames.map((f) => prefixed(4, f)));
  return { label, stream, whole: playHeaders(frames, label, true), played: new Played(label) };
}

/** A session, its seed, where its stream is cut, and whether a byte at a time (slow on the larger sessions: one run in eight). */
const cutSessionArbs = [
  fc.nat(SESSIONS.length - 1),
  fc.nat(),
  fc.array(fc.nat(), { maxLength: 40 }),
  fc.nat(7).map((n) => n === 0),
] as const;

test('headers: the frames of a mutated session, read from a stream cut anywhere (frames that span reads come as parts), decode as the whole frames do', () => {
  fc.assert(
    fc.property(...cutSessionArbs, (index, seed, cuts, oneByteAtATime) => {
      const { stream, whole, played } = sessionStream(index, seed);
      const fd = new FrameDecoder({ prefixSize: 4, maxFrame: 1 << 20 });
      for (const chunk of chunksOf(stream, cuts, oneByteAtATime)) {
        // Each read in a buffer of its own, as a socket delivers them.
        for (const frame of fd.pushSplit(new Uint8Array(chunk))) played.decode(frame, false);
      }
      played.assertSame(whole);
    }),
    runs(250),
  );
});

test('headers: the frames of a mutated session, read into a reused buffer (onread) cut anywhere, decode as the whole frames do and stay intact after later reads', () => {
  fc.assert(
    fc.property(
      ...cutSessionArbs,
      fc.constantFrom(0, 512, 1 << 20),
      directReadArb,
      (index, seed, cuts, oneByteAtATime, reused, direct) => {
        const { label, stream, whole, played } = sessionStream(index, seed);
        const fd = new FrameDecoder({
          prefixSize: 4,
          maxFrame: 1 << 20,
          reusedFrameBytes: reused,
          directReadBytes: direct,
        });
        const error = readInto(fd, stream, cuts, oneByteAtATime, (out) => {
          for (const frame of out) played.decode(frame, fd.isTransient(frame));
        });
        assert.equal(error, undefined, label);
        // Compared after every read: a message holding a view of a reused buffer would differ.
        played.assertSame(whole);
      },
    ),
    runs(250),
  );
});

test('headers: large binaries read into a reused buffer (whole in a read, or collected across reads) are the bytes sent after every later read', () => {
  const control = new Tuple([ControlOp.REG_SEND, pid, atom(''), atom('sink')]);
  for (const fragments of [false, true]) {
    const enc = new HeaderEncoder({ atomCache: true, fragments });
    // Not growing: each frame collected in a reused buffer fits the one two frames before it, so a
    // binary kept as a view of it would be overwritten.
    const sent = [4, 3, 2, 1, 1, 1].map((i, at) => Buffer.alloc(100_000 + i * 7_000, at + 1));
    const w = new Writer();
    const parts: Uint8Array[] = [];
    for (const binary of sent) {
      const large = enc.encode(w, control, binary);
      parts.push(Buffer.from(w.view()), ...(large?.buffers ?? []).map((b) => Buffer.from(b)));
      w.reset();
    }
    const stream = Buffer.concat(parts);
    for (const ownBytes of [stream.length, 4096, 70_000]) {
      const fd = new FrameDecoder({ prefixSize: 4, maxFrame: 1 << 20 });
      const dec = new HeaderDecoder();
      const got: Term[] = [];
      const error = readInto(
        fd,
        stream,
        [],
        false,
        (frames) => {
          for (const frame of frames) {
            const m = dec.decode(frame, fd.isTransient(frame));
            if (m?.payload !== undefined) got.push(m.payload);
          }
        },
        ownBytes,
      );
      assert.equal(error, undefined);
      assert.deepEqual(got, sent, `fragments ${fragments}, reads of ${ownBytes} bytes`);
    }
  }
});

/** Small enough that random sequences run into every limit. */
const FRAGMENT_LIMITS = { ...HEADER_LIMITS, maxReassemblyBytes: 4096, maxFragments: 5 };

const fragmentArb = fc.record({
  kind: fc.constantFrom(HeaderTag.FRAGMENT_FIRST, HeaderTag.FRAGMENT_NEXT),
  seq: fc.nat(5),
  id: fc.oneof(fc.nat(6), fc.constantFrom(0xffffffffn, 2n ** 64n - 1n)),
  /** A run of filler then random bytes: sizes reach the reassembly limit, counterexamples stay short. */
  filler: fc.nat(3000),
  tail: fc.uint8Array({ maxLength: 64 }),
});

test('headers: random fragment sequences (out of order, unknown, repeated, never finished) stay within the limits', () => {
  fc.assert(
    fc.property(fc.array(fragmentArb, { maxLength: 30 }), fc.boolean(), (fragments, keepGoing) => {
      const frames = fragments.map(({ kind, seq, id, filler, tail }) =>
        fragmentBody(kind, seq, id, Buffer.alloc(filler, 0x61), tail),
      );
      playHeaders(frames, 'fragments', keepGoing, FRAGMENT_LIMITS);
    }),
    runs(3_000),
  );
});

test('headers: random bytes behind each header kind give only DistError', () => {
  const kinds = [HeaderTag.NORMAL, HeaderTag.FRAGMENT_FIRST, HeaderTag.FRAGMENT_NEXT, HeaderTag.PASS_THROUGH];
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(fc.oneof(fc.constantFrom(...kinds), fc.nat(255)), fc.uint8Array({ maxLength: 200 })),
        {
          minLength: 1,
          maxLength: 8,
        },
      ),
      (frames) => {
        playHeaders(
          frames.map(([kind, rest]) => Buffer.concat([Buffer.of(HeaderTag.VERSION, kind), rest])),
          'random',
          true,
        );
      },
    ),
    runs(3_000),
  );
});

// Control messages ------------------------------------------------------------------------------

const pidArb = fc
  .tuple(fc.nat(), fc.nat(), fc.nat())
  .map(([id, serial, creation]) => new Pid(node, id, serial, creation));
const refArb = fc
  .array(fc.nat(0xffffffff), { minLength: 1, maxLength: 5 })
  .map((ids) => new Reference(node, 3, ids));
/** Elements of the types control tuples hold (pids most), and some they must not. */
const elementArb: fc.Arbitrary<Term> = fc.oneof(
  { weight: 8, arbitrary: pidArb },
  { weight: 2, arbitrary: refArb },
  {
    weight: 2,
    arbitrary: fc.constantFrom<Term>(atom(''), atom('x'), true, false, [], 0, 2, -1, 2 ** 53, 2n ** 64n),
  },
  fc.integer(),
  fc.bigInt(),
  fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
  fc
    .tuple(
      fc.constantFrom<Term>(atom('m'), 'm'),
      fc.constantFrom<Term>(atom('f'), 1),
      fc.oneof(fc.nat(), fc.bigInt()),
    )
    .map((e) => new Tuple(e)),
  termArb,
);

const ALL_FLAGS = DEFAULT_FLAGS | DistFlags.SEND_SENDER | DistFlags.EXIT_PAYLOAD;

/** The same signal: every field equal as a term. */
/** A control message: mostly a known op at (about) its arity, with a payload when it takes one; sometimes anything. */
const controlArb: fc.Arbitrary<{ op: Term; elements: Term[]; payload: Term | undefined; tupled: boolean }> =
  fc
    .record({
      op: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom<Term>(...Object.values(ControlOp)) },
        fc.integer({ min: -1, max: 40 }),
        elementArb,
      ),
      arityChange: fc.constantFrom(0, 0, 0, 0, -1, 1),
      elements: fc.array(elementArb, { maxLength: 7 }),
      payload: elementArb,
      payloadAsShaped: fc.boolean(),
      tupled: fc.boolean(),
    })
    .map(({ op, arityChange, elements, payload, payloadAsShaped, tupled }) => {
      const shape = typeof op === 'number' ? ControlShape[op] : undefined;
      if (shape === undefined || !payloadAsShaped) return { op, elements, payload: undefined, tupled };
      const count = Math.max(shape.arity - 1 + arityChange, 0);
      const sized = Array.from(
        { length: count },
        (_, i) => elements[i % Math.max(elements.length, 1)] ?? atom(''),
      );
      return { op, elements: sized, payload: shape.payload ? payload : undefined, tupled: true };
    });

test('control: random tuples with random ops and elements give a signal or DistError; signals survive encoding', () => {
  let decoded = 0;
  fc.assert(
    fc.property(controlArb, ({ op, elements, payload, tupled }) => {
      const control: Term = tupled ? new Tuple([op, ...elements]) : [op, ...elements];
      const signal = guarded('decodeSignal', () => decodeSignal({ control, payload }));
      if (signal instanceof DistError) {
        assert.equal(signal.code, 'DIST_BAD_CONTROL');
        return;
      }
      decoded++;
      const again = encodeSignal(signal, ALL_FLAGS);
      const back = decodeSignal({ control: again.control, payload: again.payload });
      assert.ok(sameSignal(signal, back), `${signal.kind} changed through encoding (${REPLAY})`);
    }),
    runs(20_000),
  );
  assert.ok(decoded > 500, `only ${decoded} random tuples decoded`);
});

test('control: flag words and arities out of range, and an ALTACT_SIG_SEND token the flags deny, are DIST_BAD_CONTROL', () => {
  const from = new Pid(node, 1, 0, 3);
  const reqId = new Reference(node, 3, [1, 2, 3]);
  const bad: DistMessage[] = [
    // Flags beyond any flag word: read as a float they lost their bits (and the TOKEN bit with them).
    { control: new Tuple([ControlOp.ALTACT_SIG_SEND, -(2n ** 255n), from, from]), payload: atom('m') },
    { control: new Tuple([ControlOp.ALTACT_SIG_SEND, 2 ** 40, from, from]), payload: atom('m') },
    { control: new Tuple([ControlOp.SPAWN_REPLY, reqId, from, -1, from]), payload: undefined },
    {
      control: new Tuple([
        ControlOp.SPAWN_REQUEST,
        reqId,
        from,
        from,
        new Tuple([atom('m'), atom('f'), 2n ** 70n]),
        [],
      ]),
      payload: [],
    },
    // The TOKEN flag says a trace token follows, and none does; or one follows that the flags do not announce.
    { control: new Tuple([ControlOp.ALTACT_SIG_SEND, 2, from, from]), payload: atom('m') },
    { control: new Tuple([ControlOp.ALTACT_SIG_SEND, 0, from, from, atom('token')]), payload: atom('m') },
  ];
  for (const msg of bad) {
    assert.throws(
      () => decodeSignal(msg),
      (e: unknown) => e instanceof DistError && e.code === 'DIST_BAD_CONTROL',
      String(msg.control),
    );
  }
  const traced = decodeSignal({
    control: new Tuple([ControlOp.ALTACT_SIG_SEND, 2, from, from, atom('token')]),
    payload: atom('m'),
  });
  assert.ok(traced.kind === 'altact_sig' && traced.token instanceof Object);
});

test('headers: a fragment refused for the reassembly limit is not counted as held', () => {
  const dec = new HeaderDecoder({ maxReassemblyBytes: 4096 });
  const first = (seq: bigint) => {
    const w = new Writer();
    w.u8(HeaderTag.VERSION);
    w.u8(HeaderTag.FRAGMENT_FIRST);
    w.u64(seq);
    w.u64(3n);
    w.u8(0);
    w.bytes(Buffer.alloc(3000, 0x61));
    return w.toBuffer();
  };
  assert.equal(dec.decode(first(1n)), undefined);
  assert.throws(
    () => dec.decode(first(2n)),
    (e: unknown) => e instanceof DistError && e.code === 'DIST_FRAGMENT_LIMIT',
  );
  assert.equal(dec.pendingBytes, 3000, 'only the first sequence is held');
  assert.equal(dec.pendingSequences, 1);
});
