/**
 * Length-prefixed frames of the distribution protocol: 2-byte lengths during the handshake (4 in TLS),
 * 4-byte lengths once connected (where a zero-length frame is a tick). No I/O here: bytes go
 * in with {@link FrameDecoder.push}, whole frames come out.
 */
import { DistError } from '../errors.ts';
import type { InboundBudget } from './inbound-budget.ts';

export type PrefixSize = 2 | 4;

/**
 * A connected-mode frame as it arrived: one buffer, or, when it spans reads, the views of the
 * reads it spans, in order (never copied: the caller copies them once, where they go).
 */
export type Frame = Buffer | Buffer[];

/** Largest handshake frame we accept: a name (up to 255 bytes by OTP) plus fixed fields. */
export const MAX_HANDSHAKE_FRAME = 1024;
/**
 * Default cap on one connected frame. OTP sends messages over 64 KiB as 64 KiB fragments, so
 * only peers without DFLAG_FRAGMENTS send larger frames (docs/node.md, "Limits").
 */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;
/**
 * Frames read with {@link FrameDecoder.pushRead} that span reads are collected into one of two
 * buffers the decoder reuses while they are at most this large (a 64 KiB fragment fits); larger
 * ones get a buffer of their own.
 */
const REUSED_FRAME_BYTES = 256 * 1024;
/** What is left of a frame being collected is read straight into it from this many bytes on. */
const DIRECT_READ_BYTES = 4 * 1024;

export interface FrameDecoderOptions {
  prefixSize: PrefixSize;
  maxFrame: number;
  /** The node-wide bound: a frame still arriving holds its declared length of it. */
  budget?: InboundBudget | undefined;
  /** {@link FrameDecoder.pushRead}'s sizes (REUSED_FRAME_BYTES, DIRECT_READ_BYTES): tests make them small. */
  reusedFrameBytes?: number;
  directReadBytes?: number;
}

/**
 * Splits a byte stream into frames. Keeps a partial frame across pushes, never allocates
 * more than a declared length that passed the cap, and passes on only whole frames.
 */
export class FrameDecoder {
  private prefixSize: PrefixSize;
  private maxFrame: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Declared length of the frame being collected, or -1 while the prefix is incomplete. */
  private needed = -1;
  private readonly budget: InboundBudget | undefined;
  /** What this decoder holds of the budget: the declared length of a frame still arriving. */
  private reserved = 0;
  // pushRead's state: the frame being collected (`needed` bytes, `filled` of them in), a length
  // prefix split by a read, the two reused buffers, and the view handed out to read into.
  private collecting: Buffer | undefined;
  private filled = 0;
  private readonly head = Buffer.alloc(4);
  private headFill = 0;
  private reused: [Buffer | undefined, Buffer | undefined] = [undefined, undefined];
  private reusedNext = 0;
  private target: Uint8Array | undefined;
  private transientFrom: ArrayBufferLike | undefined;
  private readonly reusedFrameBytes: number;
  private readonly directReadBytes: number;

  constructor(options: FrameDecoderOptions) {
    this.prefixSize = options.prefixSize;
    this.maxFrame = options.maxFrame;
    this.budget = options.budget;
    this.reusedFrameBytes = options.reusedFrameBytes ?? REUSED_FRAME_BYTES;
    this.directReadBytes = options.directReadBytes ?? DIRECT_READ_BYTES;
  }

  /** Drops what is buffered and gives its share of the budget back (the connection closed). */
  release(): void {
    this.giveBack();
    this.pending = [];
    this.pendingBytes = 0;
    this.needed = -1;
    this.collecting = undefined;
    this.filled = 0;
    this.headFill = 0;
    this.target = undefined;
    this.reused = [undefined, undefined];
  }

  /** Switches to 4-byte frames after the handshake; leftover bytes are kept and reparsed. */
  setMode(prefixSize: PrefixSize, maxFrame: number): void {
    this.prefixSize = prefixSize;
    this.maxFrame = maxFrame;
    this.needed = -1;
  }

  get buffered(): number {
    return this.pendingBytes + this.filled + this.headFill;
  }

  /**
   * Adds bytes and returns the whole frames now available (ticks as empty buffers).
   * When `stopAfterFirst` is set, returns at most one frame so the caller can switch modes.
   * Throws {@link DistError} (DIST_FRAME_TOO_LARGE) when a declared length exceeds the cap; whole
   * frames before it are returned first, and the following `drain` throws.
   */
  push(chunk: Uint8Array, stopAfterFirst = false): Buffer[] {
    if (chunk.length > 0) {
      this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.pendingBytes += chunk.length;
    }
    return this.drain(stopAfterFirst);
  }

  /** Returns frames already buffered (after a mode switch). */
  drain(stopAfterFirst = false): Buffer[] {
    return this.collect(stopAfterFirst, false) as Buffer[];
  }

