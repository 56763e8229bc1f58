/**
 * The vectors in test/vectors/distribution.json were recorded from real OTP
 * (scripts/gen-dist-vectors.escript): a handshake and the frames of a connection between two erl
 * nodes, captured by a TCP proxy, and control tuples as term_to_binary writes them. Our codecs
 * must read all of it, and write the same bytes wherever the bytes are determined by their inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Handshake } from '../../src/distribution/handshake.ts';
import { HeaderDecoder } from '../../src/distribution/header.ts';
import { ControlShape, decodeSignal, encodeSignal, type Signal } from '../../src/distribution/control.ts';
import { DEFAULT_FLAGS, DistFlags } from '../../src/distribution/flags.ts';
import { Reader } from '../../src/bytes.ts';
import { decode, encode } from '../../src/etf/index.ts';
import { atom, Tuple, type Term } from '../../src/etf/terms.ts';

interface Vectors {
  otp: string;
  cookie: string;
  initiator: string;
  acceptor: string;
  handshake: Record<'send_name' | 'status' | 'challenge' | 'challenge_reply' | 'challenge_ack', string>;
  frames: { initiator: string[]; acceptor: string[] };
  messages: string[];
  control: { name: string; hex: string }[];
}

const vectors = JSON.parse(
  readFileSync(new URL('../vectors/distribution.json', import.meta.url), 'utf8'),
) as Vectors;
const bytes = (hex: string) => Buffer.from(hex, 'hex');
const hs = Object.fromEntries(Object.entries(vectors.handshake).map(([k, v]) => [k, bytes(v)])) as Record<
  keyof Vectors['handshake'],
  Buffer
>;

/** The fields of a recorded `N` send_name or challenge, read here by hand (not by our handshake). */
function fields(
  message: Buffer,
  withChallenge: boolean,
): { flags: bigint; challenge?: number; creation: number; name: string } {
  const r = new Reader(message, 1);
  const flags = r.u64('flags');
  const challenge = withChallenge ? r.u32('challenge') : undefined;
  const creation = r.u32('creation');
  const name = Buffer.from(r.bytes(r.u16('length'), 'name')).toString('utf8');
  return { flags, ...(challenge === undefined ? {} : { challenge }), creation, name };
}

const sent = fields(hs.send_name, false);
const offered = fields(hs.challenge, true);
/** The initiator's own challenge, which it sent in its challenge_reply. */
const initiatorChallenge = hs.challenge_reply.readUInt32BE(1);
const md5 = (text: string) => createHash('md5').update(text).digest('hex');

test('the recorded handshake is OTP 25 between the named nodes, and its digests are MD5(cookie ++ challenge)', () => {
  assert.equal(vectors.otp, '25');
  assert.equal(sent.name, vectors.initiator);
  assert.equal(offered.name, vectors.acceptor);
  assert.equal(hs.status.toString('latin1'), 'sok');
  assert.equal(hs.challenge_reply.subarray(5).toString('hex'), md5(`${vectors.cookie}${offered.challenge}`));
  assert.equal(hs.challenge_ack.subarray(1).toString('hex'), md5(`${vectors.cookie}${initiatorChallenge}`));
});

/** Our handshake in `role`, with the name, flags, creation and challenge OTP's node of that role used. */
function asOtpDid(role: 'initiator' | 'acceptor'): Handshake {
  const own = role === 'initiator' ? sent : offered;
  return new Handshake(role, {
    thisName: own.name,
    cookie: vectors.cookie,
    flags: own.flags,
    creation: own.creation,
    challenge: () => (role === 'initiator' ? initiatorChallenge : offered.challenge!),
    ...(role === 'initiator' ? { peerName: vectors.acceptor } : {}),
  });
}

test("our acceptor, given OTP's challenge, answers OTP's initiator with OTP's bytes", () => {
  const acceptor = asOtpDid('acceptor');
  assert.deepEqual(acceptor.start(), []);
  const named = acceptor.receive(hs.send_name);
  assert.deepEqual(
    named.send.map((b) => b.toString('hex')),
    [hs.status, hs.challenge].map((b) => b.toString('hex')),
  );
  const replied = acceptor.receive(hs.challenge_reply);
  assert.deepEqual(
    replied.send.map((b) => b.toString('hex')),
    [hs.challenge_ack.toString('hex')],
  );
  assert.equal(replied.done?.peerName, vectors.initiator);
  assert.equal(replied.done?.peerCreation, sent.creation);
});

