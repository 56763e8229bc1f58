/**
 * The distribution handshake (erl_dist_protocol.md, "Distribution Handshake") as a state
 * machine with no I/O: feed it the bodies of 2-byte-length frames, send what it returns.
 * Both roles; version 6 (`N`) and the old `n` send_name with its `c` complement.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { DistError, type DistErrorCode } from '../errors.ts';
import { Reader, Writer } from '../bytes.ts';
import { HandshakeError } from './errors.ts';
import { DistFlags, expandMandatory25, flagNames, hasFlag, missingMandatory } from './flags.ts';

/** First byte of each handshake message. */
export const HandshakeTag = {
  SEND_NAME: 0x4e, // 'N'
  OLD_SEND_NAME: 0x6e, // 'n'
  STATUS: 0x73, // 's'
  CHALLENGE: 0x4e, // 'N' (reply to N)
  OLD_CHALLENGE: 0x6e, // 'n'
  COMPLEMENT: 0x63, // 'c'
  CHALLENGE_REPLY: 0x72, // 'r'
  CHALLENGE_ACK: 0x61, // 'a'
} as const;

/** The distribution version the old `n` messages carry (OTP 23/24 send 5 there). */
export const OLD_DIST_VERSION = 5;
export const DIGEST_SIZE = 16;
const MAX_NAME_BYTES = 255;
/** The status an acceptor sends before the name it gives a dynamic peer. */
const NAMED_PREFIX = 'named:';
/** The flags an old `n` message has room for; the complement `c` carries the rest. */
const LOW_32_FLAGS = 0xffffffffn;

/** What the acceptor answers to a send_name (status strings of the protocol). */
export type AcceptStatus =
  | { status: 'ok' | 'ok_simultaneous' | 'nok' | 'not_allowed' | 'alive' }
  | { status: 'named'; name: string; creation: number };

export interface HandshakeResult {
  /** The peer's full node name. */
  peerName: string;
  peerCreation: number;
  /** Flags in effect on the connection: ours AND theirs, as OTP does. */
  flags: bigint;
  /** The peer's flags as it sent them (after expanding MANDATORY_25_DIGEST). */
  peerFlags: bigint;
  /** Our name, when the peer assigned it (dynamic names, status `named:`). */
  assignedName?: string;
  assignedCreation?: number;
}

export interface HandshakeOptions {
  /** Our node name, or only the host part when asking the peer to name us (initiator, NAME_ME). */
  thisName: string;
  cookie: string;
  flags: bigint;
  creation: number;
  /** Initiator: the node we dial; its challenge must come from that name. */
  peerName?: string;
  /** Acceptor: decides the status from the peer's name and flags (net_kernel's accept_pending). */
  accept?: (peerName: string, peerFlags: bigint, dynamic: boolean) => AcceptStatus;
  /** Initiator: the answer to status `alive` (is our attempt still wanted? OTP's is_pending). */
  stillPending?: () => boolean;
  /** Acceptor, after status `alive`: the peer said whether to replace the old connection. */
  onAliveReply?: (replace: boolean) => void;
  /** Source of challenges; a cryptographic one by default. */
  challenge?: () => number;
}

export type HandshakeStep = { send: Buffer[]; done?: HandshakeResult };

type State =
  'idle' | 'status' | 'challenge' | 'ack' | 'name' | 'alive' | 'complement' | 'reply' | 'done' | 'failed';

type Handler =
  'onStatus' | 'onChallenge' | 'onAck' | 'onName' | 'onAliveReply' | 'onComplement' | 'onChallengeReply';

/** The method that takes the next message in each state that waits for one. */
const HANDLERS: Partial<Record<State, Handler>> = {
  status: 'onStatus',
  challenge: 'onChallenge',
  ack: 'onAck',
  name: 'onName',
  alive: 'onAliveReply',
  complement: 'onComplement',
  reply: 'onChallengeReply',
};

export function digest(challenge: number, cookie: string): Buffer {
  // OTP hashes atom_to_list(Cookie): one byte per character, so a cookie is Latin-1 bytes, not UTF-8.
  return createHash('md5')
    .update(Buffer.from(cookie + String(challenge >>> 0), 'latin1'))
    .digest();
}

function cryptoChallenge(): number {
  return randomInt(0, 0xffffffff);
}

export function splitNodeName(name: string): { alive: string; host: string } | undefined {
  const at = name.indexOf('@');
  if (at <= 0 || at === name.length - 1 || name.indexOf('@', at + 1) !== -1) return undefined;
  return { alive: name.slice(0, at), host: name.slice(at + 1) };
}

