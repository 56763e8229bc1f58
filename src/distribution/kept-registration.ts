/**
 * A node's EPMD registration, kept: when EPMD goes away (a restarted `eid daemon`, say), the
 * registration is made again every {@link REREGISTER_INTERVAL_MS}, as OTP's erl_epmd does, until it
 * succeeds or the node stops. The node keeps the creation it started with, as an OTP node does:
 * its pids and references already carry it.
 */
import { epmdRegister, type EpmdRegisterOptions, type Registration } from '../epmd/client.ts';
import type { Logger } from '../log.ts';

/** erl_epmd's retry interval after its registration connection closed. */
export const REREGISTER_INTERVAL_MS = 2000;

export class KeptRegistration {
  #current: Registration | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    first: Registration,
    private readonly alive: string,
    private readonly port: number,
    private readonly options: EpmdRegisterOptions,
    private readonly logger: Logger,
    private readonly intervalMs = REREGISTER_INTERVAL_MS,
  ) {
    this.#watch(first);
  }

  /** Whether EPMD holds the registration now. */
  get registered(): boolean {
    return this.#current !== undefined;
  }

  /** Ends the registration and stops trying to renew it. */
  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#current?.close();
  }

  #watch(registration: Registration): void {
    this.#current = registration;
    void registration.closed.then(() => {
      if (this.#stopped || this.#current !== registration) return;
      this.#current = undefined;
      this.logger.warn('epmd registration lost; registering again', { name: this.alive });
      this.#schedule();
    });
  }

  #schedule(): void {
    this.#timer = setTimeout(() => void this.#attempt(), this.intervalMs);
    // A node waiting for EPMD to come back must not keep the process alive by itself.
    this.#timer.unref();
  }

  async #attempt(): Promise<void> {
    if (this.#stopped) return;
    try {
      const registration = await epmdRegister(this.alive, this.port, this.options);
      if (this.#stopped) {
        await registration.close();
        return;
      }
      this.logger.info('epmd registration renewed', { name: this.alive });
      this.#watch(registration);
    } catch {
      // EPMD still down, or the old registration still holds the name: try again later.
      this.#schedule();
    }
  }
}
