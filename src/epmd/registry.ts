/**
 * epmd's registration table, without sockets (epmd_srv.c's node lists): who is registered, the
 * creation each registration gets, which names are refused, and what is remembered of names that
 * left. The server owns the connections; each registration carries its connection as `owner`.
 */
import { EpmdDistVersion, dumpLine, encodePort2Reply } from './protocol.ts';
import type { Alive2Request } from './protocol.ts';
import type { NodeEntry } from './types.ts';

/** A locally registered node, as `registered()` reports it. */
export interface RegisteredNode extends NodeEntry {
  creation: number;
  /** Remote address of the registering connection as `host:port`. */
  peer: string;
}

export interface Registration<Owner> {
  readonly entry: NodeEntry;
  /** The PORT2_RESP for this node, encoded once. */
  readonly port2Reply: Buffer;
  /** epmd's creation counter for this name; `creation` is derived from it. */
  readonly counter: number;
  readonly creation: number;
  /** What holds the registration alive (the server's connection). */
  readonly owner: Owner;
  readonly peer: string;
  /** Stands in for epmd's file descriptor in DUMP replies. */
  readonly id: number;
}

/** Names whose creation counter is remembered after they unregister (epmd's MAX_UNREG_COUNT). */
export const MAX_REMEMBERED_NAMES = 1000;

/** epmd keeps the 32-bit creations it gives out clear of 0..3, the range of the old 2-bit ones. */
export const MIN_CREATION = 4;

/** epmd's creation rules: a counter seeded from the clock, bumped on reuse, never below MIN_CREATION. */
export function bumpCreation(counter: number): number {
  const next = (counter + 1) >>> 0;
  return next < MIN_CREATION ? MIN_CREATION : next;
}

/** Nodes speaking distribution version 6+ get the 32-bit counter; older ones get 1..3. */
export function creationFor(counter: number, highestVersion: number): number {
  return highestVersion >= EpmdDistVersion.HIGHEST ? counter : (counter % 3) + 1;
}

export class NodeRegistry<Owner> {
  /** Live registrations by name, oldest first. */
  readonly #nodes = new Map<string, Registration<Owner>>();
  /** Creation counters of names that unregistered, oldest first. */
  readonly #remembered = new Map<string, { counter: number; port: number; id: number }>();
  readonly #now: () => number;
  readonly #claimed: (name: string) => boolean;
  #nextId = 1;

  /**
   * `now` (milliseconds) seeds the creation counter of a name seen for the first time; `claimed`
   * says whether a name belongs to someone else (the server's NameSource): such a name is refused.
   */
  constructor(now: () => number = Date.now, claimed: (name: string) => boolean = () => false) {
    this.#now = now;
    this.#claimed = claimed;
  }

  get size(): number {
    return this.#nodes.size;
  }

  get(name: string): Registration<Owner> | undefined {
    return this.#nodes.get(name);
  }

  has(name: string): boolean {
    return this.#nodes.has(name);
  }

  /**
   * Registers `req` for `owner`, or says why not: the decoder's refusal (an invalid name), a name
   * already registered, or a name claimed elsewhere (a container answers to it). A `claimed` that
   * throws counts as not claimed: registration works as plain epmd's.
   */
  register(
    req: Alive2Request,
    owner: Owner,
    peer: string,
  ): { registration: Registration<Owner> } | { refusal: string } {
    const refusal =
      req.refusal ??
      (this.#nodes.has(req.name)
        ? 'name already registered'
        : this.#isClaimed(req.name)
          ? 'name taken by a container'
          : undefined);
    if (refusal !== undefined) return { refusal };
    const previous = this.#remembered.get(req.name);
    this.#remembered.delete(req.name);
    const counter = bumpCreation(previous?.counter ?? Math.floor(this.#now() / 1000));
    const { name, port, nodeType, protocol, highestVersion, lowestVersion, extra } = req;
    const entry: NodeEntry = { name, port, nodeType, protocol, highestVersion, lowestVersion, extra };
    const registration: Registration<Owner> = {
      entry,
      port2Reply: encodePort2Reply(entry),
      counter,
      creation: creationFor(counter, highestVersion),
      owner,
      peer,
      id: this.#nextId++,
    };
    this.#nodes.set(name, registration);
    return { registration };
  }

  #isClaimed(name: string): boolean {
    try {
      return this.#claimed(name);
    } catch {
      return false;
    }
  }

  /**
   * Removes `registration` and remembers its name's counter (the oldest remembered name is
   * forgotten past MAX_REMEMBERED_NAMES). False when it is no longer the name's live registration.
   */
  unregister(registration: Registration<Owner>): boolean {
    const { name, port } = registration.entry;
    if (this.#nodes.get(name) !== registration) return false;
    this.#nodes.delete(name);
    this.#remembered.set(name, { counter: registration.counter, port, id: registration.id });
    if (this.#remembered.size > MAX_REMEMBERED_NAMES) {
      const oldest = this.#remembered.keys().next().value;
      if (oldest !== undefined) this.#remembered.delete(oldest);
    }
    return true;
  }

  /** Locally registered nodes, newest first (epmd's order). */
  registered(): RegisteredNode[] {
    return [...this.#nodes.values()]
      .reverse()
      .map((r) => ({ ...r.entry, creation: r.creation, peer: r.peer }));
  }

  /** The text of a DUMP reply: active nodes newest first, then remembered ones oldest first. */
  dumpText(): string {
    let text = '';
    for (const r of [...this.#nodes.values()].reverse())
      text += dumpLine('active', r.entry.name, r.entry.port, r.id);
    for (const [name, r] of this.#remembered) text += dumpLine('old', name, r.port, r.id);
    return text;
  }

  /** Forgets every live registration (the server is closing); remembered counters stay. */
  clear(): void {
    this.#nodes.clear();
  }
}
