/**
 * Distribution headers (erl_ext_dist.md, "Distribution Header"): the normal header 'D' with
 * its atom cache references, the fragmented headers 'E' (first fragment) and 'F' (the rest),
 * and the pass-through form 'p'. Incoming: one {@link HeaderDecoder} per connection (it owns
 * that connection's atom cache and fragment reassembly). Outgoing: one {@link HeaderEncoder}.
 * Codecs only: frames in, terms out, and back.
 */
import { DistError, type DistErrorCode } from '../errors.ts';
import { Reader, Writer } from '../bytes.ts';
import { decodeFrom, encodeInto, type DecodeOptions } from '../etf/index.ts';
import { type Atom, type Term } from '../etf/terms.ts';
import { decodeAtomBytes } from '../etf/atom-cache.ts';
import { defaultTermCost } from '../etf/budget.ts';
import type { InboundBudget } from './inbound-budget.ts';

export const HeaderTag = {
  VERSION: 131,
  NORMAL: 68, // 'D'
  FRAGMENT_FIRST: 69, // 'E'
  FRAGMENT_NEXT: 70, // 'F'
  PASS_THROUGH: 112, // 'p'
} as const;

/** Atom cache geometry: 8 segments of 256 entries, as in OTP. */
export const ATOM_CACHE_SIZE = 2048;
/** An entry's index within its segment is one byte; the segment goes in the flag nibble. */
const SEGMENT_BITS = 8;
const SEGMENT_SIZE = 1 << SEGMENT_BITS;
/** Up to this many references per message are looked up by scanning, beyond by a Map. */
const SCAN_REFS = 16;
/** At most 255 atom cache references fit in one header (the count is one byte). */
const MAX_REFS_PER_MESSAGE = 255;
/** Flag nibble bits. */
const NIBBLE_MASK = 0xf;
const NEW_ENTRY = 0x8;
const SEGMENT_MASK = 0x7;
const LONG_ATOMS = 0x1;
/** Atom names we cache outgoing are under this many UTF-8 bytes (one length byte). */
const SHORT_ATOM_BYTES = 256;

/** Bodies up to this size are copied into the connection's output batch; larger ones are handed over. */
const LARGE_MESSAGE = 64 * 1024;
/**
 * Outgoing binaries of at least this size are not copied into the message: its frames reference
 * them (OTP sends refc binaries the same way). At least LARGE_MESSAGE, so only large messages
 * hold them.
 */
export const SPLICE_BINARY_BYTES = 64 * 1024;
/**
 * Incoming binaries of at least this size that are also at least half of their message are
 * views of the received bytes, not copies (like OTP's sub-binaries of a received buffer): a
 * view keeps the whole message alive, so only binaries that are most of it get one.
 */
export const VIEW_BINARY_BYTES = 64 * 1024;
/** A reassembled message with more of its buffer spare (or an eighth) gets copies: views pin it. */
const VIEW_SPARE_BYTES = 64 * 1024;
/** A first fragment reserves room for at most this many of its size (OTP's messages to 2 MiB). */
const RESERVE_FRAGMENTS = 32;
/** Grows of one message that aim at its announced size; later ones at least double the buffer. */
const AIMED_GROWS = 2;
const BODY_CAPACITY = 64 * 1024;
const MAX_BODY_CAPACITY = 16 * 1024 * 1024;
const MAX_SPARE = 4;

/** A large message's frames, and the buffer to give back with release() once written. */
export interface LargeMessage {
  buffers: Buffer[];
  owner: Buffer;
}

/** Fragment size OTP uses (ERTS_DIST_FRAGMENT_SIZE). */
export const DEFAULT_FRAGMENT_SIZE = 64 * 1024;

/** Default bounds on what one connection's peer can make us hold for fragmented messages. */
export const DEFAULT_MAX_REASSEMBLY_BYTES = 64 * 1024 * 1024;
/**
 * The most one message may cost in decode budget units (about bytes of V8 heap), whatever its
 * size: 32 units per byte would let a 64 MiB message cost 2 GiB. Messages up to 16 MiB of any
 * shape fit; larger ones fit when they are mostly binaries (docs/node.md, "Limits").
 */
export const MAX_MESSAGE_COST = 512 * 1024 * 1024;
const DEFAULT_MAX_SEQUENCES = 64;
const DEFAULT_MAX_FRAGMENTS = 1 << 16;

export interface DistMessage {
  control: Term;
  payload: Term | undefined;
}

