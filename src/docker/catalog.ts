/**
 * The containers of one Docker host that publish an Erlang node port, kept in memory so a lookup
 * never waits on Docker. Built from the container list, kept current by the `/events` stream,
 * rebuilt whole after the stream breaks (with backoff between attempts).
 */
import type Docker from 'dockerode';
import { setTimeout as sleep } from 'node:timers/promises';
import { DockerError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import { DEFAULT_NODE_PORT } from '../ports.ts';
import { connectDocker, type DockerConnection } from './client.ts';
import { isContainerId, LineSplitter, parseEvent } from './events.ts';
import { entryFromInspect, isValidLookupName, SHORT_ID_LENGTH, type CatalogEntry } from './inspect.ts';

// Part of the package API through docker/index.ts since the first version.
export { NAME_LABEL, PORT_LABEL, type CatalogEntry } from './inspect.ts';

/** Events after which a container's names or published ports may have changed. */
const REFRESH_ACTIONS = new Set([
  'create',
  'start',
  'restart',
  'die',
  'stop',
  'kill',
  'destroy',
  'rename',
  'pause',
  'unpause',
  'update',
  'connect',
  'disconnect',
]);

/** Shortest ID prefix accepted, so that short node names that happen to be hex do not hit a container. */
export const MIN_ID_PREFIX = 6;

const HEX = /^[0-9a-f]+$/;

/** Name → container ids; a name two containers share answers neither. */
class NameIndex {
  readonly #ids = new Map<string, Set<string>>();

  add(name: string | undefined, id: string): void {
    if (name === undefined || name === '') return;
    let set = this.#ids.get(name);
    if (set === undefined) this.#ids.set(name, (set = new Set()));
    set.add(id);
  }

  delete(name: string | undefined, id: string): void {
    if (name === undefined) return;
    const set = this.#ids.get(name);
    set?.delete(id);
    if (set?.size === 0) this.#ids.delete(name);
  }

  unique(name: string): string | undefined {
    const set = this.#ids.get(name);
    if (set === undefined || set.size !== 1) return undefined;
    return set.values().next().value;
  }
}

/** The in-memory part: entries and their indexes. No I/O. */
export class ContainerTable {
  readonly #byId = new Map<string, CatalogEntry>();
  readonly #names = new NameIndex();
  readonly #hostnames = new NameIndex();
  readonly #labels = new NameIndex();

  get size(): number {
    return this.#byId.size;
  }

  entries(): IterableIterator<CatalogEntry> {
    return this.#byId.values();
  }

  set(entry: CatalogEntry): void {
    this.delete(entry.id);
    this.#byId.set(entry.id, entry);
    this.#names.add(entry.name, entry.id);
    this.#hostnames.add(entry.hostname, entry.id);
    this.#labels.add(entry.labelName, entry.id);
  }

  delete(id: string): void {
    const old = this.#byId.get(id);
    if (old === undefined) return;
    this.#byId.delete(id);
    this.#names.delete(old.name, id);
    this.#hostnames.delete(old.hostname, id);
    this.#labels.delete(old.labelName, id);
  }

  clear(): void {
    for (const id of [...this.#byId.keys()]) this.delete(id);
  }

  /** Full ID, name, hostname, `eid.name` label, then a unique ID prefix (12-char short IDs included). */
  find(name: string): CatalogEntry | undefined {
    if (!isValidLookupName(name)) return undefined;
    const direct = this.#byId.get(name);
    if (direct !== undefined) return direct;
    const id = this.#names.unique(name) ?? this.#hostnames.unique(name) ?? this.#labels.unique(name);
    if (id !== undefined) return this.#byId.get(id);
    if (name.length < MIN_ID_PREFIX || !HEX.test(name)) return undefined;
    let match: CatalogEntry | undefined;
    for (const [fullId, entry] of this.#byId) {
      if (!fullId.startsWith(name)) continue;
      if (match !== undefined) return undefined;
      match = entry;
    }
    return match;
  }
}

export interface CatalogOptions {
  /** DOCKER_HOST-style endpoint. */
  endpoint: string;
  nodePort?: number;
  /** Addresses the daemon serves; picks among several published bindings. Empty: all. */
  addresses?: readonly string[];
  logger?: Logger;
  /** First reconnect delay; doubles up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A Docker call (or the opening of the event stream) that takes longer is abandoned and retried. Default 10 s. */
  requestTimeoutMs?: number;
  env?: Record<string, string | undefined>;
}

export interface CatalogStats {
  size: number;
  reconnects: number;
  connected: boolean;
  syncs: number;
}

/** How many inspect calls a full sync runs at once. */
const SYNC_CONCURRENCY = 8;
const DEFAULT_MIN_BACKOFF_MS = 250;
const DEFAULT_MAX_BACKOFF_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * The Docker catalog of one host. `start()` returns at once; the catalog connects, lists, follows
 * events and reconnects in the background. Lookups read memory only. It knows nothing of EPMD: the
 * daemon adapts it to the EPMD server's NameSource (src/daemon/catalog-source.ts).
 */
export class DockerCatalog {
  readonly #table = new ContainerTable();
  readonly #options: Required<Omit<CatalogOptions, 'env'>> & { env: Record<string, string | undefined> };
  readonly #log: Logger;
  #running = false;
  #connected = false;
  #reconnects = 0;
  #syncs = 0;
  #stream: NodeJS.ReadableStream | undefined;
  #loop: Promise<void> | undefined;
  #abort = new AbortController();
  #waiters: (() => void)[] = [];
  #warnedUnreachable = false;
  readonly #refreshing = new Map<string, Promise<void>>();

  constructor(options: CatalogOptions) {
    this.#options = {
      endpoint: options.endpoint,
      nodePort: options.nodePort ?? DEFAULT_NODE_PORT,
      addresses: options.addresses ?? [],
      logger: options.logger ?? silentLogger,
      minBackoffMs: options.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS,
      maxBackoffMs: options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      env: options.env ?? process.env,
    };
    this.#log = this.#options.logger;
  }

  /** The container `name` means (see {@link ContainerTable.find}), from memory. */
  find(name: string): CatalogEntry | undefined {
    return this.#table.find(name);
  }

  /** Every container publishing a node port. */
  entries(): CatalogEntry[] {
    return [...this.#table.entries()];
  }

  stats(): CatalogStats {
    return {
      size: this.#table.size,
      reconnects: this.#reconnects,
      connected: this.#connected,
      syncs: this.#syncs,
    };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#abort.abort();
    this.#closeStream();
    await this.#loop;
    this.#connected = false;
  }

  /** Resolves after the next completed full sync (tests and start-up use it). */
  synced(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async #run(): Promise<void> {
    let delay = this.#options.minBackoffMs;
    for (let attempt = 0; this.#running; attempt++) {
      if (attempt > 0) this.#reconnects += 1;
      try {
        await this.#session(() => {
          delay = this.#options.minBackoffMs;
        });
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        if (this.#running && !this.#connected && !this.#warnedUnreachable) {
          this.#warnedUnreachable = true;
          this.#log.warn(
            this.#table.size === 0
              ? 'Docker is not reachable; serving as plain EPMD (registered nodes only) and retrying'
              : 'Docker is not reachable; answering from the last known containers and retrying',
            { endpoint: this.#options.endpoint, containers: this.#table.size, error },
          );
        } else {
          this.#log.debug('Docker connection ended', { error });
        }
      }
      this.#connected = false;
      if (!this.#running) break;
      try {
        await sleep(delay + Math.floor(Math.random() * (delay / 4)), undefined, {
          signal: this.#abort.signal,
        });
      } catch {
        break;
      }
      delay = Math.min(delay * 2, this.#options.maxBackoffMs);
    }
  }

  /** One connection: follow events, sync everything, then apply events until the stream ends. */
  async #session(onConnected: () => void): Promise<void> {
    const connection = await connectDocker(this.#options.endpoint, this.#options.env, this.#requestSignal());
    if (!this.#running) return;
    // Abandoned if stop() comes or Docker does not answer, but only while opening: the same signal
    // would otherwise cut the long-lived stream later.
    const opening = new AbortController();
    const abortOpening = () => opening.abort();
    this.#abort.signal.addEventListener('abort', abortOpening);
    const timer = setTimeout(abortOpening, this.#options.requestTimeoutMs);
    let stream: NodeJS.ReadableStream;
    try {
      stream = await connection.docker.getEvents({
        filters: { type: ['container', 'network'] },
        abortSignal: opening.signal,
      } as Docker.GetEventsOptions);
    } finally {
      clearTimeout(timer);
      this.#abort.signal.removeEventListener('abort', abortOpening);
    }
    this.#stream = stream;
    try {
      if (!this.#running) return;
      await this.#follow(connection, stream, onConnected);
    } finally {
      if (this.#stream === stream) this.#closeStream();
    }
    if (this.#running) this.#log.warn('Docker event stream ended; keeping the catalog and reconnecting');
    throw new DockerError('DOCKER_STREAM_ENDED', 'event stream ended', { peer: connection.endpoint });
  }

  async #follow(
    connection: DockerConnection,
    stream: NodeJS.ReadableStream,
    onConnected: () => void,
  ): Promise<void> {
    const splitter = new LineSplitter();
    // Events that arrive while the full sync runs are applied after it, so they win over the list.
    let pending: string[] | undefined = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        let lines: string[];
        try {
          lines = splitter.push(chunk);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
          this.#closeStream();
          return;
        }
        for (const line of lines) {
          const event = parseEvent(line);
          if (event?.containerId === undefined) continue;
          if (event.type === 'container' && !REFRESH_ACTIONS.has(event.action)) continue;
          if (pending !== undefined) pending.push(event.containerId);
          else this.#scheduleRefresh(connection, event.containerId);
        }
      });
      stream.on('end', () => resolve());
      stream.on('close', () => resolve());
      stream.on('error', (err: Error) => reject(err));
    });
    // If the sync below fails, nobody awaits `ended`: its later rejection must not go unhandled.
    ended.catch(() => undefined);
    await this.#fullSync(connection);
    const queued = pending;
    pending = undefined;
    this.#connected = true;
    this.#warnedUnreachable = false;
    onConnected();
    this.#log.info('Docker catalog synced', {
      endpoint: connection.endpoint,
      api: connection.apiVersion,
      containers: this.#table.size,
    });
    for (const id of new Set(queued)) this.#scheduleRefresh(connection, id);
    for (const wake of this.#waiters.splice(0)) wake();
    await ended;
  }

  async #fullSync(connection: DockerConnection): Promise<void> {
    const list = await connection.docker.listContainers({ all: false, abortSignal: this.#requestSignal() });
    const fresh = new ContainerTable();
    // IDs go into API paths: only well-formed ones, as for events.
    const queue = list.map((c) => c.Id).filter(isContainerId);
    const worker = async () => {
      for (let id = queue.pop(); id !== undefined; id = queue.pop()) {
        const entry = await this.#inspect(connection, id);
        if (entry !== undefined) fresh.set(entry);
      }
    };
    await Promise.all(Array.from({ length: SYNC_CONCURRENCY }, worker));
    this.#table.clear();
    for (const entry of fresh.entries()) this.#table.set(entry);
    this.#syncs += 1;
  }

  async #inspect(connection: DockerConnection, id: string): Promise<CatalogEntry | undefined> {
    try {
      const info = await connection.docker.getContainer(id).inspect({ abortSignal: this.#requestSignal() });
      return entryFromInspect(info, this.#options.nodePort, this.#options.addresses);
    } catch (err) {
      // Gone between the event (or list) and the inspect: not in the catalog.
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  /** Refreshes of one container run in event order, so an older answer never overwrites a newer one. */
  #scheduleRefresh(connection: DockerConnection, id: string): void {
    const previous = this.#refreshing.get(id) ?? Promise.resolve();
    const next = previous.then(() => this.#refresh(connection, id));
    this.#refreshing.set(id, next);
    void next.finally(() => {
      if (this.#refreshing.get(id) === next) this.#refreshing.delete(id);
    });
  }

  async #refresh(connection: DockerConnection, id: string): Promise<void> {
    try {
      const entry = await this.#inspect(connection, id);
      if (entry === undefined) this.#table.delete(id);
      else this.#table.set(entry);
      this.#log.debug('catalog updated', { id: id.slice(0, SHORT_ID_LENGTH), port: entry?.hostPort ?? null });
    } catch (err) {
      this.#log.debug('could not refresh a container; the next sync will', {
        id: id.slice(0, SHORT_ID_LENGTH),
        error: String(err),
      });
    }
  }

  /** For one Docker call: aborted by stop() or after the request timeout. */
  #requestSignal(): AbortSignal {
    return AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#options.requestTimeoutMs)]);
  }

  #closeStream(): void {
    const stream = this.#stream as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined;
    this.#stream = undefined;
    stream?.destroy?.();
  }
}
