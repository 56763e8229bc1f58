/**
 * One typed error hierarchy for every layer. Each error names what failed in `code` (one of
 * {@link ErrorCode}) and carries the context needed to act on it (byte offset, peer, node name).
 * The errors that carry an Erlang term (BadRpcError, CallError, ProcessExit, ...) live in the
 * distribution layer, which owns terms-over-the-wire, and extend {@link DistError}.
 */

/** Reader/Writer (src/bytes.ts): the layers above turn these into their own codes. */
export type BytesErrorCode = 'BYTES_TRUNCATED' | 'BYTES_INVALID' | 'BYTES_SPLICED_VIEW';

/** The External Term Format codec. */
export type EtfErrorCode = 'ETF_DECODE' | 'ETF_ENCODE' | 'ETF_LITERAL' | 'ETF_MISMATCH';

/** EPMD client, server and wire codec (docs/epmd.md lists when each is used). */
export type EpmdErrorCode =
  | 'EPMD_ADDRESS_IN_USE'
  | 'EPMD_CLOSED'
  | 'EPMD_CONFIG'
  | 'EPMD_CONNECTION'
  | 'EPMD_DUPLICATE_NAME'
  | 'EPMD_INVALID'
  | 'EPMD_LISTEN'
  | 'EPMD_MALFORMED'
  | 'EPMD_NOT_REGISTERED'
  | 'EPMD_REFUSED'
  | 'EPMD_STATE'
  | 'EPMD_TIMEOUT'
  | 'EPMD_TOO_LONG'
  | 'EPMD_UNREACHABLE';

/** The Docker Engine client, the container catalog and the Docker resolver. */
export type DockerErrorCode =
  | 'DOCKER_API'
  | 'DOCKER_API_VERSION'
  | 'DOCKER_BAD_ENDPOINT'
  | 'DOCKER_BAD_NAME'
  | 'DOCKER_BAD_REPLY'
  | 'DOCKER_EVENT_TOO_LONG'
  | 'DOCKER_NO_CONTAINER'
  | 'DOCKER_NO_PORT'
  | 'DOCKER_STREAM_ENDED'
  | 'DOCKER_TIMEOUT'
  | 'DOCKER_TLS'
  | 'DOCKER_UNREACHABLE';

/** Distribution: handshake, framing, control messages, processes, remote calls (docs/node.md). */
export type DistErrorCode =
  | 'DIST_BADARG'
  | 'DIST_BADRPC'
  | 'DIST_BAD_CONTROL'
  | 'DIST_BAD_MESSAGE'
  | 'DIST_BAD_NODE_NAME'
  | 'DIST_BAD_SIGNAL'
  | 'DIST_CALL_FAILED'
  | 'DIST_CONNECTION_CLOSED'
  | 'DIST_CONNECT_FAILED'
  | 'DIST_CONNECT_TIMEOUT'
  | 'DIST_FRAGMENT_LIMIT'
  | 'DIST_FRAGMENT_ORDER'
  | 'DIST_FRAME_TOO_LARGE'
  | 'DIST_HANDSHAKE_BAD_COOKIE'
  | 'DIST_HANDSHAKE_CLOSED'
  | 'DIST_HANDSHAKE_FLAGS'
  | 'DIST_HANDSHAKE_NOK'
  | 'DIST_HANDSHAKE_NOT_ALLOWED'
  | 'DIST_HANDSHAKE_PROTOCOL'
  | 'DIST_HANDSHAKE_REJECTED'
  | 'DIST_HANDSHAKE_STATE'
  | 'DIST_HANDSHAKE_TIMEOUT'
  | 'DIST_HANDSHAKE_WRONG_NODE'
  | 'DIST_INBOUND_LIMIT'
  | 'DIST_INTERNAL'
  | 'DIST_IO_REQUEST'
  | 'DIST_NAME_TAKEN'
  | 'DIST_NOPROC'
  | 'DIST_PROCESS_EXIT'
  | 'DIST_RECEIVE_BUSY'
  | 'DIST_RECEIVE_TIMEOUT'
  | 'DIST_RESOLVE'
  | 'DIST_SEND_QUEUE_FULL'
  | 'DIST_STOPPED'
  | 'DIST_TICK_TIMEOUT'
  | 'DIST_TLS_CONFIG'
  | 'DIST_TLS_HANDSHAKE'
  | 'DIST_UNKNOWN_NODE';

