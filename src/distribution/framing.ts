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

export interface FrameDecoderOptions {
  prefixSize: PrefixSize;
  maxFrame: number;
  /** The node-wide bound: a frame still arriving holds its declared length of it. */
  budget?: InboundBudget | undefined;
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

  constructor(options: FrameDecoderOptions) {
    this.prefixSize = options.prefixSize;
    this.maxFrame = options.maxFrame;
    this.budget = options.budget;
  }

  /** Drops what is buffered and gives its share of the budget back (the connection closed). */
  release(): void {
    this.budget?.give(this.reserved);
    this.reserved = 0;
    this.pending = [];
    this.pendingBytes = 0;
    this.needed = -1;
  }

  /** Switches to 4-byte frames after the handshake; leftover bytes are kept and reparsed. */
  setMode(prefixSize: PrefixSize, maxFrame: number): void {
    this.prefixSize = prefixSize;
    this.maxFrame = maxFrame;
    this.needed = -1;
  }

  get buffered(): number {
    return this.pendingBytes;
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

  private collect(stopAfterFirst: boolean, split: boolean): Frame[] {
    const frames: Frame[] = [];
    for (;;) {
      if (this.needed < 0) {
        if (this.pendingBytes < this.prefixSize) break;
        const prefix = this.take(this.prefixSize);
        const length = this.prefixSize === 2 ? prefix.readUInt16BE(0) : prefix.readUInt32BE(0);
        // A frame not here yet is held while it arrives: it takes its length from the budget.
        const budget = length > this.pendingBytes ? this.budget : undefined;
        if (length > this.maxFrame || (budget !== undefined && !budget.fits(length))) {
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
        if (budget !== undefined) {
          budget.take(length, 'a frame');
          this.reserved = length;
        }
        this.needed = length;
      }
      if (this.pendingBytes < this.needed) break;
      frames.push(split ? this.takeSplit(this.needed) : this.take(this.needed));
      this.needed = -1;
      if (this.reserved > 0) {
        this.budget?.give(this.reserved);
        this.reserved = 0;
      }
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