export class Handshake {
  private state: State = 'idle';
  private readonly opts: HandshakeOptions;
  private readonly role: 'initiator' | 'acceptor';
  private ourChallenge = 0;
  private peerName = '';
  private peerFlags = 0n;
  private peerCreation = 0;
  private sentOldChallenge = false;
  private peerSentOld = false;
  private assignedName: string | undefined;
  private assignedCreation: number | undefined;

  constructor(role: 'initiator' | 'acceptor', options: HandshakeOptions) {
    this.role = role;
    this.opts = options;
  }

  /** The peer has our challenge reply and has not acknowledged it (so a close now means a cookie mismatch). */
  get awaitingAck(): boolean {
    return this.state === 'ack';
  }

  get finished(): boolean {
    return this.state === 'done';
  }

  /** Starts the handshake: the initiator's send_name, nothing for the acceptor. */
  start(): Buffer[] {
    if (this.state !== 'idle') throw this.fail('DIST_HANDSHAKE_STATE', 'handshake already started');
    if (this.role === 'acceptor') {
      this.state = 'name';
      return [];
    }
    const w = new Writer(64);
    w.u8(HandshakeTag.SEND_NAME);
    w.u64(this.opts.flags);
    w.u32(hasFlag(this.opts.flags, DistFlags.NAME_ME) ? 0 : this.opts.creation);
    const name = Buffer.from(this.opts.thisName, 'utf8');
    w.u16(name.length);
    w.bytes(name);
    this.state = 'status';
    return [w.toBuffer()];
  }

  /** Feeds one handshake frame body; returns what to send, and the result once done. */
  receive(frame: Uint8Array): HandshakeStep {
    const state = this.state;
    try {
      const handler = HANDLERS[state];
      if (handler === undefined)
        throw this.fail('DIST_HANDSHAKE_STATE', `unexpected handshake message in state ${state}`);
      const r = new Reader(frame);
      return this[handler](r.u8('handshake tag'), r);
    } catch (err) {
      this.state = 'failed';
      if (err instanceof DistError) throw err;
      throw this.fail('DIST_HANDSHAKE_PROTOCOL', `malformed handshake message in state ${state}`, err);
    }
  }

  // Initiator -----------------------------------------------------------------------------

  private onStatus(tag: number, r: Reader): HandshakeStep {
    this.expectTag(tag, HandshakeTag.STATUS, 'status');
    const body = r.bytes(r.remaining);
    const text = latin1(body);
    if (text.startsWith(NAMED_PREFIX)) {
      const nr = new Reader(body, NAMED_PREFIX.length);
      const len = nr.u16('name length');
      const name = Buffer.from(nr.bytes(len, 'name')).toString('utf8');
      const creation = nr.u32('creation');
      const parts = splitNodeName(name);
      if (parts === undefined || parts.host !== this.opts.thisName) {
        throw this.fail('DIST_HANDSHAKE_PROTOCOL', `peer assigned an invalid name '${name}'`);
      }
      this.assignedName = name;
      this.assignedCreation = creation;
      this.state = 'challenge';
      return { send: [] };
    }
    switch (text) {
      case 'ok':
      case 'ok_simultaneous':
        this.state = 'challenge';
        return { send: [] };
      case 'alive': {
        const keep = this.opts.stillPending?.() ?? true;
        if (!keep) {
          this.state = 'failed';
          return { send: [statusFrame('false')] };
        }
        this.state = 'challenge';
        return { send: [statusFrame('true')] };
      }
      case 'nok':
        throw this.fail(
          'DIST_HANDSHAKE_NOK',
          'peer refused the connection (nok: simultaneous connect, its own attempt wins)',
        );
      case 'not_allowed':
        throw this.fail(
          'DIST_HANDSHAKE_NOT_ALLOWED',
          'peer does not allow a connection from this node (not_allowed)',
        );
      default:
        throw this.fail('DIST_HANDSHAKE_PROTOCOL', `unknown handshake status '${text}'`);
    }
  }

