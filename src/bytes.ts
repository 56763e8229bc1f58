/**
 * The codec building blocks shared by every wire format in eid (ETF, EPMD, distribution):
 * one reader that walks a buffer with an offset and checks every length against the bytes
 * actually left, and one growable writer that can fill in a length prefix last. They know no
 * format, so they throw the neutral BytesError; each codec turns it into its own error.
 */
import { BytesError } from './errors.ts';

export class Reader {
  offset: number;
  readonly end: number;

  constructor(
    readonly buf: Uint8Array,
    offset = 0,
    end = buf.length,
  ) {
    this.offset = offset;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  /** Throws unless `n` more bytes are present; call before allocating anything sized by `n`. */
  need(n: number, expected: string): void {
    if (n > this.end - this.offset) {
      throw new BytesError(
        'BYTES_TRUNCATED',
        `truncated: ${expected} needs ${n} bytes, ${this.end - this.offset} left`,
        { offset: this.offset, expected },
      );
    }
  }

  u8(expected = 'u8'): number {
    this.need(1, expected);
    return this.buf[this.offset++]!;
  }

  u16(expected = 'u16'): number {
    this.need(2, expected);
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 2;
    return (b[o]! << 8) | b[o + 1]!;
  }

  u32(expected = 'u32'): number {
    this.need(4, expected);
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 4;
    return ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
  }

  u64(expected = 'u64'): bigint {
    const hi = this.u32(expected);
    const lo = this.u32(expected);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** A view (not a copy) of the next `n` bytes. */
  bytes(n: number, expected = 'bytes'): Uint8Array {
    this.need(n, expected);
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** Rejects a field the format does not allow (BYTES_INVALID at `at`). */
  fail(message: string, expected: string, at = this.offset): never {
    throw new BytesError('BYTES_INVALID', message, { offset: at, expected });
  }
}

const INITIAL_CAPACITY = 256;

/**
 * A growable output buffer. By default every byte is copied into `buf`. A writer whose
 * {@link Writer.spliceMin} is set takes binaries at least that large by reference instead
 * ({@link Writer.splice}): they sit between its own bytes, and {@link Writer.chunks} gives the
 * whole output as a list of views (for writev) without ever copying them.
 */
export class Writer {
  buf: Buffer;
  offset = 0;
  /** Binaries of at least this many bytes are spliced in by reference; Infinity (default): never. */
  spliceMin = Infinity;
  /** Spliced binaries, each with the offset in `buf` it logically sits at, in order. */
  private readonly spliced: { at: number; bytes: Uint8Array }[] = [];
  private splicedBytes = 0;

  constructor(capacity = INITIAL_CAPACITY) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  /** Makes room for `n` more bytes, doubling so appends stay amortised O(1). */
  ensure(n: number): void {
    const needed = this.offset + n;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.offset);
    this.buf = grown;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.offset++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.offset);
    this.offset += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.offset);
    this.offset += 4;
  }

  u64(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64BE(v, this.offset);
    this.offset += 8;
  }

  /**
   * Appends `src` by reference: it is not copied, so it must not change until the output is
   * consumed. Callers check {@link spliceMin} first.
   */
  splice(src: Uint8Array): void {
    this.spliced.push({ at: this.offset, bytes: src });
    this.splicedBytes += src.length;
  }

  /** Bytes written, spliced ones included. */
  get length(): number {
    return this.offset + this.splicedBytes;
  }

  /** The output in order as views: runs of `buf` and spliced binaries (empty runs left out). */
  chunks(): Buffer[] {
    const out: Buffer[] = [];
    let from = 0;
    for (const { at, bytes } of this.spliced) {
      if (at > from) out.push(this.buf.subarray(from, at));
      if (bytes.length > 0) out.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      from = at;
    }
    if (this.offset > from) out.push(this.buf.subarray(from, this.offset));
    return out;
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.offset);
    this.offset += src.length;
  }

  /** Writes `s` as UTF-8 and returns the byte length written. */
  utf8(s: string): number {
    this.ensure(s.length * 3);
    const n = this.buf.write(s, this.offset, 'utf8');
    this.offset += n;
    return n;
  }

  /** Reserves a length prefix of `size` bytes (2 or 4) and returns its position for {@link fillLength}. */
  reserveLength(size: 2 | 4): number {
    this.ensure(size);
    const at = this.offset;
    this.offset += size;
    return at;
  }

  /** Fills a reserved prefix with the number of bytes written after it. */
  fillLength(at: number, size: 2 | 4): void {
    let length = this.offset - at - size;
    for (const s of this.spliced) if (s.at > at) length += s.bytes.length;
    if (size === 2) this.buf.writeUInt16BE(length, at);
    else this.buf.writeUInt32BE(length, at);
  }

  /** A copy of what was written; the writer can be reset and reused. */
  toBuffer(): Buffer {
    if (this.spliced.length > 0) return Buffer.concat(this.chunks(), this.length);
    return Buffer.from(this.buf.subarray(0, this.offset));
  }

  /** A view of what was written, valid until the next write. Only for writers without splices. */
  view(): Buffer {
    if (this.spliced.length > 0)
      throw new BytesError(
        'BYTES_SPLICED_VIEW',
        'Writer.view() of an output with spliced binaries: use chunks()',
      );
    return this.buf.subarray(0, this.offset);
  }

  reset(): void {
    this.offset = 0;
    if (this.spliced.length > 0) {
      this.spliced.length = 0;
      this.splicedBytes = 0;
    }
  }
}