  /**
   * {@link push}, but a frame that spans reads comes out as the views of its reads instead of a
   * copy (a 64 KiB fragment nearly always spans two 64 KiB reads).
   */
  pushSplit(chunk: Uint8Array): Frame[] {
    if (chunk.length > 0) {
      this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.pendingBytes += chunk.length;
    }
    return this.collect(false, true);
  }

  /** {@link drain} with frames as {@link pushSplit} returns them. */
  drainSplit(): Frame[] {
    return this.collect(false, true);
  }

  /**
   * Where the next read should go: the rest of the frame being collected (so it is read straight
   * into its buffer), or undefined (into the reader's own buffer).
   */
  readTarget(): Uint8Array | undefined {
    const c = this.collecting;
    if (c === undefined || this.needed - this.filled < this.directReadBytes) return undefined;
    this.target = c.subarray(this.filled, this.needed);
    return this.target;
  }

  /**
   * Connected mode for reads into a buffer that is reused afterwards (`onread`): the first `n`
   * bytes of `read`, either the reader's own buffer (valid only during this call, never kept) or
   * the last {@link readTarget}. Returns whole frames that are valid only until the next call
   * on this decoder unless {@link isTransient} says otherwise. Same errors as {@link push}.
   */
  pushRead(read: Uint8Array, n: number): Buffer[] {
    const target = this.target;
    this.target = undefined;
    if (read === target) {
      this.transientFrom = undefined;
      this.filled += n;
      return this.filled === this.needed ? [this.collected()] : [];
    }
    this.transientFrom = read.buffer;
    const chunk = read.subarray(0, n);
    if (this.collecting === undefined && (this.pendingBytes > 0 || this.needed >= 0)) {
      // Bytes left from push (the handshake's last read): finish what they started the old way.
      const frames = this.push(Buffer.from(chunk));
      this.adoptPending();
      return frames;
    }
    const frames: Buffer[] = [];
    let at = 0;
    if (this.collecting !== undefined) {
      at = Math.min(this.needed - this.filled, n);
      this.collecting.set(chunk.subarray(0, at), this.filled);
      this.filled += at;
      if (this.filled < this.needed) return frames;
      frames.push(this.collected());
    }
    while (at < n) {
      if (this.headFill > 0 || n - at < this.prefixSize) {
        const take = Math.min(this.prefixSize - this.headFill, n - at);
        this.head.set(chunk.subarray(at, at + take), this.headFill);
        this.headFill += take;
        at += take;
        if (this.headFill < this.prefixSize) break;
        this.headFill = 0;
        if (!this.startFrame(this.prefixLength(this.head, 0), chunk, at, frames)) break;
      } else {
        const length = this.prefixLength(chunk, at);
        at += this.prefixSize;
        if (!this.startFrame(length, chunk, at, frames)) break;
      }
      if (this.collecting !== undefined) break;
      frames.push(Buffer.from(chunk.buffer, chunk.byteOffset + at, this.needed));
      at += this.needed;
      this.needed = -1;
    }
    return frames;
  }

  /** Whether a frame from {@link pushRead} is only valid until the next call (a view of a read or of a reused buffer). */
  isTransient(frame: Buffer): boolean {
    const b = frame.buffer;
    return b === this.transientFrom || b === this.reused[0]?.buffer || b === this.reused[1]?.buffer;
  }

  /** The frame length in the prefix at `bytes[at]` (2 or 4 bytes, big-endian). */
  private prefixLength(bytes: Uint8Array, at: number): number {
    const b0 = bytes[at]!;
    const b1 = bytes[at + 1]!;
    if (this.prefixSize === 2) return (b0 << 8) | b1;
    return (b0 * 0x1000000 + (b1 << 16) + (bytes[at + 2]! << 8) + bytes[at + 3]!) >>> 0;
  }

  /**
   * A frame of `length` bytes begins at `chunk[at]` (its prefix read). Sets `needed`; a frame not
   * whole in `chunk` is reserved and collected from here on. A refused frame's prefix and the rest
   * of `chunk` go to `pending` (copied) for {@link collect} to refuse it as {@link push} does: at
   * once when no frame came before it, else at the next drain. Returns false then.
   */
  private startFrame(length: number, chunk: Uint8Array, at: number, frames: Buffer[]): boolean {
    const whole = length <= chunk.length - at;
    if (this.refuses(length, whole)) {
      const prefix = Buffer.alloc(this.prefixSize);
      if (this.prefixSize === 2) prefix.writeUInt16BE(length);
      else prefix.writeUInt32BE(length);
      this.pending = [prefix, Buffer.from(chunk.subarray(at))];
      this.pendingBytes = this.prefixSize + chunk.length - at;
      if (frames.length === 0) frames.push(...this.push(new Uint8Array(0)));
      return false;
    }
    this.needed = length;
    if (whole) return true;
    this.reserve(length);
    this.collecting = this.frameBuffer(length);
    this.filled = chunk.length - at;
    this.collecting.set(chunk.subarray(at), 0);
    return true;
  }

