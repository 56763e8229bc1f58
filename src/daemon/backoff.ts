/**
 * Per-key exponential backoff for the cluster reconciler: after a failure, a key (a member, a
 * pair of nodes) is left alone for `first` ms, doubling with each further failure up to `max`; a
 * success forgets it. So a node that keeps refusing costs one attempt per minute, not one per pass.
 */
export class Backoff<K> {
  readonly #entries = new Map<K, { failures: number; until: number }>();
  readonly #first: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(firstMs: number, maxMs: number, now: () => number = Date.now) {
    this.#first = firstMs;
    this.#max = Math.max(firstMs, maxMs);
    this.#now = now;
  }

  /** Whether `key` may be tried now. */
  ready(key: K): boolean {
    const e = this.#entries.get(key);
    return e === undefined || this.#now() >= e.until;
  }

  /**
   * Records a failure; returns how many failures in a row (1 for the first) and the wait. The first
   * `evenly` failures each wait `first` ms (a container still starting), later ones twice the last.
   */
  failed(key: K, evenly = 0): { failures: number; waitMs: number } {
    const failures = (this.#entries.get(key)?.failures ?? 0) + 1;
    const doublings = Math.min(Math.max(0, failures - 1 - evenly), 30);
    const waitMs = Math.min(this.#max, this.#first * 2 ** doublings);
    this.#entries.set(key, { failures, until: this.#now() + waitMs });
    return { failures, waitMs };
  }

  /** Forgets `key`'s failures; true when it had any. */
  succeeded(key: K): boolean {
    return this.#entries.delete(key);
  }

  /** Forgets every key `drop` picks (members gone, a host back). */
  forget(drop: (key: K) => boolean): void {
    for (const key of [...this.#entries.keys()]) if (drop(key)) this.#entries.delete(key);
  }
}
