/**
 * The Docker `/events` stream: one JSON object per line. The splitter keeps a partial line until
 * its newline arrives and refuses lines longer than a cap before buffering more of them.
 */
import { DockerError } from '../errors.ts';

/** Far above any real event (a few hundred bytes; labels can add some KiB). */
export const MAX_EVENT_LINE = 1 << 20;

const NEWLINE = 0x0a;

export class LineSplitter {
  #pending: Buffer[] = [];
  #pendingLength = 0;
  readonly #maxLine: number;

  constructor(maxLine = MAX_EVENT_LINE) {
    this.#maxLine = maxLine;
  }

  /** Whole lines completed by this chunk (without their newline); keeps the unfinished rest. */
  push(chunk: Uint8Array): string[] {
    const lines: string[] = [];
    let start = 0;
    let nl = chunk.indexOf(NEWLINE, start);
    while (nl !== -1) {
      const part = chunk.subarray(start, nl);
      this.#check(this.#pendingLength + part.length);
      const line = this.#pendingLength === 0 ? Buffer.from(part) : Buffer.concat([...this.#pending, part]);
      this.#pending = [];
      this.#pendingLength = 0;
      lines.push(line.toString('utf8'));
      start = nl + 1;
      nl = chunk.indexOf(NEWLINE, start);
    }
    const rest = chunk.subarray(start);
    if (rest.length > 0) {
      this.#check(this.#pendingLength + rest.length);
      this.#pending.push(Buffer.from(rest));
      this.#pendingLength += rest.length;
    }
    return lines;
  }

  #check(length: number): void {
    if (length > this.#maxLine) {
      throw new DockerError('DOCKER_EVENT_TOO_LONG', `event line longer than ${this.#maxLine} bytes`, {
        offset: length,
      });
    }
  }
}

/** The part of an event the catalog acts on. */
export interface ContainerEvent {
  type: 'container' | 'network';
  action: string;
  /** The container the event is about (for network events, the container connected or disconnected). */
  containerId: string | undefined;
}

const CONTAINER_ID = /^[0-9a-f]{64}$/;

/** A full container ID, as Docker writes it: safe to put in an API path. */
export function isContainerId(id: unknown): id is string {
  return typeof id === 'string' && CONTAINER_ID.test(id);
}

/** Parses one event line; undefined for lines that are not about a container (or not valid JSON objects). */
export function parseEvent(line: string): ContainerEvent | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const event = raw as {
    Type?: unknown;
    Action?: unknown;
    Actor?: { ID?: unknown; Attributes?: Record<string, unknown> };
  };
  if (event.Type !== 'container' && event.Type !== 'network') return undefined;
  if (typeof event.Action !== 'string') return undefined;
  const candidate = event.Type === 'container' ? event.Actor?.ID : event.Actor?.Attributes?.container;
  // Ids from the stream go into API paths later: only well-formed ones pass.
  const containerId = isContainerId(candidate) ? candidate : undefined;
  return { type: event.Type, action: event.Action, containerId };
}
