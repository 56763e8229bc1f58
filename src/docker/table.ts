/**
 * The catalog's in-memory part: entries and the names they answer to, and the rules of which name
 * means which container. No I/O.
 *
 * - A name of 12 to 64 hex digits is only ever an ID: the container whose ID it is, or whose ID it
 *   uniquely begins with. No container name, hostname or label can claim it (a container named
 *   after another's short ID would otherwise take its traffic).
 * - Any other name is answered by the containers whose name, hostname or `eid.name` label it is,
 *   and, for 6 to 11 hex digits, whose ID begins with it. Exactly one: that container. Two or more:
 *   none (and {@link ContainerTable.skips} reports the name as ambiguous).
 */
import { isValidLookupName, type CatalogEntry } from './inspect.ts';
import type { Skip } from './skips.ts';

/** Shortest ID prefix accepted, so that short node names that happen to be hex do not hit a container. */
export const MIN_ID_PREFIX = 6;
/** Docker's short ID, and the shortest name that is only ever read as an ID. */
export const ID_NAME_LENGTH = 12;

const HEX = /^[0-9a-f]+$/;
const ID_LIKE = /^[0-9a-f]{12,64}$/;

/** A name only ever resolved as an ID (12 to 64 lowercase hex digits). */
export function isIdLike(name: string): boolean {
  return ID_LIKE.test(name);
}

/** The names a container answers to besides its ID: container name, hostname, label (once each). */
export function aliasesOf(entry: CatalogEntry): string[] {
  const names = new Set([entry.name, entry.hostname, entry.labelName]);
  return [...names].filter((n): n is string => n !== undefined && n !== '' && !isIdLike(n));
}

/** Name → container ids. */
class NameIndex {
  readonly #ids = new Map<string, Set<string>>();

  add(name: string, id: string): void {
    let set = this.#ids.get(name);
    if (set === undefined) this.#ids.set(name, (set = new Set()));
    set.add(id);
  }

  delete(name: string, id: string): void {
    const set = this.#ids.get(name);
    set?.delete(id);
    if (set?.size === 0) this.#ids.delete(name);
  }

  get(name: string): ReadonlySet<string> | undefined {
    return this.#ids.get(name);
  }

  entries(): IterableIterator<[string, ReadonlySet<string>]> {
    return this.#ids.entries();
  }
}

export class ContainerTable {
  readonly #byId = new Map<string, CatalogEntry>();
  readonly #aliases = new NameIndex();
  /** Short ID (first 12 digits) → ids, so ID-like lookups need no scan. */
  readonly #shortIds = new NameIndex();

  get size(): number {
    return this.#byId.size;
  }

  entries(): IterableIterator<CatalogEntry> {
    return this.#byId.values();
  }

  get(id: string): CatalogEntry | undefined {
    return this.#byId.get(id);
  }

  set(entry: CatalogEntry): void {
    this.delete(entry.id);
    this.#byId.set(entry.id, entry);
    this.#shortIds.add(entry.id.slice(0, ID_NAME_LENGTH), entry.id);
    for (const alias of aliasesOf(entry)) this.#aliases.add(alias, entry.id);
  }

  delete(id: string): void {
    const old = this.#byId.get(id);
    if (old === undefined) return;
    this.#byId.delete(id);
    this.#shortIds.delete(id.slice(0, ID_NAME_LENGTH), id);
    for (const alias of aliasesOf(old)) this.#aliases.delete(alias, id);
  }

  clear(): void {
    for (const id of [...this.#byId.keys()]) this.delete(id);
  }

  /** The one container `name` means under the rules above, if exactly one. */
  find(name: string): CatalogEntry | undefined {
    if (!isValidLookupName(name)) return undefined;
    // The common cases (a short ID, a plain name) without building a candidate set.
    let ids: Iterable<string> | undefined;
    if (isIdLike(name)) {
      const direct = this.#byId.get(name);
      if (direct !== undefined) return direct;
      ids = this.#shortIds.get(name.slice(0, ID_NAME_LENGTH));
    } else if (!isShortHexPrefix(name)) {
      ids = this.#aliases.get(name);
    } else {
      ids = this.#candidates(name);
    }
    let match: string | undefined;
    for (const id of ids ?? []) {
      if (isIdLike(name) && !id.startsWith(name)) continue;
      if (match !== undefined) return undefined;
      match = id;
    }
    return match === undefined ? undefined : this.#byId.get(match);
  }

  /** True when a container answers, or could answer, to `name`: a local node may not register it. */
  claims(name: string): boolean {
    return this.#candidates(name).size > 0;
  }

  /**
   * Names that cannot serve the container they belong to: shared names (`ambiguous_name`, one skip
   * per container) and names that look like another container's ID (`id_like_name`).
   */
  *skips(): Iterable<Skip> {
    for (const [name, ids] of this.#aliases.entries()) {
      const all = ids.size === 1 && isShortHexPrefix(name) ? this.#candidates(name) : ids;
      if (all.size > 1) for (const id of all) yield { id, reason: 'ambiguous_name', name };
    }
    for (const entry of this.#byId.values()) {
      for (const name of new Set([entry.name, entry.hostname, entry.labelName])) {
        if (name !== undefined && isIdLike(name) && !entry.id.startsWith(name))
          yield { id: entry.id, reason: 'id_like_name', name };
      }
    }
  }

  #candidates(name: string): ReadonlySet<string> {
    if (!isValidLookupName(name)) return new Set();
    if (isIdLike(name)) {
      if (this.#byId.has(name)) return new Set([name]);
      const ids = this.#shortIds.get(name.slice(0, ID_NAME_LENGTH)) ?? new Set<string>();
      return new Set([...ids].filter((id) => id.startsWith(name)));
    }
    const ids = new Set(this.#aliases.get(name));
    if (isShortHexPrefix(name)) {
      for (const id of this.#byId.keys()) if (id.startsWith(name)) ids.add(id);
    }
    return ids;
  }
}

/** 6 to 11 hex digits: a name that may also be read as an ID prefix. */
function isShortHexPrefix(name: string): boolean {
  return name.length >= MIN_ID_PREFIX && name.length < ID_NAME_LENGTH && HEX.test(name);
}
