/**
 * Busy polling after reads in an exchange with another node, as BEAM's schedulers spin briefly
 * before they sleep (`+sbwt`). Which reads count is the connections' choice (connections.ts:
 * those that follow a send on the same connection).
 *
 * An event loop with nothing to do sleeps in epoll_wait, and the next packet pays for waking it
 * (on a VM, an idle vCPU halts and the host must run it again). In a request-reply exchange the
 * peer's answer comes back a few tens of microseconds after our reply went out, while the loop
 * sleeps. While a short window after the last read is open, a chain of `setImmediate` callbacks
 * keeps libuv polling with a zero timeout instead, so that answer is read at once. Each read
 * re-opens the window and it closes by itself: with no traffic no immediate is left and the loop
 * sleeps as before. Nothing is blocked meanwhile: timers and other I/O run on every turn.
 *
 * One event loop per process, so one poller per process ({@link busyPoll}): every node reports
 * its reads with its own window, and the longest window asked for since the last turn counts.
 */
import { performance } from 'node:perf_hooks';

/** The default window (docs/performance.md, "Distribution": the round trip, measured). */
export const DEFAULT_BUSY_POLL_MICROS = 20;
/** Largest window accepted: a round trip that takes longer is not worth a spinning core. */
export const MAX_BUSY_POLL_MICROS = 1000;

/** Whether `micros` is a window `busyPollMicros` accepts: an integer from 0 to the maximum. */
export const isBusyPollWindow = (micros: number): boolean =>
  Number.isInteger(micros) && micros >= 0 && micros <= MAX_BUSY_POLL_MICROS;

export class BusyPoll {
  /** Largest window reported since the last spin (µs); 0 when there was no read. */
  private pending = 0;
  /** End of the open window on the clock (ms). */
  private until = 0;
  private armed = false;

  /**
   * @param clock milliseconds, monotonic (tests step it by hand)
   * @param schedule runs a callback on the next turn of the event loop, keeping the loop from
   *   sleeping until then (setImmediate does: an unref'd immediate would not)
   */
  constructor(
    private readonly clock: () => number = () => performance.now(),
    private readonly schedule: (spin: () => void) => void = (spin) => void setImmediate(spin),
  ) {}

  /** A read happened: keep the loop polling for `micros` after this turn (0: nothing). */
  touch(micros: number): void {
    if (!(micros > 0)) return;
    if (micros > this.pending) this.pending = Math.min(micros, MAX_BUSY_POLL_MICROS);
    if (this.armed) return;
    this.armed = true;
    this.schedule(this.spin);
  }

  /** Whether a window is open or about to open: the loop is kept from sleeping. */
  get spinning(): boolean {
    return this.armed;
  }

  private readonly spin = (): void => {
    const now = this.clock();
    if (this.pending > 0) {
      this.until = Math.max(this.until, now + this.pending / 1000);
      this.pending = 0;
    }
    if (now < this.until) this.schedule(this.spin);
    else this.armed = false;
  };
}

/** The process's poller: there is one event loop to keep awake. */
export const busyPoll = new BusyPoll();