export interface HeaderDecoderOptions {
  /** Reassembly budget across all sequences of the connection, in bytes. */
  maxReassemblyBytes?: number;
  /** Fragmented messages in flight at once. */
  maxSequences?: number;
  /** Largest fragment count a first fragment may announce. */
  maxFragments?: number;
  /** ETF nesting limit. */
  maxDepth?: number;
  /** The node-wide bound on bytes held for messages not yet whole (fragments count against it). */
  budget?: InboundBudget | undefined;
}

interface Reassembly {
  refs: (Atom | undefined)[];
  /** The message's own buffer; fragments are copied in as they arrive. Its length is what is charged. */
  message: Buffer;
  filled: number;
  /** The fragment id the next 'F' must carry (they count down to 1). */
  next: bigint;
  /** Times the buffer grew (HeaderDecoder.grow). */
  grows: number;
}

/** An 'F' header: version, tag, sequence id and fragment id. */
const NEXT_FRAGMENT_HEAD = 18;

function headerError(code: DistErrorCode, message: string, cause?: unknown): DistError {
  return new DistError(code, message, cause === undefined ? {} : { cause });
}

export class HeaderDecoder {
  private readonly cache: (Atom | undefined)[] = new Array<Atom | undefined>(ATOM_CACHE_SIZE);
  private readonly sequences = new Map<bigint, Reassembly>();
  private reassemblyBytes = 0;
  private readonly maxReassemblyBytes: number;
  private readonly maxSequences: number;
  private readonly maxFragments: number;
  private readonly maxDepth: number | undefined;
  private readonly budget: InboundBudget | undefined;

  constructor(options: HeaderDecoderOptions = {}) {
    this.budget = options.budget;
    this.maxReassemblyBytes = options.maxReassemblyBytes ?? DEFAULT_MAX_REASSEMBLY_BYTES;
    this.maxSequences = options.maxSequences ?? DEFAULT_MAX_SEQUENCES;
    this.maxFragments = options.maxFragments ?? DEFAULT_MAX_FRAGMENTS;
    this.maxDepth = options.maxDepth;
  }

  /** Bytes held for unfinished fragmented messages (the buffers reserved for them). */
  get pendingBytes(): number {
    return this.reassemblyBytes;
  }

  get pendingSequences(): number {
    return this.sequences.size;
  }

  /** Drops every unfinished message and gives its bytes back to the budget (the connection closed). */
  release(): void {
    this.budget?.give(this.reassemblyBytes);
    this.reassemblyBytes = 0;
    this.sequences.clear();
  }

  /**
   * Decodes one connected-mode frame body (not a tick). Returns the message, or undefined
   * while a fragmented message is incomplete. Throws {@link DistError} on bad input. A frame that
   * spans reads may come as the views of its parts (FrameDecoder.pushSplit): a later fragment's
   * parts are copied into its message one by one, anything else is joined first. Nothing of a
   * `transient` frame (a view of a buffer reused after this call) is kept: its binaries are copies.
   */
  decode(frame: Uint8Array | readonly Uint8Array[], transient = false): DistMessage | undefined {
    let more: readonly Uint8Array[] = [];
    if (!(frame instanceof Uint8Array)) {
      const first = frame[0] ?? new Uint8Array(0);
      if (
        frame.length > 1 &&
        first.length >= NEXT_FRAGMENT_HEAD &&
        first[0] === HeaderTag.VERSION &&
        first[1] === HeaderTag.FRAGMENT_NEXT
      ) {
        more = frame.slice(1);
        frame = first;
      } else frame = frame.length === 1 ? first : Buffer.concat(frame);
    }
    const r = new Reader(frame);
    try {
      if (r.u8('version') !== HeaderTag.VERSION)
        r.fail('distribution message without version 131', 'version', 0);
      const kind = r.u8('header kind');
      switch (kind) {
        case HeaderTag.PASS_THROUGH:
          return this.decodePassThrough(r, transient);
        case HeaderTag.NORMAL:
          return this.decodeBody(r, this.readAtomCacheRefs(r), transient);
        case HeaderTag.FRAGMENT_FIRST:
          return this.firstFragment(r, transient);
        case HeaderTag.FRAGMENT_NEXT:
          return this.nextFragment(r, more);
        default:
          return r.fail(`unknown distribution header ${kind}`, 'header kind', 1);
      }
    } catch (err) {
      if (err instanceof DistError) throw err;
      throw headerError('DIST_BAD_MESSAGE', `bad distribution message: ${(err as Error).message}`, err);
    }
  }

