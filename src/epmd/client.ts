/**
 * An EPMD client: register a node (the registration lives as long as its connection), look a
 * node up, list names. One connection per call, as OTP's erl_epmd does; every call has a timeout
 * and fails with an EpmdError whose code says what happened.
 */
import net from 'node:net';
import { EpmdError } from '../errors.ts';
import {
  EpmdDistVersion,
  EpmdResult,
  EpmdProtocol,
  EpmdNodeType,
  decodeAlive2Reply,
  decodeNamesReply,
  decodePort2Reply,
  encodeRequest,
} from './protocol.ts';
import type { EpmdRequest } from './protocol.ts';
import { epmdPortFromEnv } from './env.ts';
import type { NodeEntry } from './types.ts';

export const EPMD_DEFAULT_TIMEOUT_MS = 5000;

/** No EPMD reply comes near this (a NAMES reply of 10 000 nodes is about 300 KiB): a peer that goes on is not an EPMD. */
const MAX_REPLY_BYTES = 1 << 20;

export interface EpmdCallOptions {
  /** Default: ERL_EPMD_PORT, else 4369. */
  epmdPort?: number;
  /** Default 5 s: connecting and getting the whole reply. */
  timeoutMs?: number;
}

export interface EpmdRegisterOptions extends EpmdCallOptions {
  /** epmd only accepts registrations from the same host; default 127.0.0.1. */
  host?: string;
  /** Default 77 (normal node); 72 for hidden. */
  nodeType?: number;
  highestVersion?: number;
  lowestVersion?: number;
  extra?: Uint8Array;
}

export interface Registration {
  /** The creation epmd assigned to this incarnation of the node. */
  readonly creation: number;
  /** Resolves when the registration ends: close() was called or epmd went away. */
  readonly closed: Promise<void>;
  /** Closes the connection, which unregisters the name. */
  close(): Promise<void>;
}

const UNREACHABLE = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EAI_FAIL',
]);

function connectionError(err: NodeJS.ErrnoException, peer: string): EpmdError {
  if (err.code === 'ECONNREFUSED') {
    return new EpmdError('EPMD_REFUSED', `no epmd at ${peer}: connection refused`, { peer, cause: err });
  }
  if (err.code !== undefined && UNREACHABLE.has(err.code)) {
    return new EpmdError('EPMD_UNREACHABLE', `epmd host ${peer} unreachable (${err.code})`, {
      peer,
      cause: err,
    });
  }
  return new EpmdError('EPMD_CONNECTION', `connection to epmd at ${peer} failed: ${err.message}`, {
    peer,
    cause: err,
  });
}

/**
 * Sends one request and feeds everything received to `parse` until it returns a value (or, when
 * it needs the close, until the peer closes). Leaves the socket open when `keep` says so.
 */
function call<T>(
  host: string,
  options: EpmdCallOptions,
  request: EpmdRequest,
  parse: (received: Buffer, ended: boolean) => T | undefined,
  keep = false,
): Promise<{ value: T; socket: net.Socket; peer: string }> {
  const port = options.epmdPort ?? epmdPortFromEnv();
  const timeoutMs = options.timeoutMs ?? EPMD_DEFAULT_TIMEOUT_MS;
  const peer = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  const bytes = encodeRequest(request);
  return new Promise((resolve, reject) => {
    let received: Buffer = Buffer.alloc(0);
    let done = false;
    const socket = net.connect({ host, port, noDelay: true });
    const finish = (err: EpmdError | undefined, value?: T) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err !== undefined || !keep) socket.destroy();
      if (err !== undefined) reject(err);
      else resolve({ value: value as T, socket, peer });
    };
    const timer = setTimeout(
      () =>
        finish(
          new EpmdError('EPMD_TIMEOUT', `epmd at ${peer} did not answer within ${timeoutMs} ms`, { peer }),
        ),
      timeoutMs,
    );
    const attempt = (ended: boolean) => {
      if (done) return;
      try {
        const value = parse(received, ended);
        if (value !== undefined) finish(undefined, value);
        else if (ended) {
          finish(
            new EpmdError(
              'EPMD_CLOSED',
              received.length === 0
                ? `epmd at ${peer} closed the connection without a reply`
                : `epmd at ${peer} closed the connection in the middle of a reply`,
              { peer },
            ),
          );
        }
      } catch (err) {
        if (!(err instanceof EpmdError)) throw err;
        finish(
          new EpmdError(err.code, err.message, {
            offset: err.offset,
            expected: err.expected,
            peer,
            cause: err,
          }),
        );
      }
    };
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      if (received.length > MAX_REPLY_BYTES) {
        finish(
          new EpmdError('EPMD_MALFORMED', `epmd at ${peer} sent more than ${MAX_REPLY_BYTES} bytes`, {
            peer,
          }),
        );
        return;
      }
      attempt(false);
    });
    socket.on('end', () => attempt(true));
    socket.on('error', (err) => finish(connectionError(err, peer)));
    socket.on('close', () => attempt(true));
  });
}

/**
 * Registers `name` with listening `port` at the epmd on `options.host` (default 127.0.0.1) and
 * keeps the connection open: the name stays registered until close().
 */
export async function epmdRegister(
  name: string,
  port: number,
  options: EpmdRegisterOptions = {},
): Promise<Registration> {
  const request: EpmdRequest = {
    type: 'alive2',
    port,
    nodeType: options.nodeType ?? EpmdNodeType.NORMAL,
    protocol: EpmdProtocol.TCP,
    highestVersion: options.highestVersion ?? EpmdDistVersion.HIGHEST,
    lowestVersion: options.lowestVersion ?? EpmdDistVersion.LOWEST,
    name,
    extra: options.extra ?? new Uint8Array(0),
  };
  const {
    value: reply,
    socket,
    peer,
  } = await call(
    options.host ?? '127.0.0.1',
    options,
    request,
    (received) => decodeAlive2Reply(received)?.reply,
    true,
  );
  if (reply.result !== EpmdResult.OK) {
    socket.destroy();
    throw new EpmdError('EPMD_DUPLICATE_NAME', `epmd refused to register '${name}': the name is in use`, {
      node: name,
      peer,
    });
  }
  const closed = new Promise<void>((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
  return {
    creation: reply.creation,
    closed,
    // destroy, not end: closing must not wait on an epmd that has stopped answering.
    close: () => {
      socket.destroy();
      return closed;
    },
  };
}

/** Looks `name` up at the epmd on `host`; EPMD_NOT_REGISTERED when it does not know the name. */
export async function epmdPortPlease(
  name: string,
  host: string,
  options: EpmdCallOptions = {},
): Promise<NodeEntry> {
  const { value: reply, peer } = await call(
    host,
    options,
    { type: 'portPlease2', name },
    (received) => decodePort2Reply(received)?.reply,
  );
  if (!reply.found) {
    throw new EpmdError('EPMD_NOT_REGISTERED', `no node '${name}' registered at epmd on ${host}`, {
      node: name,
      peer,
    });
  }
  return reply.entry;
}

/** The names registered at the epmd on `host` (read until epmd closes, as `epmd -names` does). */
export async function epmdNames(
  host: string,
  options: EpmdCallOptions = {},
): Promise<{ epmdPort: number; nodes: { name: string; port: number }[] }> {
  const { value } = await call(host, options, { type: 'names' }, (received, ended) =>
    ended ? decodeNamesReply(received) : undefined,
  );
  return value;
}