test("our initiator, given OTP's challenge, talks to OTP's acceptor with OTP's bytes", () => {
  const initiator = asOtpDid('initiator');
  assert.deepEqual(
    initiator.start().map((b) => b.toString('hex')),
    [hs.send_name.toString('hex')],
  );
  assert.deepEqual(initiator.receive(hs.status).send, []);
  assert.deepEqual(
    initiator.receive(hs.challenge).send.map((b) => b.toString('hex')),
    [hs.challenge_reply.toString('hex')],
  );
  const done = initiator.receive(hs.challenge_ack).done;
  assert.equal(done?.peerName, vectors.acceptor);
  assert.equal(done?.peerCreation, offered.creation);
});

/** Every signal in one direction's recorded frames, through one header decoder (its atom cache). */
function signals(frames: string[]): { signal: Signal; payload: Term | undefined }[] {
  const decoder = new HeaderDecoder();
  const out: { signal: Signal; payload: Term | undefined }[] = [];
  for (const frame of frames.map(bytes)) {
    if (frame.length === 0) continue; // a tick
    const message = decoder.decode(frame);
    assert.ok(message !== undefined, `frame ${frame.toString('hex').slice(0, 40)} is a whole message`);
    out.push({ signal: decodeSignal(message), payload: message.payload });
  }
  return out;
}

test('the frames OTP sent both ways decode, atom cache and all, to the signals the scenario made', () => {
  const fromInitiator = signals(vectors.frames.initiator);
  const fromAcceptor = signals(vectors.frames.acceptor);
  const kinds = (list: { signal: Signal }[]) => list.map((s) => s.signal.kind);
  // The scenario (see the script): reg_send, erpc (spawn_request), send, link/unlink, monitor and
  // demonitor, a send to an alias, a monitor to see vec_b go down.
  for (const kind of [
    'reg_send',
    'spawn_request',
    'send',
    'link',
    'unlink_id',
    'monitor',
    'demonitor',
    'alias_send',
  ] as const) {
    assert.ok(kinds(fromInitiator).includes(kind), `${kind} in ${kinds(fromInitiator).join(' ')}`);
  }
  for (const kind of ['spawn_reply', 'unlink_id_ack', 'monitor_exit'] as const) {
    assert.ok(kinds(fromAcceptor).includes(kind), `${kind} in ${kinds(fromAcceptor).join(' ')}`);
  }
  // The scenario's own messages arrive whole, and re-encode to the bytes term_to_binary writes.
  const payloads = fromInitiator.map((s) => s.payload).filter((p) => p !== undefined);
  for (const hex of vectors.messages) {
    const found = payloads.find((p) => encode(p).toString('hex') === hex);
    assert.ok(found !== undefined, `message ${String(decode(bytes(hex)))} not among the frames`);
  }
  const names = fromInitiator.map(({ signal }) => (signal.kind === 'reg_send' ? signal.to.name : ''));
  assert.ok(names.includes('vec_b') && names.includes('net_kernel'), names.join(' '));
  // Every pid in a signal is of one of the two nodes.
  for (const { signal } of [...fromInitiator, ...fromAcceptor]) {
    const from = (signal as { from?: unknown }).from;
    if (from !== undefined && typeof from === 'object' && from !== null && 'node' in from) {
      assert.ok(
        [vectors.initiator, vectors.acceptor].includes((from as { node: { name: string } }).node.name),
      );
    }
  }
});

test('control tuples from term_to_binary decode to their op, and encode back to the same bytes', () => {
  let sameBytes = 0;
  for (const { name, hex } of vectors.control) {
    const control = decode(bytes(hex));
    assert.ok(control instanceof Tuple, name);
    const op = control.elements[0] as number;
    assert.equal(ControlShape[op]?.name, name, `op ${op}`);
    // A spawn request's payload is its argument list; other payloads are a message or reason.
    const spawn = ControlShape[op]!.name.startsWith('SPAWN_REQUEST');
    const payload: Term | undefined = ControlShape[op]!.payload ? (spawn ? [] : atom('payload')) : undefined;
    const signal = decodeSignal({ control, payload });
    // Where one of the flag sets makes our encoder pick this very op, it must write OTP's bytes.
    for (const flags of [DEFAULT_FLAGS, DistFlags.HANDSHAKE_23, 0n]) {
      const ours = encodeSignal(signal, flags);
      if (ours.control.elements[0] !== op) continue;
      assert.equal(encode(ours.control).toString('hex'), hex, `${name} with flags ${flags}`);
      sameBytes++;
      break;
    }
  }
  // Our encoder writes every one of these ops for some flags.
  assert.equal(sameBytes, vectors.control.length);
});