  private decodePassThrough(r: Reader, copies: boolean): DistMessage {
    const opts = this.decodeOptions(r, copies);
    if (r.u8('version') !== HeaderTag.VERSION) r.fail('control message without version 131', 'version');
    const control = decodeFrom(r, opts);
    if (r.remaining === 0) return { control, payload: undefined };
    if (r.u8('version') !== HeaderTag.VERSION) r.fail('payload without version 131', 'version');
    const payload = decodeFrom(r, opts);
    this.expectEnd(r);
    return { control, payload };
  }

  private decodeBody(r: Reader, refs: (Atom | undefined)[], copies: boolean): DistMessage {
    const opts = this.decodeOptions(r, copies, refs);
    const control = decodeFrom(r, opts);
    const payload = r.remaining === 0 ? undefined : decodeFrom(r, opts);
    this.expectEnd(r);
    return { control, payload };
  }

  private expectEnd(r: Reader): void {
    if (r.remaining !== 0) r.fail(`${r.remaining} bytes after the message`, 'end of message');
  }

  /**
   * Options for the message in the rest of `r`. Unless `copies` (a transient frame, or a
   * reassembled message in a buffer mostly spare), its bytes are a buffer of its own, never
   * reused ('data' reads, frames joined from several reads, reassembled messages), so large
   * binaries may be views of them.
   */
  private decodeOptions(r: Reader, copies: boolean, atomCache?: (Atom | undefined)[]): DecodeOptions {
    const binaryViews = copies ? false : Math.max(VIEW_BINARY_BYTES, Math.ceil(r.remaining / 2));
    // One budget for the control message and the payload together (docs/etf.md, "Decode budget").
    const cost = Math.min(defaultTermCost(r.remaining), MAX_MESSAGE_COST);
    const opts: DecodeOptions = { binaryViews, budget: { remaining: cost } };
    if (this.maxDepth !== undefined) opts.maxDepth = this.maxDepth;
    if (atomCache !== undefined) opts.atomCache = atomCache;
    return opts;
  }

  /** Reads the atom cache section of a 'D' or 'E' header, updating the connection's cache. */
  private readAtomCacheRefs(r: Reader): (Atom | undefined)[] {
    const count = r.u8('atom cache ref count');
    if (count === 0) return [];
    const flagBytes = r.bytes((count >> 1) + 1, 'atom cache flags');
    // One nibble per reference, then one for the whole header (LongAtoms).
    const long = nibbleAt(flagBytes, count) & LONG_ATOMS;
    const refs: (Atom | undefined)[] = new Array<Atom | undefined>(count);
    for (let i = 0; i < count; i++) {
      const flags = nibbleAt(flagBytes, i);
      const index = (flags & SEGMENT_MASK) * SEGMENT_SIZE + r.u8('atom cache index');
      if ((flags & NEW_ENTRY) !== 0) {
        const length = long !== 0 ? r.u16('atom length') : r.u8('atom length');
        const textAt = r.offset;
        const a = decodeAtomBytes(r.bytes(length, 'atom text'), 0, length, false);
        if (a === undefined)
          r.fail('atom cache entry is not valid UTF-8 of at most 255 characters', 'atom text', textAt);
        this.cache[index] = a;
        refs[i] = a;
      } else {
        const a = this.cache[index];
        if (a === undefined) r.fail(`atom cache reference to empty entry ${index}`, 'cached atom');
        refs[i] = a;
      }
    }
    return refs;
  }

  private firstFragment(r: Reader, transient: boolean): DistMessage | undefined {
    const seq = r.u64('sequence id');
    const fragments = r.u64('fragment id');
    if (fragments === 0n) r.fail('fragment id 0', 'fragment id');
    if (fragments > BigInt(this.maxFragments)) {
      throw headerError(
        'DIST_FRAGMENT_LIMIT',
        `message announces ${fragments} fragments (limit ${this.maxFragments})`,
      );
    }
    const refs = this.readAtomCacheRefs(r);
    if (fragments === 1n) return this.decodeBody(r, refs, transient);
    if (this.sequences.has(seq)) throw headerError('DIST_FRAGMENT_ORDER', `sequence ${seq} started twice`);
    if (this.sequences.size >= this.maxSequences) {
      throw headerError(
        'DIST_FRAGMENT_LIMIT',
        `more than ${this.maxSequences} fragmented messages in flight`,
      );
    }
    const data = r.bytes(r.remaining);
    // Room for the whole message if its fragments are all as large as the first (OTP's are,
    // but the last), up to RESERVE_FRAGMENTS of them and when that fits the limits; else for
    // this fragment. Grown as more arrive.
    const wanted = Math.min(Number(fragments), RESERVE_FRAGMENTS) * data.length;
    const size = this.fits(wanted) ? wanted : data.length;
    this.charge(size);
    const message = Buffer.allocUnsafeSlow(size);
    message.set(data, 0);
    this.sequences.set(seq, { refs, message, filled: data.length, next: fragments - 1n, grows: 0 });
    return undefined;
  }

