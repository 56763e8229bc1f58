/**
 * The Docker catalog as the EPMD server's NameSource. The catalog knows nothing of EPMD; this is the
 * one place that says what a container looks like to an EPMD client, and it counts the lookups
 * that reach the catalog for the metrics.
 */
import type { CatalogEntry } from '../docker/inspect.ts';
import { EpmdNodeType } from '../epmd/protocol.ts';
import type { NameSource, NodeEntry } from '../epmd/types.ts';
import { silentLogger, type Logger } from '../log.ts';
import type { DaemonCounters } from './metrics.ts';

/** What PORT_PLEASE2 answers for a container: a normal node speaking distribution versions 5 to 6, like OTP 23+. */
export const CONTAINER_NODE = {
  nodeType: EpmdNodeType.NORMAL,
  protocol: 0,
  highestVersion: 6,
  lowestVersion: 5,
} as const;

/** The part of DockerCatalog the adapter reads (memory only). */
export interface ContainerDirectory {
  find(name: string): CatalogEntry | undefined;
  entries(): Iterable<CatalogEntry>;
}

export class CatalogSource implements NameSource {
  readonly counters: DaemonCounters = { lookups: 0, hits: 0, misses: 0 };
  readonly #catalog: ContainerDirectory;
  readonly #log: Logger;

  constructor(catalog: ContainerDirectory, log: Logger = silentLogger) {
    this.#catalog = catalog;
    this.#log = log;
  }

  /** The container `name` means, at the host port that publishes its node port. */
  lookup(name: string): NodeEntry | undefined {
    this.counters.lookups += 1;
    const found = this.#catalog.find(name);
    if (found === undefined) this.counters.misses += 1;
    else this.counters.hits += 1;
    this.#log.debug('container lookup', { name, port: found?.hostPort ?? null });
    if (found === undefined) return undefined;
    return { name, port: found.hostPort, ...CONTAINER_NODE, extra: new Uint8Array(0) };
  }

  /** Container nodes by the name a node in a container uses by default: its hostname. */
  *names(): Iterable<{ name: string; port: number }> {
    for (const entry of this.#catalog.entries()) yield { name: entry.hostname, port: entry.hostPort };
  }
}
