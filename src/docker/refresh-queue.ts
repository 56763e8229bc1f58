/**
 * The catalog's refreshes after Docker events: coalesced per container (any number of events for
 * one container waiting make one refresh), run a few at a time so a mass start cannot time every
 * inspect out, in order per container (an event that arrives while its container is being
 * refreshed runs it again afterwards), and retried with backoff when they fail. No I/O of its own.
 */
export interface RefreshQueueOptions {
  /** Refreshes running at once. */
  concurrency: number;
  /** Tries of one refresh before it is given up (the next full resync covers it). */
  attempts: number;
  /** Delay before the first retry; doubles up to maxBackoffMs. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** One refresh; a rejection is retried. */
  run(key: string): Promise<void>;
  /** Called once when a refresh has failed `attempts` times in a row. */
  onGiveUp(key: string, error: unknown): void;
}

export class RefreshQueue {
  readonly #options: RefreshQueueOptions;
  /** Waiting to run, oldest first; a Set, so events for one key coalesce. */
  readonly #waiting = new Set<string>();
  readonly #running = new Set<string>();
  /** Keys pushed again while they ran: run once more when done. */
  readonly #again = new Set<string>();
  /** Failures in a row, per key. */
  readonly #failures = new Map<string, number>();
  readonly #retries = new Set<NodeJS.Timeout>();
  #epoch = 0;

  constructor(options: RefreshQueueOptions) {
    this.#options = options;
  }

  /** Refreshes queued, running or waiting for a retry. */
  get size(): number {
    return this.#waiting.size + this.#running.size + this.#retries.size;
  }

  push(key: string): void {
    if (this.#running.has(key)) this.#again.add(key);
    else this.#waiting.add(key);
    this.#pump();
  }

  /** Drops everything queued and every pending retry (refreshes running finish, unrecorded). */
  clear(): void {
    this.#epoch += 1;
    this.#waiting.clear();
    this.#again.clear();
    this.#failures.clear();
    for (const timer of this.#retries) clearTimeout(timer);
    this.#retries.clear();
  }

  #pump(): void {
    while (this.#running.size < this.#options.concurrency) {
      const key = this.#waiting.values().next().value;
      if (key === undefined) return;
      this.#waiting.delete(key);
      this.#running.add(key);
      void this.#runOne(key);
    }
  }

  async #runOne(key: string): Promise<void> {
    const epoch = this.#epoch;
    let failed = false;
    let error: unknown;
    try {
      await this.#options.run(key);
    } catch (err) {
      failed = true;
      error = err;
    }
    this.#running.delete(key);
    if (epoch === this.#epoch) {
      if (failed) this.#failed(key, error);
      else this.#failures.delete(key);
      if (this.#again.delete(key)) this.#waiting.add(key);
    }
    this.#pump();
  }

  #failed(key: string, error: unknown): void {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    if (failures >= this.#options.attempts) {
      this.#failures.delete(key);
      this.#options.onGiveUp(key, error);
      return;
    }
    this.#failures.set(key, failures);
    const base = Math.min(this.#options.minBackoffMs * 2 ** (failures - 1), this.#options.maxBackoffMs);
    const timer = setTimeout(
      () => {
        this.#retries.delete(timer);
        this.push(key);
      },
      base + Math.floor(Math.random() * (base / 4)),
    );
    this.#retries.add(timer);
  }
}