  /** An 'F' frame: its head in `r`, its data the rest of `r` and then `more` (the reads it spans). */
  private nextFragment(r: Reader, more: readonly Uint8Array[]): DistMessage | undefined {
    const seq = r.u64('sequence id');
    const id = r.u64('fragment id');
    const entry = this.sequences.get(seq);
    if (entry === undefined)
      throw headerError('DIST_FRAGMENT_ORDER', `fragment ${id} of unknown sequence ${seq}`);
    if (id !== entry.next) {
      throw headerError(
        'DIST_FRAGMENT_ORDER',
        `sequence ${seq}: fragment ${id} arrived, expected ${entry.next}`,
      );
    }
    const parts = [r.bytes(r.remaining), ...more];
    const length = parts.reduce((n, p) => n + p.length, 0);
    if (entry.filled + length > entry.message.length) this.grow(entry, length, id);
    for (const p of parts) {
      entry.message.set(p, entry.filled);
      entry.filled += p.length;
    }
    if (id !== 1n) {
      entry.next = id - 1n;
      return undefined;
    }
    this.sequences.delete(seq);
    this.reassemblyBytes -= entry.message.length;
    this.budget?.give(entry.message.length);
    // The message's own buffer, never reused: its binaries may be views, unless much of the
    // buffer is spare (a view would keep it all alive), then they are copies.
    const spare = entry.message.length - entry.filled;
    const copies = spare > Math.max(VIEW_SPARE_BYTES, entry.filled / 8);
    return this.decodeBody(new Reader(entry.message.subarray(0, entry.filled)), entry.refs, copies);
  }

  /**
   * A fragment of `length` bytes does not fit what `entry` reserved. The last one gets just its
   * room. Else the first AIMED_GROWS grows aim at room for the `id - 1` fragments still to come
   * at its size, at most four times the room it had (an honest message ends in a buffer of its
   * size); later ones at least double it (a peer overflowing it a byte at a time costs a few
   * copies, not one per fragment). What the limits have left when that does not fit. Charged
   * before it is allocated.
   */
  private grow(entry: Reassembly, length: number, id: bigint): void {
    const had = entry.message.length;
    const least = entry.filled + length;
    const aimed = Math.min(least + Number(id - 1n) * length, 4 * had);
    const floor = entry.grows++ < AIMED_GROWS ? least : Math.max(least, 2 * had);
    let size = id === 1n ? least : Math.max(floor, aimed);
    if (!this.fits(size - had)) size = Math.max(least, had + this.room());
    this.charge(size - had);
    const message = Buffer.allocUnsafeSlow(size);
    message.set(entry.message.subarray(0, entry.filled), 0);
    entry.message = message;
  }

  /** What the reassembly limit and the node-wide budget have left. */
  private room(): number {
    const own = this.maxReassemblyBytes - this.reassemblyBytes;
    return this.budget === undefined ? own : Math.min(own, this.budget.limit - this.budget.heldBytes);
  }

  /** Whether `n` more bytes would pass both the reassembly limit and the node-wide budget. */
  private fits(n: number): boolean {
    return n <= this.room();
  }

  /** Counts `n` more bytes held; a fragment over the budget is refused before it is counted (it is not held). */
  private charge(n: number): void {
    if (this.reassemblyBytes + n > this.maxReassemblyBytes) {
      throw headerError(
        'DIST_FRAGMENT_LIMIT',
        `fragment reassembly exceeds ${this.maxReassemblyBytes} bytes`,
      );
    }
    this.budget?.take(n, 'a fragment');
    this.reassemblyBytes += n;
  }
}

export interface HeaderEncoderOptions {
  /** Use the 'D' header and the atom cache (DFLAG_DIST_HDR_ATOM_CACHE); else the 'p' form. */
  atomCache: boolean;
  /** Split messages larger than `fragmentSize` (DFLAG_FRAGMENTS). */
  fragments: boolean;
  fragmentSize?: number;
  /** Binaries of at least this size are referenced, not copied (default SPLICE_BINARY_BYTES; Infinity: copy all). */
  spliceBinaryBytes?: number;
}

