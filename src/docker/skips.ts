/**
 * Containers the daemon cannot serve (wholly, or under one of their names), and why. Each one is
 * logged once as a warning when it starts being skipped, and counted by reason for the metrics
 * (`eid_skipped_containers{reason=...}`) for as long as it stays skipped.
 */
import type { Logger } from '../log.ts';

/** Why a container, or one of its names, is not served. */
export const SkipReasons = {
  /** The container mentions the node port (exposes it, or has an eid.* label) but publishes it nowhere. */
  no_node_port: 'publishes no host port for its node port',
  /** The `eid.port` label is not a port number. */
  bad_port_label: 'its eid.port label is not a port number',
  /** Published on loopback only: lookups from this host get it, other hosts cannot reach it. */
  loopback_only: 'published on loopback only; other hosts cannot reach it',
  /** Published only on specific addresses this daemon does not listen on (see --address). */
  unserved_address: 'published only on addresses this daemon does not serve',
  /** A name of 12 to 64 hex digits that is not its own ID: such names only ever resolve as IDs. */
  id_like_name: 'has a name that looks like a container ID; it resolves only as an ID',
  /** A name another container also answers to: it answers neither. */
  ambiguous_name: 'shares a name with another container; the name answers neither',
  /** A name a node registered on this host already holds: the local node keeps it. */
  name_taken: 'has a name a locally registered node holds; the local node keeps it',
} as const;

export type SkipReason = keyof typeof SkipReasons;

export const SKIP_REASONS = Object.keys(SkipReasons) as SkipReason[];

/** A container as an operator knows it: display only (the cluster page, `eid status`). */
export interface ContainerAbout {
  name: string;
  image: string;
  /** Its eid.* labels as Docker holds them, well-formed or not (cut to 256 characters each). */
  labels: Record<string, string>;
}

/** One skipped container, and the name concerned when the skip is about one name. */
export interface Skip {
  id: string;
  reason: SkipReason;
  name?: string | undefined;
  /** The container, for display, when the skip leaves it out of the catalog. */
  about?: ContainerAbout | undefined;
}

const keyOf = (s: Skip) => `${s.reason}\0${s.id}\0${s.name ?? ''}`;

/** Short IDs in logs, as Docker prints them. */
const SHORT_ID = 12;

export class SkippedContainers {
  readonly #current = new Map<string, Skip>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * Makes `skips` the current skips for `reasons` (others are left alone). A skip not current
   * before is logged once; one that is no longer listed is forgotten, so it is logged again if it
   * comes back.
   */
  update(reasons: readonly SkipReason[], skips: Iterable<Skip>): void {
    const fresh = new Map<string, Skip>();
    for (const skip of skips) fresh.set(keyOf(skip), skip);
    for (const [key, skip] of this.#current) {
      if (reasons.includes(skip.reason) && !fresh.has(key)) this.#current.delete(key);
    }
    for (const [key, skip] of fresh) {
      if (this.#current.has(key)) continue;
      this.#current.set(key, skip);
      this.#log.warn(`container not served: ${SkipReasons[skip.reason]}`, {
        id: skip.id.slice(0, SHORT_ID),
        reason: skip.reason,
        ...(skip.name === undefined ? {} : { name: skip.name }),
      });
    }
  }

  /** The skips now in force. */
  current(): Skip[] {
    return [...this.#current.values()];
  }

  /** Distinct containers skipped, by reason (every reason present, zero included). */
  counts(): Record<SkipReason, number> {
    const ids = new Map<SkipReason, Set<string>>(SKIP_REASONS.map((r) => [r, new Set()]));
    for (const skip of this.#current.values()) ids.get(skip.reason)!.add(skip.id);
    return Object.fromEntries([...ids].map(([reason, set]) => [reason, set.size])) as Record<
      SkipReason,
      number
    >;
  }
}