  private onChallenge(tag: number, r: Reader): HandshakeStep {
    let challenge: number;
    if (tag === HandshakeTag.CHALLENGE) {
      this.peerFlags = r.u64('flags');
      challenge = r.u32('challenge');
      this.peerCreation = r.u32('creation');
      this.peerName = readName(r, r.u16('name length'));
    } else if (tag === HandshakeTag.OLD_CHALLENGE) {
      r.u16('version');
      this.peerFlags = BigInt(r.u32('flags'));
      challenge = r.u32('challenge');
      this.peerName = readName(r, r.remaining);
    } else {
      throw this.fail('DIST_HANDSHAKE_PROTOCOL', `expected a challenge, got tag ${tag}`);
    }
    if (this.opts.peerName !== undefined && this.peerName !== this.opts.peerName) {
      throw this.fail(
        'DIST_HANDSHAKE_WRONG_NODE',
        `dialled ${this.opts.peerName} but ${this.peerName} answered`,
      );
    }
    this.checkFlags();
    this.ourChallenge = (this.opts.challenge ?? cryptoChallenge)();
    const w = new Writer(32);
    w.u8(HandshakeTag.CHALLENGE_REPLY);
    w.u32(this.ourChallenge);
    w.bytes(digest(challenge, this.opts.cookie));
    this.state = 'ack';
    return { send: [w.toBuffer()] };
  }

  private onAck(tag: number, r: Reader): HandshakeStep {
    this.expectTag(tag, HandshakeTag.CHALLENGE_ACK, 'challenge_ack');
    this.checkDigest(r);
    return this.finish([]);
  }

  // Acceptor ------------------------------------------------------------------------------

  private onName(tag: number, r: Reader): HandshakeStep {
    if (tag === HandshakeTag.SEND_NAME) {
      this.peerFlags = r.u64('flags');
      this.peerCreation = r.u32('creation');
      this.peerName = readName(r, r.u16('name length'));
    } else if (tag === HandshakeTag.OLD_SEND_NAME) {
      r.u16('version');
      this.peerFlags = BigInt(r.u32('flags'));
      this.peerName = readName(r, r.remaining);
      this.peerSentOld = true;
    } else {
      throw this.fail('DIST_HANDSHAKE_PROTOCOL', `expected send_name, got tag ${tag}`);
    }
    const dynamic = hasFlag(this.peerFlags, DistFlags.NAME_ME);
    const valid = dynamic
      ? this.peerName.length > 0 && !this.peerName.includes('@')
      : splitNodeName(this.peerName) !== undefined;
    if (!valid) throw this.fail('DIST_HANDSHAKE_PROTOCOL', `invalid node name '${this.peerName}'`);
    // An old `n` carries only the low 32 flag bits; the rest come in the complement.
    this.checkFlags(this.peerSentOld ? LOW_32_FLAGS : ~0n, [statusFrame('not_allowed')]);
    const decision = this.opts.accept?.(this.peerName, this.peerFlags, dynamic) ?? { status: 'ok' };
    if (decision.status === 'named') {
      this.peerName = decision.name;
      this.peerCreation = decision.creation;
      const name = Buffer.from(decision.name, 'utf8');
      const w = new Writer(32 + name.length);
      w.u8(HandshakeTag.STATUS);
      w.bytes(Buffer.from(NAMED_PREFIX, 'latin1'));
      w.u16(name.length);
      w.bytes(name);
      w.u32(decision.creation);
      return { send: [w.toBuffer(), this.challengeFrame()] };
    }
    if (dynamic)
      throw this.fail('DIST_HANDSHAKE_PROTOCOL', `${this.peerName} asked for a name but none was assigned`);
    switch (decision.status) {
      case 'ok':
      case 'ok_simultaneous':
        return { send: [statusFrame(decision.status), this.challengeFrame()] };
      case 'alive':
        this.state = 'alive';
        return { send: [statusFrame('alive')] };
      case 'nok':
      case 'not_allowed':
        throw this.fail(
          decision.status === 'nok' ? 'DIST_HANDSHAKE_NOK' : 'DIST_HANDSHAKE_NOT_ALLOWED',
          `refused ${this.peerName} (${decision.status})`,
          undefined,
          [statusFrame(decision.status)],
        );
    }
  }

  private onAliveReply(tag: number, r: Reader): HandshakeStep {
    this.expectTag(tag, HandshakeTag.STATUS, 'status reply');
    const text = latin1(r.bytes(r.remaining));
    if (text !== 'true' && text !== 'false')
      throw this.fail('DIST_HANDSHAKE_PROTOCOL', `bad status reply '${text}'`);
    this.opts.onAliveReply?.(text === 'true');
    if (text === 'false')
      throw this.fail('DIST_HANDSHAKE_NOK', `${this.peerName} gave up its connection attempt`);
    return { send: [this.challengeFrame()] };
  }

