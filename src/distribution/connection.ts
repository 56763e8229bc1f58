/**
 * One distribution connection: the handshake, then framed messages and ticks, over a small
 * transport interface (a net.Socket fits it; tests feed bytes by hand at every split point).
 */
import { DistError, type DistErrorCode } from '../errors.ts';
import { Writer } from '../bytes.ts';
import { silentLogger, type Logger, type LogSummary } from '../log.ts';
import { decodeSignal, encodeSignal, type Signal } from './control.ts';
import { DistFlags, hasFlag } from './flags.ts';
import {
  DEFAULT_MAX_FRAME,
  FrameDecoder,
  MAX_HANDSHAKE_FRAME,
  type Frame,
  TICK_FRAME,
  encodeHandshakeFrame,
  type PrefixSize,
} from './framing.ts';
import { HandshakeError, SendQueueFullError } from './errors.ts';
import { Handshake, type HandshakeOptions, type HandshakeResult } from './handshake.ts';
import { HeaderDecoder, HeaderEncoder, type HeaderDecoderOptions } from './header.ts';

/** What a connection needs from its byte stream. */
export interface Transport {
  /** `done` runs once the data is handed to the system (net.Socket's write callback). */
  write(data: Uint8Array, done?: () => void): unknown;
  /** Bytes accepted but not yet handed to the system (net.Socket has it). */
  readonly writableLength?: number;
  /** net.Socket's cork/uncork: the writes in between go to the system as one writev. */
  cork?(): void;
  uncork?(): void;
  /** net.Socket's `once('drain')`: lets sending wait for a backlog to clear. */
  once?(event: 'drain', listener: () => void): unknown;
  destroy(): void;
}

export interface ConnectionHandlers {
  /** The handshake succeeded; signals may flow. */
  up(conn: Connection, result: HandshakeResult): void;
  signal(conn: Connection, signal: Signal): void;
  /** The connection is gone (once), with why. `error` is set for failures. */
  down(conn: Connection, reason: string, error?: DistError): void;
  /** Bytes waiting to be sent fell back below the high-water mark after passing it. */
  drain?(conn: Connection): void;
}

export interface ConnectionOptions extends HeaderDecoderOptions {
  role: 'initiator' | 'acceptor';
  handshake: HandshakeOptions;
  /** net_ticktime in ms: ticks every quarter, a peer silent for the whole period is down. */
  tickTimeMs: number;
  /** The handshake must complete within this many ms (OTP's net_setuptime); default 7000. */
  setupTimeMs?: number;
  /** Handshake frames' length prefix: 2 (default), or 4 inside TLS. */
  handshakePrefix?: PrefixSize;
  /** Said after "connection closed during the handshake" (what a TLS peer's silent refusal may mean). */
  closedHint?: string;
  /** The error for a setup timeout when the transport names a better one (a TLS handshake still running). */
  stalled?: (ms: number) => DistError | undefined;
  /** Largest frame accepted once connected. */
  maxFrame?: number;
  /** Peer address for logs and errors. */
  peer?: string;
  logger?: Logger;
  /** Where failed handshakes are counted (each logged at debug), instead of a warning each. */
  handshakeFailures?: LogSummary | undefined;
  /** Bytes waiting to be sent above which the connection is congested (default 8 MiB). */
  sendHighWater?: number;
  /** Bytes waiting to be sent at which sends from JS are refused (default 64 MiB). */
  maxSendQueue?: number;
}

/** Flush small batches by copying; hand larger ones over and start a fresh buffer. */
const HANDOVER_BYTES = 64 * 1024;
const TICKS_PER_PERIOD = 4;
/** Bytes waiting to be sent above which `sendAsync` waits and `drain` is due (docs/node.md, "Backpressure"). */
export const DEFAULT_SEND_HIGH_WATER = 8 * 1024 * 1024;
/** Bytes waiting to be sent at which sends from JS fail with SendQueueFullError. */
export const DEFAULT_MAX_SEND_QUEUE = 64 * 1024 * 1024;
/**
 * A TLS record's start (handshake or alert, version 3.x): its first two bytes, read as a plain
 * handshake's length, would be over 5000, far above any handshake frame.
 */
