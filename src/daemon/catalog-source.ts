/**
 * The Docker catalog as the EPMD server's NameSource. The catalog knows nothing of EPMD; this is the
 * one place that says what a container looks like to an EPMD client, and it counts the lookups
 * that reach the catalog for the metrics.
 *
 * Local registrations and container names: a name a container answers to cannot be registered
 * (`claims`, the server's registry asks); a container that starts with a name a local node already
 * holds leaves that name to the node (the server asks local registrations first), is reported as
 * `name_taken`, and still answers to its ID.
 */
import { portFor, type CatalogEntry } from '../docker/inspect.ts';
import { SkippedContainers, type Skip, type SkipReason } from '../docker/skips.ts';
import { aliasesOf, ID_NAME_LENGTH } from '../docker/table.ts';
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
  claims?(name: string): boolean;
}

const LOCAL_REASONS: readonly SkipReason[] = ['name_taken'];

export class CatalogSource implements NameSource {
  readonly counters: DaemonCounters = { lookups: 0, hits: 0, misses: 0 };
  readonly #catalog: ContainerDirectory;
  readonly #log: Logger;
  readonly #registered: () => Iterable<string>;
  readonly #skipped: SkippedContainers;

  /** `registered`: the names nodes hold by registering with this host's EPMD server. */
  constructor(
    catalog: ContainerDirectory,
    log: Logger = silentLogger,
    registered: () => Iterable<string> = () => [],
  ) {
    this.#catalog = catalog;
    this.#log = log;
    this.#registered = registered;
    this.#skipped = new SkippedContainers(log);
  }

  /**
   * The container `name` means, at the host port that serves the address the lookup came in on
   * (`local`): a binding on that address, else a wildcard one.
   */
  lookup(name: string, local?: string): NodeEntry | undefined {
    this.counters.lookups += 1;
    const found = this.#catalog.find(name);
    const port = found === undefined ? undefined : portFor(found, local);
    if (port === undefined) this.counters.misses += 1;
    else this.counters.hits += 1;
    this.#log.debug('container lookup', { name, port: port ?? null });
    if (port === undefined) return undefined;
    return { name, port, ...CONTAINER_NODE, extra: new Uint8Array(0) };
  }

  /**
   * Container nodes, one name each: the name its node uses (its `eid.name` label, else its hostname),
   * and only while that name leads to it. A hostname two containers share (a scaled Compose service
   * with `hostname:`) answers no lookup, so `net_adm:world()` must not be sent to dial it.
   */
  *names(): Iterable<{ name: string; port: number }> {
    for (const entry of this.#catalog.entries()) {
      const name = entry.labelName ?? entry.hostname;
      if (this.#catalog.find(name)?.id === entry.id) yield { name, port: entry.hostPort };
    }
  }

  /** A name a container answers to, or could (a shared one): not for a local node to register. */
  claims(name: string): boolean {
    return this.#catalog.claims?.(name) ?? this.#catalog.find(name) !== undefined;
  }

  /**
   * Finds the container names local nodes hold (`name_taken`): logs each new one once. The daemon
   * calls it when the catalog changes and before reporting metrics (a node may have left).
   */
  recheck(): void {
    const held = new Set(this.#registered());
    const skips: Skip[] = [];
    if (held.size > 0) {
      for (const entry of this.#catalog.entries()) {
        // The ID-like ones too: a short ID registered before its container started stays the node's.
        for (const name of new Set([
          ...aliasesOf(entry),
          entry.hostname,
          entry.id.slice(0, ID_NAME_LENGTH),
        ])) {
          if (held.has(name)) skips.push({ id: entry.id, reason: 'name_taken', name });
        }
      }
    }
    this.#skipped.update(LOCAL_REASONS, skips);
  }

  /** Containers whose name a local node holds. */
  /** Containers whose name a locally registered node holds (reason `name_taken`). */
  skips(): Skip[] {
    return this.#skipped.current();
  }

  nameTaken(): number {
    return this.#skipped.counts().name_taken;
  }
}