  private challengeFrame(): Buffer {
    this.ourChallenge = (this.opts.challenge ?? cryptoChallenge)();
    const name = Buffer.from(this.opts.thisName, 'utf8');
    const w = new Writer(32 + name.length);
    // A peer that speaks the version 6 handshake gets the new challenge, even after an old `n`.
    if (hasFlag(this.peerFlags, DistFlags.HANDSHAKE_23)) {
      w.u8(HandshakeTag.CHALLENGE);
      w.u64(this.ourFlags());
      w.u32(this.ourChallenge);
      w.u32(this.opts.creation);
      w.u16(name.length);
    } else {
      this.sentOldChallenge = true;
      w.u8(HandshakeTag.OLD_CHALLENGE);
      w.u16(OLD_DIST_VERSION);
      w.u32(Number(this.ourFlags() & LOW_32_FLAGS));
      w.u32(this.ourChallenge);
    }
    w.bytes(name);
    this.state = this.peerSentOld && !this.sentOldChallenge ? 'complement' : 'reply';
    return w.toBuffer();
  }

  private onComplement(tag: number, r: Reader): HandshakeStep {
    this.expectTag(tag, HandshakeTag.COMPLEMENT, 'complement');
    const high = r.u32('flags high');
    this.peerCreation = r.u32('creation');
    this.peerFlags |= BigInt(high) << 32n;
    this.checkFlags();
    this.state = 'reply';
    return { send: [] };
  }

  private onChallengeReply(tag: number, r: Reader): HandshakeStep {
    this.expectTag(tag, HandshakeTag.CHALLENGE_REPLY, 'challenge_reply');
    const theirChallenge = r.u32('challenge');
    this.checkDigest(r);
    const w = new Writer(DIGEST_SIZE + 1);
    w.u8(HandshakeTag.CHALLENGE_ACK);
    w.bytes(digest(theirChallenge, this.opts.cookie));
    return this.finish([w.toBuffer()]);
  }

  // Shared --------------------------------------------------------------------------------

  /**
   * Our flags as sent. An acceptor naming a dynamic peer sends NAME_ME instead of PUBLISHED, as
   * OTP's dist_util does: the peer checks NAME_ME in the flags both sides agree on, and drops
   * the connection after the handshake without it.
   */
  private ourFlags(): bigint {
    if (this.role === 'acceptor' && hasFlag(this.peerFlags, DistFlags.NAME_ME)) {
      return (this.opts.flags & ~DistFlags.PUBLISHED) | DistFlags.NAME_ME;
    }
    return this.opts.flags;
  }

  /** Refuses a peer without the mandatory flags (those in `mask`; `send` is the last word to it). */
  private checkFlags(mask = ~0n, send?: Buffer[]): void {
    const missing = missingMandatory(this.peerFlags) & mask;
    if (missing !== 0n) {
      throw this.fail(
        'DIST_HANDSHAKE_FLAGS',
        `${this.peerName} lacks mandatory flags ${flagNames(missing).join(', ')}`,
        undefined,
        send,
      );
    }
  }

  /** Reads the peer's digest of our challenge: it proves the peer has our cookie. */
  private checkDigest(r: Reader): void {
    const theirs = r.bytes(DIGEST_SIZE, 'digest');
    if (!timingSafeEqual(theirs, digest(this.ourChallenge, this.opts.cookie))) {
      throw this.fail(
        'DIST_HANDSHAKE_BAD_COOKIE',
        `${this.peerName} answered our challenge with a wrong digest: the cookies differ`,
      );
    }
  }

  private finish(send: Buffer[]): HandshakeStep {
    this.state = 'done';
    const peerFlags = expandMandatory25(this.peerFlags);
    const result: HandshakeResult = {
      peerName: this.peerName,
      peerCreation: this.peerCreation,
      flags: this.ourFlags() & peerFlags,
      peerFlags,
    };
    if (this.assignedName !== undefined) {
      result.assignedName = this.assignedName;
      result.assignedCreation = this.assignedCreation ?? 0;
    }
    return { send, done: result };
  }

  private expectTag(tag: number, want: number, what: string): void {
    if (tag !== want) throw this.fail('DIST_HANDSHAKE_PROTOCOL', `expected ${what}, got tag ${tag}`);
  }

  private fail(code: DistErrorCode, message: string, cause?: unknown, send?: Buffer[]): HandshakeError {
    this.state = 'failed';
    const ctx: { node?: string; cause?: unknown } = {};
    if (this.peerName !== '') ctx.node = this.peerName;
    if (cause !== undefined) ctx.cause = cause;
    return new HandshakeError(code, message, ctx, send ?? []);
  }
}

function statusFrame(status: string): Buffer {
  return Buffer.concat([Buffer.of(HandshakeTag.STATUS), Buffer.from(status, 'latin1')]);
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

function readName(r: Reader, length: number): string {
  if (length > MAX_NAME_BYTES) r.fail(`node name of ${length} bytes`, 'node name');
  return Buffer.from(r.bytes(length, 'node name')).toString('utf8');
}