/** Command-line and daemon settings: a bad flag or value, a result that cannot be printed. */
export type CliErrorCode = 'CLI_USAGE';

/** Self-forming clusters (docs/clusters.md): their configuration, cookie files, the membership endpoint. */
export type ClusterErrorCode = 'CLUSTER_CONFIG' | 'CLUSTER_COOKIE' | 'CLUSTER_MEMBERSHIP';

/** Every code an {@link EidError} can have. */
export type ErrorCode =
  | BytesErrorCode
  | EtfErrorCode
  | EpmdErrorCode
  | DockerErrorCode
  | DistErrorCode
  | ClusterErrorCode
  | CliErrorCode;

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
  readonly code: ErrorCode;
  readonly offset: number | undefined;
  readonly expected: string | undefined;
  readonly peer: string | undefined;
  readonly node: string | undefined;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = new.target.name;
    this.code = code;
    this.offset = context.offset;
    this.expected = context.expected;
    this.peer = context.peer;
    this.node = context.node;
  }
}

/** Bytes shorter than their layout, or a field it forbids; a misused Writer. */
export class BytesError extends EidError {
  declare readonly code: BytesErrorCode;

  constructor(code: BytesErrorCode, message: string, context: ErrorContext = {}) {
    super(code, context.offset === undefined ? message : `${message} at offset ${context.offset}`, context);
  }
}

/** Bytes that are not a valid External Term Format term. */
export class DecodeError extends EidError {
  declare readonly code: 'ETF_DECODE';

  constructor(message: string, context: ErrorContext & { offset: number }) {
    super('ETF_DECODE', `${message} at offset ${context.offset}`, context);
  }
}

/** A JavaScript value that has no External Term Format encoding. */
export class EncodeError extends EidError {
  declare readonly code: 'ETF_ENCODE';

  constructor(message: string, context: ErrorContext = {}) {
    super('ETF_ENCODE', message, context);
  }
}

/** Text that is not an Erlang literal term (an `eid rpc` argument, a file of terms). */
export class LiteralError extends EidError {
  declare readonly code: 'ETF_LITERAL';

  constructor(message: string, context: ErrorContext = {}) {
    super('ETF_LITERAL', message, context);
  }
}

/** A term that is not of the shape a check (`check`, src/etf/guard.ts) asked for. */
export class TermMismatchError extends EidError {
  declare readonly code: 'ETF_MISMATCH';
  /** The value that did not match. */
  readonly value: unknown;

  constructor(message: string, value: unknown, context: ErrorContext = {}) {
    super('ETF_MISMATCH', message, context);
    this.value = value;
  }
}

/** EPMD failures: `code` says which (EPMD_UNREACHABLE, EPMD_REFUSED, EPMD_NOT_REGISTERED, ...). */
export class EpmdError extends EidError {
  declare readonly code: EpmdErrorCode;

  constructor(code: EpmdErrorCode, message: string, context: ErrorContext = {}) {
    super(code, message, context);
  }
}

/** Docker Engine failures (unreachable, API error, bad name). */
export class DockerError extends EidError {
  declare readonly code: DockerErrorCode;

  constructor(code: DockerErrorCode, message: string, context: ErrorContext = {}) {
    super(code, message, context);
  }
}

/** Distribution failures: handshake, framing, control messages, remote calls. */
export class DistError extends EidError {
  declare readonly code: DistErrorCode;

  constructor(code: DistErrorCode, message: string, context: ErrorContext = {}) {
    super(code, message, context);
  }
}

/** Self-forming clusters: a bad clusters file or cookie file, a membership reply refused. */
export class ClusterError extends EidError {
  declare readonly code: ClusterErrorCode;

  constructor(code: ClusterErrorCode, message: string, context: ErrorContext = {}) {
    super(code, message, context);
  }
}