/**
 * Builds outgoing frames (4-byte length prefix included). The atom cache maps each atom to a
 * slot by a hash of its name; a slot is (re)announced as a new entry the first time an atom
 * lands there, then sent as a one-byte reference.
 */
export class HeaderEncoder {
  private readonly slots: (Atom | undefined)[] = new Array<Atom | undefined>(ATOM_CACHE_SIZE);
  private readonly useCache: boolean;
  private readonly fragments: boolean;
  private readonly fragmentSize: number;
  /** At least LARGE_MESSAGE, so a message that references a binary is always a large one. */
  private readonly spliceMin: number;
  private body = new Writer(BODY_CAPACITY);
  /** Buffers of large messages already written, for reuse. */
  private readonly spare: Buffer[] = [];
  private nextSequence = 1n;
  // Per message: which atoms got a reference, in order.
  private readonly refAtoms: Atom[] = [];
  private readonly refSlots: number[] = [];
  private readonly refNew: boolean[] = [];
  private readonly refIndex = new Map<Atom, number>();
  private readonly lookup = (a: Atom): number | undefined => this.refFor(a);

  constructor(options: HeaderEncoderOptions) {
    this.spliceMin = Math.max(options.spliceBinaryBytes ?? SPLICE_BINARY_BYTES, LARGE_MESSAGE);
    this.body.spliceMin = this.spliceMin;
    this.useCache = options.atomCache;
    this.fragments = options.fragments;
    this.fragmentSize = options.fragmentSize ?? DEFAULT_FRAGMENT_SIZE;
  }

  /**
   * Encodes one message (frames with their 4-byte length prefix). Small messages are appended
   * to `out`; a large one is returned as buffers to write after what `out` holds, without
   * copying its body again.
   */
  encode(out: Writer, control: Term, payload?: Term): LargeMessage | undefined {
    this.refAtoms.length = 0;
    this.refSlots.length = 0;
    this.refNew.length = 0;
    if (this.refIndex.size > 0) this.refIndex.clear();
    if (!this.useCache) {
      const at = out.reserveLength(4);
      out.u8(HeaderTag.VERSION);
      out.u8(HeaderTag.PASS_THROUGH);
      out.u8(HeaderTag.VERSION);
      encodeInto(out, control);
      if (payload !== undefined) {
        out.u8(HeaderTag.VERSION);
        encodeInto(out, payload);
      }
      out.fillLength(at, 4);
      return undefined;
    }
    const body = this.body;
    body.reset();
    const opts = { atomCache: this.lookup };
    try {
      encodeInto(body, control, opts);
      if (payload !== undefined) encodeInto(body, payload, opts);
    } catch (err) {
      // Nothing is sent, so the peer never learns the entries this message announced.
      for (let i = 0; i < this.refSlots.length; i++)
        if (this.refNew[i]!) this.slots[this.refSlots[i]!] = undefined;
      throw err;
    }
    const total = body.length;
    if (total <= Math.min(LARGE_MESSAGE, this.fragmentSize)) {
      const at = out.reserveLength(4);
      out.u8(HeaderTag.VERSION);
      out.u8(HeaderTag.NORMAL);
      this.writeRefs(out);
      out.bytes(body.view());
      out.fillLength(at, 4);
      return undefined;
    }
    // Large: hand the body buffer over (the socket holds it until written) and start another,
    // sized for a message as large (no regrowth), from the buffers already written out. Its
    // spliced binaries go out as their own chunks.
    const chunks = body.chunks();
    this.body = this.nextBody(body.offset + BODY_CAPACITY);
    const count = this.fragments ? Math.ceil(total / this.fragmentSize) : 1;
    const seq = count > 1 ? this.nextSequence++ : 0n;
    const buffers: Buffer[] = [];
    let chunk = 0;
    let within = 0;
    for (let i = 0; i < count; i++) {
      const size = count === 1 ? total : Math.min(this.fragmentSize, total - i * this.fragmentSize);
      const head = new Writer(i === 0 ? 64 + this.refAtoms.length * 8 : 32);
      head.u32(0);
      head.u8(HeaderTag.VERSION);
      if (count === 1) {
        head.u8(HeaderTag.NORMAL);
      } else {
        head.u8(i === 0 ? HeaderTag.FRAGMENT_FIRST : HeaderTag.FRAGMENT_NEXT);
        head.u64(seq);
        head.u64(BigInt(count - i));
      }
      if (i === 0) this.writeRefs(head);
      head.buf.writeUInt32BE(head.offset - 4 + size, 0);
      buffers.push(head.toBuffer());
      // This fragment's `size` bytes: the rest of the current chunk and as many more as needed.
      for (let left = size; left > 0;) {
        const c = chunks[chunk]!;
        const n = Math.min(left, c.length - within);
        buffers.push(c.subarray(within, within + n));
        left -= n;
        within += n;
        if (within === c.length) {
          chunk++;
          within = 0;
        }
      }
    }
    return { buffers, owner: body.buf };
  }

