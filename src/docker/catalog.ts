/**
 * The containers of one Docker host that publish an Erlang node port, kept in memory so a lookup
 * never waits on Docker. Built from the container list, kept current by the `/events` stream
 * (refreshes bounded, coalesced and retried: refresh-queue.ts), checked against a fresh list at a
 * fixed interval (so nothing a lost event or a stalled stream left wrong stays wrong longer), and
 * rebuilt after the stream breaks (with backoff between attempts).
 */
import type Docker from 'dockerode';
import { setTimeout as sleep } from 'node:timers/promises';
import { DockerError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import { DEFAULT_NODE_PORT } from '../ports.ts';
import { connectDocker, type DockerConnection } from './client.ts';
import { isContainerId, LineSplitter, parseEvent } from './events.ts';
import { readContainer, SHORT_ID_LENGTH, type CatalogEntry, type ContainerReading } from './inspect.ts';
import { RefreshQueue } from './refresh-queue.ts';
import { SkippedContainers, type Skip, type SkipReason } from './skips.ts';
import { ContainerTable } from './table.ts';

// Part of the package API through docker/index.ts since the first version.
export { CLUSTER_LABEL, NAME_LABEL, PORT_LABEL, type CatalogEntry } from './inspect.ts';
// Tests and the bench import the table from here (it lived in this module).
export { ContainerTable, MIN_ID_PREFIX } from './table.ts';

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

export interface CatalogOptions {
  /** DOCKER_HOST-style endpoint. */
  endpoint: string;
  nodePort?: number;
  /** Addresses the daemon serves; bindings on other specific addresses are never asked for. Empty: all. */
  addresses?: readonly string[];
  logger?: Logger;
  /** First reconnect delay; doubles up to maxBackoffMs. The same for retries of a failed inspect. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A Docker call (or the opening of the event stream) that takes longer is abandoned and retried. Default 10 s. */
  requestTimeoutMs?: number;
  /** Full resync (list and inspect everything, diffed against the table) at this interval. Default 60 s. */
  resyncIntervalMs?: number;
  /** Called after the table changed (an event applied, a sync done). */
  onChange?: () => void;
  env?: Record<string, string | undefined>;
}

export interface CatalogStats {
  size: number;
  reconnects: number;
  connected: boolean;
  syncs: number;
  /** When the last full sync completed (ms since the epoch); undefined before the first. */
  lastSyncAt: number | undefined;
  /** Inspects given up (after retries, or in a sync): each skipped its container until the next sync. */
  inspectFailures: number;
  /** Containers not served, by reason. */
  skipped: Record<SkipReason, number>;
}

/** How many inspect calls a full sync, or the event refreshes, run at once. */
const SYNC_CONCURRENCY = 8;
const REFRESH_CONCURRENCY = 8;
/** Tries of one event refresh before the next resync is left to pick the container up. */
const REFRESH_ATTEMPTS = 5;
const DEFAULT_MIN_BACKOFF_MS = 250;
const DEFAULT_MAX_BACKOFF_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_RESYNC_INTERVAL_MS = 60_000;

const INSPECT_REASONS: readonly SkipReason[] = [
  'no_node_port',
  'bad_port_label',
  'loopback_only',
  'unserved_address',
];
const TABLE_REASONS: readonly SkipReason[] = ['ambiguous_name', 'id_like_name'];

const short = (id: string) => id.slice(0, SHORT_ID_LENGTH);

/**
 * The Docker catalog of one host. `start()` returns at once; the catalog connects, lists, follows
 * events and reconnects in the background. Lookups read memory only. It knows nothing of EPMD: the
 * daemon adapts it to the EPMD server's NameSource (src/daemon/catalog-source.ts).
 */
export class DockerCatalog {
  readonly #table = new ContainerTable();
  /** Why each container that is not (fully) served from what inspect says is skipped. */
  readonly #inspectSkips = new Map<string, Skip>();
  readonly #skipped: SkippedContainers;
  readonly #options: Required<Omit<CatalogOptions, 'env' | 'onChange'>> & {
    env: Record<string, string | undefined>;
    onChange: (() => void) | undefined;
  };
  readonly #log: Logger;
  readonly #refreshes: RefreshQueue;
  #running = false;
  #connected = false;
  #connection: DockerConnection | undefined;
  #reconnects = 0;
  #syncs = 0;
  #lastSyncAt: number | undefined;
  #inspectFailures = 0;
  /** Containers refreshed by events while a full sync runs: the sync's older view of them is dropped. */
  #touched: Set<string> | undefined;
  #stream: NodeJS.ReadableStream | undefined;
  #loop: Promise<void> | undefined;
  #abort = new AbortController();
  #waiters: (() => void)[] = [];
  #warnedUnreachable = false;

  constructor(options: CatalogOptions) {
    this.#options = {
      endpoint: options.endpoint,
      nodePort: options.nodePort ?? DEFAULT_NODE_PORT,
      addresses: options.addresses ?? [],
      logger: options.logger ?? silentLogger,
      minBackoffMs: options.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS,
      maxBackoffMs: options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      resyncIntervalMs: options.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS,
      onChange: options.onChange,
      env: options.env ?? process.env,
    };
    this.#log = this.#options.logger;
    this.#skipped = new SkippedContainers(this.#log);
    this.#refreshes = new RefreshQueue({
      concurrency: REFRESH_CONCURRENCY,
      attempts: REFRESH_ATTEMPTS,
      minBackoffMs: this.#options.minBackoffMs,
      maxBackoffMs: this.#options.maxBackoffMs,
      run: (id) => this.#refresh(id),
      onGiveUp: (id, error) => {
        this.#inspectFailures += 1;
        this.#log.warn('could not inspect a container after retries; the next resync will try again', {
          id: short(id),
          attempts: REFRESH_ATTEMPTS,
          error: String(error),
        });
      },
    });
  }

  /** The container `name` means (see {@link ContainerTable.find}), from memory. */
  find(name: string): CatalogEntry | undefined {
    return this.#table.find(name);
  }

  /** True when a container answers, or could answer, to `name` (see {@link ContainerTable.claims}). */
  claims(name: string): boolean {
    return this.#table.claims(name);
  }

  /** Every container publishing a node port. */
  entries(): CatalogEntry[] {
    return [...this.#table.entries()];
  }

  /** Why containers (or some of their names) are not served now; see skips.ts. */
  skips(): Skip[] {
    return this.#skipped.current();
  }

  stats(): CatalogStats {
    return {
      size: this.#table.size,
      reconnects: this.#reconnects,
      connected: this.#connected,
      syncs: this.#syncs,
      lastSyncAt: this.#lastSyncAt,
      inspectFailures: this.#inspectFailures,
      skipped: this.#skipped.counts(),
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
    this.#refreshes.clear();
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
      this.#connection = undefined;
      this.#refreshes.clear();
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
    this.#connection = connection;
    let fail: (err: Error) => void = () => undefined;
    const ended = new Promise<void>((resolve, reject) => {
      fail = reject;
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
          // Refreshes run from here on, during the first sync too: the sync leaves what they touch.
          this.#touched?.add(event.containerId);
          this.#refreshes.push(event.containerId);
        }
      });
      stream.on('end', () => resolve());
      stream.on('close', () => resolve());
      stream.on('error', (err: Error) => reject(err));
    });
    // If the sync below fails, nobody awaits `ended`: its later rejection must not go unhandled.
    ended.catch(() => undefined);
    await this.#fullSync(connection);
    this.#connected = true;
    this.#warnedUnreachable = false;
    onConnected();
    this.#log.info('Docker catalog synced', {
      endpoint: connection.endpoint,
      api: connection.apiVersion,
      containers: this.#table.size,
    });
    for (const wake of this.#waiters.splice(0)) wake();
    // A resync that fails (Docker frozen, say) ends the session: the stream is reopened and the
    // catalog rebuilt, and meanwhile it says it is not connected.
    const resync = setInterval(() => {
      if (this.#touched !== undefined) return;
      this.#fullSync(connection).then(
        () => {
          for (const wake of this.#waiters.splice(0)) wake();
        },
        (err: unknown) => {
          this.#log.warn('periodic resync failed; reconnecting to Docker', { error: String(err) });
          fail(err instanceof Error ? err : new Error(String(err)));
          // Only this session's stream: a slow sync may fail after a reconnect.
          if (this.#stream === stream) this.#closeStream();
        },
      );
    }, this.#options.resyncIntervalMs);
    try {
      await ended;
    } finally {
      clearInterval(resync);
    }
  }

  /**
   * Lists and inspects every running container and makes the table match, container by
   * container: one whose inspect fails keeps what the table had (and is counted), one an event
   * refreshed meanwhile keeps the fresher state.
   */
  async #fullSync(connection: DockerConnection): Promise<void> {
    const touched = new Set<string>();
    this.#touched = touched;
    try {
      const list = await connection.docker.listContainers({ all: false, abortSignal: this.#requestSignal() });
      // IDs go into API paths: only well-formed ones, as for events.
      const ids = list.map((c) => c.Id).filter(isContainerId);
      const queue = [...ids];
      const read = new Map<string, ContainerReading>();
      const failed = new Set<string>();
      const worker = async () => {
        for (let id = queue.pop(); id !== undefined && this.#running; id = queue.pop()) {
          try {
            read.set(id, await this.#inspect(connection, id));
          } catch (err) {
            failed.add(id);
            this.#inspectFailures += 1;
            this.#log.warn('could not inspect a container during a sync; skipped until the next', {
              id: short(id),
              error: String(err),
            });
          }
        }
      };
      await Promise.all(Array.from({ length: SYNC_CONCURRENCY }, worker));
      if (!this.#running) return;
      const listed = new Set(ids);
      for (const entry of [...this.#table.entries()]) {
        if (!listed.has(entry.id) && !touched.has(entry.id)) this.#table.delete(entry.id);
      }
      for (const id of [...this.#inspectSkips.keys()]) {
        if (!listed.has(id) && !touched.has(id)) this.#inspectSkips.delete(id);
      }
      for (const [id, reading] of read) if (!touched.has(id)) this.#apply(id, reading, false);
      this.#syncs += 1;
      this.#lastSyncAt = Date.now();
      this.#changed();
      if (failed.size > 0) for (const id of failed) if (!touched.has(id)) this.#refreshes.push(id);
    } finally {
      if (this.#touched === touched) this.#touched = undefined;
    }
  }

  /** Container `id` as inspect reads it; none when it is gone (a 404 between event and inspect). */
  async #inspect(connection: DockerConnection, id: string): Promise<ContainerReading> {
    try {
      const info = await connection.docker.getContainer(id).inspect({ abortSignal: this.#requestSignal() });
      return readContainer(info, this.#options.nodePort, this.#options.addresses);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  #apply(id: string, reading: ContainerReading, notify = true): void {
    if (reading?.entry === undefined) this.#table.delete(id);
    else this.#table.set(reading.entry);
    if (reading?.skip === undefined) this.#inspectSkips.delete(id);
    else this.#inspectSkips.set(id, reading.skip);
    if (notify) this.#changed();
  }

  /** Brings the skip log up to date and tells the daemon. */
  #changed(): void {
    this.#skipped.update(INSPECT_REASONS, this.#inspectSkips.values());
    this.#skipped.update(TABLE_REASONS, this.#table.skips());
    this.#options.onChange?.();
  }

  /** One event refresh (the queue retries it when it throws). Dropped while not connected. */
  async #refresh(id: string): Promise<void> {
    const connection = this.#connection;
    if (connection === undefined || !this.#running) return;
    this.#touched?.add(id);
    const reading = await this.#inspect(connection, id);
    if (this.#connection !== connection) return;
    this.#apply(id, reading);
    this.#log.debug('catalog updated', { id: short(id), port: reading?.entry?.hostPort ?? null });
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