const isTlsRecord = (b: Uint8Array): boolean =>
  b.length >= 2 && (b[0] === 0x15 || b[0] === 0x16) && b[1] === 0x03;

/** OTP's default net_setuptime. */
export const DEFAULT_SETUP_MS = 7000;

/** The handshake error when a plain TCP node dials a TLS distribution node (the CLI adds its flags). */
export const PEER_SPEAKS_TLS =
  'the peer speaks TLS: it runs TLS distribution (-proto_dist inet_tls), this node plain TCP';

export class Connection {
  readonly role: 'initiator' | 'acceptor';
  readonly peer: string | undefined;
  /** Set once up. */
  peerName = '';
  flags = 0n;
  peerCreation = 0;
  private state: 'handshake' | 'up' | 'closed' = 'handshake';
  private readonly frames: FrameDecoder;
  private readonly handshake: Handshake;
  private readonly headers: HeaderDecoder;
  private encoder: HeaderEncoder | undefined;
  private out = new Writer(HANDOVER_BYTES);
  private flushScheduled = false;
  private readonly sendHighWater: number;
  private readonly maxSendQueue: number;
  /** The queue passed the high-water mark: `drain` is due once it is back under half of it. */
  private congestedSince = false;
  /** A once('drain') listener is on the transport. */
  private watchingDrain = false;
  /** `writable()` callers, resolved at the drain (or rejected when the connection closes). */
  private writableWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private ticker: NodeJS.Timeout | undefined;
  private setupTimer: NodeJS.Timeout | undefined;
  private readSinceTick = false;
  private wroteSinceTick = false;
  /** A signal went out since the last read (takeSentSinceRead). */
  private sentSinceRead = false;
  private silentTicks = 0;
  private readonly logger: Logger;
  private readonly maxFrame: number;
  private readonly handshakePrefix: PrefixSize;
  /** Whether any byte arrived yet (the first ones tell a TLS peer from a plain one). */
  private readAny = false;

  constructor(
    private readonly transport: Transport,
    private readonly options: ConnectionOptions,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.role = options.role;
    this.peer = options.peer;
    this.logger = options.logger ?? silentLogger;
    this.maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
    this.sendHighWater = options.sendHighWater ?? DEFAULT_SEND_HIGH_WATER;
    this.maxSendQueue = options.maxSendQueue ?? DEFAULT_MAX_SEND_QUEUE;
    this.handshakePrefix = options.handshakePrefix ?? 2;
    this.frames = new FrameDecoder({
      prefixSize: this.handshakePrefix,
      maxFrame: MAX_HANDSHAKE_FRAME,
      budget: options.budget,
    });
    this.handshake = new Handshake(options.role, options.handshake);
    this.headers = new HeaderDecoder(options);
    // From creation, so it also covers a TCP connect that never completes.
    const setup = options.setupTimeMs ?? DEFAULT_SETUP_MS;
    this.setupTimer = setTimeout(() => this.setupTimedOut(), setup);
    this.setupTimer.unref();
  }