  /** Gives back the buffer of a large message once the transport has written it. */
  release(owner: Buffer): void {
    if (this.spare.length < MAX_SPARE && owner.length <= MAX_BODY_CAPACITY) this.spare.push(owner);
  }

  private nextBody(wanted: number): Writer {
    const size = Math.min(wanted, MAX_BODY_CAPACITY);
    const w = new Writer(1);
    w.spliceMin = this.spliceMin;
    const i = this.spare.findIndex((b) => b.length >= size);
    w.buf = i >= 0 ? this.spare.splice(i, 1)[0]! : Buffer.allocUnsafe(size);
    return w;
  }

  private writeRefs(w: Writer): void {
    const n = this.refAtoms.length;
    w.u8(n);
    if (n === 0) return;
    const flagsAt = w.offset;
    const flagBytes = (n >> 1) + 1;
    w.ensure(flagBytes);
    w.buf.fill(0, flagsAt, flagsAt + flagBytes);
    w.offset += flagBytes;
    for (let i = 0; i < n; i++) {
      const slot = this.refSlots[i]!;
      const nibble = (slot >> SEGMENT_BITS) | (this.refNew[i]! ? NEW_ENTRY : 0);
      w.buf[flagsAt + (i >> 1)]! |= (i & 1) === 0 ? nibble : nibble << 4;
      w.u8(slot & (SEGMENT_SIZE - 1));
      if (this.refNew[i]!) {
        const text = Buffer.from(this.refAtoms[i]!.name, 'utf8');
        w.u8(text.length);
        w.bytes(text);
      }
    }
    // The last nibble holds LongAtoms, left 0: only short atoms are cached.
  }

  private refFor(a: Atom): number | undefined {
    const refs = this.refAtoms;
    // Most messages carry a handful of atoms: a scan beats a Map until there are many.
    if (refs.length <= SCAN_REFS) {
      for (let i = 0; i < refs.length; i++) if (refs[i] === a) return i;
    } else {
      const known = this.refIndex.get(a);
      if (known !== undefined) return known;
    }
    if (refs.length >= MAX_REFS_PER_MESSAGE) return undefined;
    const slot = slotFor(a);
    if (slot < 0) return undefined;
    const current = this.slots[slot];
    // Two atoms of one message on the same slot: only the first gets the slot.
    if (current !== undefined && current.name !== a.name && this.refSlots.includes(slot)) return undefined;
    const isNew = current?.name !== a.name;
    if (isNew) this.slots[slot] = a;
    const index = refs.length;
    refs.push(a);
    this.refSlots.push(slot);
    this.refNew.push(isNew);
    if (index === SCAN_REFS) refs.forEach((r, i) => this.refIndex.set(r, i));
    else if (index > SCAN_REFS) this.refIndex.set(a, index);
    return index;
  }
}

/** The `i`th flag nibble of an atom cache header: low half of a byte first. */
function nibbleAt(flagBytes: Uint8Array, i: number): number {
  return (i & 1) === 0 ? flagBytes[i >> 1]! & NIBBLE_MASK : flagBytes[i >> 1]! >> 4;
}

/** Slots per atom, computed once: most traffic repeats a few atoms. Bounded; cleared when full. */
const MAX_SLOT_MEMO = 16384;
const slotMemo = new Map<Atom, number>();

/** The cache slot of `a`, or -1 for atoms too long to cache. */
function slotFor(a: Atom): number {
  let slot = slotMemo.get(a);
  if (slot === undefined) {
    slot = Buffer.byteLength(a.name, 'utf8') < SHORT_ATOM_BYTES ? slotOf(a.name) : -1;
    if (slotMemo.size >= MAX_SLOT_MEMO) slotMemo.clear();
    slotMemo.set(a, slot);
  }
  return slot;
}

/** FNV-1a over the UTF-16 code units, folded onto the cache size. */
function slotOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % ATOM_CACHE_SIZE;
}