  /** A buffer to collect a frame of `length` bytes in: the reused one not handed out last, or one of its own. */
  private frameBuffer(length: number): Buffer {
    if (length > this.reusedFrameBytes) return Buffer.allocUnsafeSlow(length);
    const i = this.reusedNext;
    this.reusedNext = 1 - i;
    const have = this.reused[i];
    if (have !== undefined && have.length >= length) return have;
    const grown = Buffer.allocUnsafeSlow(
      Math.max(length, Math.min(2 * (have?.length ?? 0), this.reusedFrameBytes)),
    );
    this.reused[i] = grown;
    return grown;
  }

  /** The frame collected is whole: hands it out and gives its share of the budget back. */
  private collected(): Buffer {
    const frame = this.collecting!.subarray(0, this.needed);
    this.collecting = undefined;
    this.filled = 0;
    this.needed = -1;
    this.giveBack();
    return frame;
  }

  /** A frame not here yet is held while it arrives: it takes its declared length from the budget. */
  private reserve(length: number): void {
    if (this.budget === undefined) return;
    this.budget.take(length, 'a frame');
    this.reserved = length;
  }

  /** Gives back what the frame being collected held of the budget (it arrived, or the connection closed). */
  private giveBack(): void {
    if (this.reserved === 0) return;
    this.budget?.give(this.reserved);
    this.reserved = 0;
  }

  /** Whether a frame of `length` bytes is refused: over the cap, or not here yet and over the budget. */
  private refuses(length: number, whole: boolean): boolean {
    return length > this.maxFrame || (!whole && this.budget !== undefined && !this.budget.fits(length));
  }

  /** After push: a frame it left half read continues in a buffer of its own (pending holds copies). */
  private adoptPending(): void {
    // A refused frame stays in pending: the next drain throws.
    if (this.needed < 0 && this.pendingBytes >= this.prefixSize) return;
    if (this.needed < 0) {
      for (const part of this.pending) {
        this.head.set(part, this.headFill);
        this.headFill += part.length;
      }
    } else {
      this.collecting = this.frameBuffer(this.needed);
      this.filled = 0;
      for (const part of this.pending) {
        this.collecting.set(part, this.filled);
        this.filled += part.length;
      }
    }
    this.pending = [];
    this.pendingBytes = 0;
  }

  private collect(stopAfterFirst: boolean, split: boolean): Frame[] {
    const frames: Frame[] = [];
    for (;;) {
      if (this.needed < 0) {
        if (this.pendingBytes < this.prefixSize) break;
        const prefix = this.take(this.prefixSize);
        const length = this.prefixLength(prefix, 0);
        const whole = length <= this.pendingBytes;
        if (this.refuses(length, whole)) {
          if (frames.length > 0) {
            // Whole frames before the bad one are handed over first; the next drain throws.
            this.pending.unshift(prefix);
            this.pendingBytes += prefix.length;
            break;
          }
          if (length > this.maxFrame)
            throw new DistError(
              'DIST_FRAME_TOO_LARGE',
              `frame of ${length} bytes exceeds the limit of ${this.maxFrame}`,
            );
        }
        if (!whole) this.reserve(length);
        this.needed = length;
      }
      if (this.pendingBytes < this.needed) break;
      frames.push(split ? this.takeSplit(this.needed) : this.take(this.needed));
      this.needed = -1;
      this.giveBack();
      if (stopAfterFirst) break;
    }
    return frames;
  }

  /** Removes and returns the first `n` buffered bytes (a view when they sit in one chunk). */
  private take(n: number): Buffer {
    const parts = this.takeSplit(n);
    return Array.isArray(parts) ? Buffer.concat(parts, n) : parts;
  }

  /** Removes the first `n` buffered bytes: a view when they sit in one chunk, else views of each. */
  private takeSplit(n: number): Frame {
    if (n === 0) return Buffer.alloc(0);
    const first = this.pending[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.pending.shift();
      else this.pending[0] = first.subarray(n);
      this.pendingBytes -= n;
      return out;
    }
    const parts: Buffer[] = [];
    for (let left = n; left > 0;) {
      const head = this.pending[0]!;
      if (head.length <= left) {
        parts.push(head);
        this.pending.shift();
        left -= head.length;
      } else {
        parts.push(head.subarray(0, left));
        this.pending[0] = head.subarray(left);
        left = 0;
      }
    }
    this.pendingBytes -= n;
    return parts;
  }
}

/** A handshake frame: a 2-byte length (4 bytes inside TLS, as inet_tls_dist), then `body`. */
export function encodeHandshakeFrame(body: Uint8Array, prefixSize: PrefixSize = 2): Buffer {
  if (body.length > 0xffff)
    throw new DistError('DIST_FRAME_TOO_LARGE', `handshake frame of ${body.length} bytes`);
  const out = Buffer.allocUnsafe(prefixSize + body.length);
  if (prefixSize === 2) out.writeUInt16BE(body.length, 0);
  else out.writeUInt32BE(body.length, 0);
  out.set(body, prefixSize);
  return out;
}

/** The 4-byte zero-length frame that keeps a quiet connection alive. */
export const TICK_FRAME: Buffer = Buffer.alloc(4);
