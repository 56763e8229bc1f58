/**
 * One typed error hierarchy for every layer. Each error names what failed in `code`
 * and carries the context needed to act on it (byte offset, peer, node name).
 */

export interface ErrorContext {
  /** Byte offset in the input where decoding failed. */
  offset?: number;
  /** What the decoder expected to find there. */
  expected?: string;
  /** Remote address as `host:port`. */
  peer?: string;
  /** Erlang node name involved. */
  node?: string;
  /** Underlying error, when this wraps one. */
  cause?: unknown;
}

export class EidError extends Error {
  readonly code: string;
  readonly offset: number | undefined;
  readonly expected: string | undefined;
  readonly peer: string | undefined;
  readonly node: string | undefined;

  constructor(code: string, message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = new.target.name;
    this.code = code;
    this.offset = context.offset;
    this.expected = context.expected;
    this.peer = context.peer;
    this.node = context.node;
  }
}

/** Bytes that are not a valid External Term Format term. */
export class DecodeError extends EidError {
  constructor(message: string, context: ErrorContext & { offset: number }) {
    super('ETF_DECODE', `${message} at offset ${context.offset}`, context);
  }
}

/** A JavaScript value that has no External Term Format encoding. */
export class EncodeError extends EidError {
  constructor(message: string, context: ErrorContext = {}) {
    super('ETF_ENCODE', message, context);
  }
}

/** EPMD failures: `code` says which (EPMD_UNREACHABLE, EPMD_REFUSED, EPMD_NOT_REGISTERED, ...). */
export class EpmdError extends EidError {}

/** Docker Engine failures (unreachable, API error, bad name). */
export class DockerError extends EidError {}

/** Distribution failures: handshake, framing, control messages, remote calls. */
export class DistError extends EidError {}