  /** Ends a setup that took too long, with the transport's reason when it has one (its own timer, or a caller's). */
  setupTimedOut(): void {
    if (this.state !== 'handshake') return;
    const setup = this.options.setupTimeMs ?? DEFAULT_SETUP_MS;
    const error =
      this.options.stalled?.(setup) ??
      new DistError('DIST_HANDSHAKE_TIMEOUT', `handshake not done within ${setup} ms`, this.context());
    this.close(error.code, error);
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  /** Whether the handshake ever completed (also after close). */
  get isUpOnce(): boolean {
    return this.peerName !== '' && this.encoder !== undefined;
  }

  /** Initiator: the node this connection was dialled to. */
  get dialled(): string {
    return this.options.handshake.peerName ?? '';
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Bytes held for unfinished fragmented messages (for tests and metrics). */
  get reassemblyBytes(): number {
    return this.headers.pendingBytes;
  }

  /** Sends the first handshake message (the initiator's, once the transport is connected). */
  start(): void {
    for (const body of this.handshake.start())
      this.transport.write(encodeHandshakeFrame(body, this.handshakePrefix));
  }

  /**
   * Whether a signal went out on this connection since the last call, which starts the count
   * again. Called at each read: a read that follows a send is part of an exchange (a reply, the
   * next call), where the peer's next bytes come back within microseconds; the reads of a one-way
   * stream are not.
   */
  takeSentSinceRead(): boolean {
    const sent = this.sentSinceRead;
    this.sentSinceRead = false;
    return sent;
  }

  /**
   * Feeds bytes read from the transport. Never throws: bad input closes the connection.
   * `chunk` is kept by reference (frames and large received binaries are views of it), so it
   * must not be modified afterwards; 'data' reads never are.
   */
  feed(chunk: Uint8Array): void {
    if (this.state === 'closed') return;
    this.readSinceTick = true;
    try {
      if (this.state === 'handshake') {
        if (!this.readAny && this.handshakePrefix === 2 && isTlsRecord(chunk)) {
          throw new DistError('DIST_HANDSHAKE_PROTOCOL', PEER_SPEAKS_TLS, this.context());
        }
        this.readAny = true;
        // One frame at a time: the frame that completes the handshake switches the framing.
        let frames = this.frames.push(chunk, true);
        while (frames.length > 0 && this.state === 'handshake') {
          this.onHandshakeFrame(frames[0]!);
          if (this.isUp) break;
          frames = this.frames.drain(true);
        }
        if (this.isUp) this.onAllFrames(this.frames.drainSplit());
        return;
      }
      this.onAllFrames(this.frames.pushSplit(chunk));
    } catch (err) {
      this.failed(err);
    }
  }

  /**
   * Where the transport should read next, for a reader that reads into buffers it is given
   * (`onread`): the rest of a long frame being collected, or undefined for its own buffer.
   */
  readTarget(): Uint8Array | undefined {
    return this.state === 'up' ? this.frames.readTarget() : undefined;
  }

  /**
   * {@link feed} for a reader that reuses its buffer (`onread`): the first `n` bytes of `read`
   * (its own buffer or the last {@link readTarget}) are valid only during this call and never kept.
   */
  feedRead(read: Uint8Array, n: number): void {
    if (this.state !== 'up') {
      this.feed(Buffer.from(read.subarray(0, n)));
      return;
    }
    this.readSinceTick = true;
    try {
      this.onAllFrames(this.frames.pushRead(read, n));
    } catch (err) {
      this.failed(err);
    }
  }

  private failed(err: unknown): void {
    const error =
      err instanceof DistError
        ? err
        : new DistError('DIST_INTERNAL', `connection failed: ${(err as Error).message}`, { cause: err });
    if (err instanceof HandshakeError)
      for (const f of err.send) this.transport.write(encodeHandshakeFrame(f, this.handshakePrefix));
    this.close(error.code, error);
  }

  /** The transport closed or failed under us. */
  transportClosed(error?: Error): void {
    if (this.state === 'closed') return;
    // Once up, the nodedown reason is OTP's connection_closed; during the handshake, the code.
    let reason = 'connection_closed';
    let code: DistErrorCode = 'DIST_CONNECTION_CLOSED';
    let message = 'connection closed';
    if (this.state === 'handshake') {
      // OTP closes without a word when our digest is wrong.
      const rejected = this.handshake.awaitingAck;
      code = rejected ? 'DIST_HANDSHAKE_REJECTED' : 'DIST_HANDSHAKE_CLOSED';
      reason = code;
      message = rejected
        ? 'peer closed the connection after our challenge reply: the cookies differ (or it refused us)'
        : `connection closed during the handshake${error === undefined ? '' : `: ${error.message}`}${this.options.closedHint ?? ''}`;
    }
    this.close(reason, new DistError(code, message, this.context(error)));
  }

  private context(cause?: unknown): { peer?: string; node?: string; cause?: unknown } {
    const ctx: { peer?: string; node?: string; cause?: unknown } = {};
    if (this.peer !== undefined) ctx.peer = this.peer;
    if (this.peerName !== '') ctx.node = this.peerName;
    if (cause !== undefined) ctx.cause = cause;
    return ctx;
  }

  private onHandshakeFrame(frame: Buffer): void {
    const step = this.handshake.receive(frame);
    for (const body of step.send) this.transport.write(encodeHandshakeFrame(body, this.handshakePrefix));
    if (step.done === undefined) return;
    const result = step.done;
    this.peerName = result.peerName;
    this.flags = result.flags;
    this.peerCreation = result.peerCreation;
    this.frames.setMode(4, this.maxFrame);
    this.encoder = new HeaderEncoder({
      atomCache: hasFlag(this.flags, DistFlags.DIST_HDR_ATOM_CACHE),
      fragments: hasFlag(this.flags, DistFlags.FRAGMENTS),
    });
    this.state = 'up';
    clearTimeout(this.setupTimer);
    this.startTicker();
    this.handlers.up(this, result);
  }

  /** Handles `frames`, then whatever the decoder still holds (it throws there on a bad frame). */
  private onAllFrames(frames: Frame[]): void {
    for (let batch = frames; batch.length > 0; batch = this.frames.drainSplit()) this.onFrames(batch);
  }

  private onFrames(frames: Frame[]): void {
    for (const frame of frames) {
      if (this.state !== 'up') return;
      if (frame.length === 0) continue; // tick
      const message = this.headers.decode(frame, !Array.isArray(frame) && this.frames.isTransient(frame));
      if (message === undefined) continue;
      this.handlers.signal(this, decodeSignal(message));
    }
  }

  /** Bytes handed to this connection and not yet to the system: the socket's backlog and this turn's batch. */
  get queuedBytes(): number {
    return (this.transport.writableLength ?? 0) + this.out.offset;
  }

  /**
   * Throws {@link SendQueueFullError} when {@link queuedBytes} has reached the bound: asked before
   * a send from JS, so a producer that outruns the peer fails instead of growing memory.
   */
  admit(): void {
    const queued = this.queuedBytes;
    if (queued >= this.maxSendQueue) throw new SendQueueFullError(queued, this.maxSendQueue, this.peerName);
  }

  /** Resolves once the bytes waiting are below the high-water mark; rejects if the connection closes. */
  writable(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(this.closedError());
    if (!this.congested()) return Promise.resolve();
    return new Promise((resolve, reject) => this.writableWaiters.push({ resolve, reject }));
  }

  /** At or above the high-water mark, with a way to learn when it drains (else never congested). */
  private congested(): boolean {
    if (this.transport.once === undefined || this.queuedBytes < this.sendHighWater) return false;
    this.congestedSince = true;
    this.watchDrain();
    return true;
  }

  private watchDrain(): void {
    if (this.watchingDrain) return;
    this.watchingDrain = true;
    this.transport.once?.('drain', this.transportDrained);
  }

  private readonly transportDrained = (): void => {
    this.watchingDrain = false;
    this.relieved();
  };

  /** A write reached the system: the queue shrank. */
  private readonly written = (): void => {
    if (this.congestedSince) this.relieved();
  };

  /**
   * Resumes writers once the queue is under half the high-water mark (not empty, so the socket
   * never runs dry while they refill it).
   */
  private relieved(): void {
    if (this.state !== 'up' || !this.congestedSince) return;
    if (this.queuedBytes > this.sendHighWater / 2) {
      this.watchDrain();
      return;
    }
    this.congestedSince = false;
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const w of waiters) w.resolve();
    this.handlers.drain?.(this);
  }

  private closedError(): DistError {
    return new DistError('DIST_CONNECTION_CLOSED', 'connection closed', this.context());
  }

  /**
   * Encodes and queues a signal; frames of one event-loop turn go out in one write. Never
   * refuses: the node's own signals always go ({@link admit} bounds the ones from JS).
   */
  send(signal: Signal): void {
    if (this.state !== 'up' || this.encoder === undefined) return;
    this.encodeAndQueue(signal);
    // Past the mark: from now on the drain is watched for, and 'drain' follows it.
    this.congested();
  }

  private encodeAndQueue(signal: Signal): void {
    const encoder = this.encoder!;
    const { control, payload } = encodeSignal(signal, this.flags);
    const large = encoder.encode(this.out, control, payload);
    this.wroteSinceTick = true;
    this.sentSinceRead = true;
    if (large !== undefined) {
      // Keep the order: what is batched goes first, then the large message's buffers (frame
      // heads, its own bytes and the binaries it references), all in one writev.
      this.transport.cork?.();
      this.flush();
      const last = large.buffers.length - 1;
      large.buffers.forEach((b, i) =>
        this.transport.write(
          b,
          i === last
            ? () => {
                encoder.release(large.owner);
                this.written();
              }
            : undefined,
        ),
      );
      this.transport.uncork?.();
      return;
    }
    // A producer that never yields must not grow the batch: past a handover's worth it goes now.
    if (this.out.offset >= HANDOVER_BYTES) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const out = this.out;
    if (out.offset === 0 || this.state !== 'up') return;
    if (out.offset < HANDOVER_BYTES) {
      this.transport.write(out.toBuffer(), this.written);
      out.reset();
    } else {
      this.transport.write(out.view(), this.written);
      this.out = new Writer(HANDOVER_BYTES);
    }
  };

  private startTicker(): void {
    const interval = Math.max(1, Math.floor(this.options.tickTimeMs / TICKS_PER_PERIOD));
    this.ticker = setInterval(() => this.tick(), interval);
    this.ticker.unref();
  }

  private tick(): void {
    if (this.readSinceTick) {
      this.silentTicks = 0;
      this.readSinceTick = false;
    } else if (++this.silentTicks >= TICKS_PER_PERIOD) {
      this.logger.warn('node not responding, removing the connection', {
        node: this.peerName,
        peer: this.peer,
      });
      this.close(
        'net_tick_timeout',
        new DistError(
          'DIST_TICK_TIMEOUT',
          `${this.peerName} not responding (net_tick_timeout)`,
          this.context(),
        ),
      );
      return;
    }
    if (!this.wroteSinceTick) this.transport.write(TICK_FRAME);
    this.wroteSinceTick = false;
  }

  /** Closes the connection (idempotent). `reason` becomes the nodedown reason. */
  close(reason = 'disconnect', error?: DistError): void {
    if (this.state === 'closed') return;
    const wasUp = this.state === 'up';
    if (wasUp) this.flush();
    this.state = 'closed';
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const w of waiters) w.reject(error ?? this.closedError());
    // What the peer made us hold goes back to the node-wide budget.
    this.frames.release();
    this.headers.release();
    clearTimeout(this.setupTimer);
    if (this.ticker !== undefined) clearInterval(this.ticker);
    if (error !== undefined && reason !== 'connection_closed') {
      const fields = { node: this.peerName || undefined, peer: this.peer, reason, error: error.message };
      const failures = this.options.handshakeFailures;
      if (wasUp || failures === undefined) {
        this.logger.warn('distribution connection closed', fields);
      } else {
        this.logger.debug('distribution handshake failed', fields);
        failures.count(error.code, fields);
      }
    }
    this.transport.destroy();
    this.handlers.down(this, reason, error);
  }
}
