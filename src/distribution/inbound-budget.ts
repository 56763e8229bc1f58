/**
 * What the whole node may hold of messages not yet whole: frames still arriving and fragments
 * awaiting the rest of their message, summed over every connection. Per-connection limits alone
 * let many peers together hold many times one peer's share; this bounds the sum. Each holder
 * (a connection's frame decoder or fragment reassembly) takes bytes before it holds them and
 * gives them back when the message is whole or the connection closes.
 */
import { DistError } from '../errors.ts';

/** Node-wide default: every connection's frames and fragments in flight together. */
export const DEFAULT_MAX_INBOUND_BYTES = 256 * 1024 * 1024;

export class InboundBudget {
  private held = 0;

  constructor(readonly limit: number = DEFAULT_MAX_INBOUND_BYTES) {}

  /** Bytes taken and not yet given back. */
  get heldBytes(): number {
    return this.held;
  }

  /** Whether `n` more bytes fit. */
  fits(n: number): boolean {
    return this.held + n <= this.limit;
  }

  /** Takes `n` bytes for `what`, or throws DIST_INBOUND_LIMIT (the caller's connection closes). */
  take(n: number, what: string): void {
    if (!this.fits(n)) {
      throw new DistError(
        'DIST_INBOUND_LIMIT',
        `${what} of ${n} bytes would pass the node-wide limit of ${this.limit} bytes in flight (${this.held} held)`,
      );
    }
    this.held += n;
  }

  give(n: number): void {
    this.held -= n;
  }
}
