/**
 * How many incoming connections may be in the handshake phase at once, in total and per source
 * (an IPv4 address or an IPv6 /64), so one source cannot hold the sockets and memory that other
 * nodes need to connect. Refusals are logged once, then summarised per interval.
 */
import { addressGroup } from '../epmd/address.ts';
import type { Logger } from '../log.ts';

/** OTP's TLS distribution stops accepting at its listen backlog, 128 by default. */
export const DEFAULT_MAX_HANDSHAKES = 128;
/** Plenty for a cluster starting at once behind one address; far below the total. */
export const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS = 16;
const SUMMARY_INTERVAL_MS = 10_000;

export interface HandshakeLimits {
  maxHandshakes?: number;
  maxHandshakesPerAddress?: number;
}

export class HandshakeLimiter {
  private readonly max: number;
  private readonly maxPerAddress: number;
  private readonly bySource = new Map<string, number>();
  private total = 0;
  /** Refusals since the last summary, by source; undefined until the first one of an interval. */
  private refused: Map<string, number> | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;
  /** Connections refused since the start. */
  refusals = 0;

  constructor(
    limits: HandshakeLimits,
    private readonly logger: Logger,
  ) {
    this.max = limits.maxHandshakes ?? DEFAULT_MAX_HANDSHAKES;
    this.maxPerAddress = limits.maxHandshakesPerAddress ?? DEFAULT_MAX_HANDSHAKES_PER_ADDRESS;
  }

  /** Takes a slot for a connection from `address`: its source, to release, or undefined when full. */
  admit(address: string | undefined): string | undefined {
    const source = addressGroup(address);
    const held = this.bySource.get(source) ?? 0;
    if (this.total >= this.max || held >= this.maxPerAddress) {
      this.refuse(source, this.total >= this.max ? 'total' : 'per-address');
      return undefined;
    }
    this.bySource.set(source, held + 1);
    this.total++;
    return source;
  }

  /** Gives back the slot of a connection whose handshake has ended (up or failed). */
  release(source: string): void {
    const held = this.bySource.get(source) ?? 0;
    if (held <= 1) this.bySource.delete(source);
    else this.bySource.set(source, held - 1);
    this.total = Math.max(0, this.total - 1);
  }

  /** Logs what is left to summarise. */
  stop(): void {
    clearTimeout(this.summaryTimer);
    this.summarise();
  }

  private refuse(source: string, limit: 'total' | 'per-address'): void {
    this.refusals++;
    if (this.refused === undefined) {
      // The first refusal of an interval is logged at once; the rest in the summary.
      this.refused = new Map();
      this.logger.warn('distribution: too many connections in the handshake, refusing', {
        source,
        limit,
        maxHandshakes: this.max,
        maxHandshakesPerAddress: this.maxPerAddress,
      });
      this.summaryTimer = setTimeout(() => this.summarise(), SUMMARY_INTERVAL_MS);
      this.summaryTimer.unref();
      return;
    }
    this.refused.set(source, (this.refused.get(source) ?? 0) + 1);
  }

  private summarise(): void {
    const refused = this.refused;
    this.refused = undefined;
    if (refused === undefined || refused.size === 0) return;
    let count = 0;
    for (const n of refused.values()) count += n;
    // The sources refused most, so a spread-out flood does not make the line itself huge.
    const top = [...refused].sort((a, b) => b[1] - a[1]).slice(0, 10);
    this.logger.warn('distribution: more connections refused in the handshake', {
      count,
      sources: Object.fromEntries(top),
      distinctSources: refused.size,
    });
  }
}
