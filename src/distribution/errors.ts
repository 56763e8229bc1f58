/**
 * The distribution layer's own error classes. Each is a {@link DistError} (so an `EidError`):
 * `code` says what failed, the context names the node where one is known, and `reason` is the
 * Erlang term behind it where Erlang has one.
 */
import { DistError, type DistErrorCode, type ErrorContext } from '../errors.ts';
import { formatTerm } from '../etf/format.ts';
import type { Term } from '../etf/terms.ts';

/** A remote call failed the way rpc:call reports `{badrpc, Reason}` (code DIST_BADRPC). */
export class BadRpcError extends DistError {
  constructor(
    readonly reason: Term,
    node: string,
  ) {
    super('DIST_BADRPC', `rpc to ${node} failed: {badrpc,${formatTerm(reason)}}`, { node });
  }
}

/** A gen_server-style call failed: the callee exited, or `timeout`/`noconnection` (DIST_CALL_FAILED). */
export class CallError extends DistError {
  constructor(
    readonly reason: Term,
    message: string,
    context: ErrorContext = {},
  ) {
    super('DIST_CALL_FAILED', message, context);
  }
}

/** Rejects a pending or later `receive` once the process is dead; `reason` is its exit reason. */
export class ProcessExit extends DistError {
  constructor(
    readonly reason: Term,
    context: ErrorContext = {},
  ) {
    super('DIST_PROCESS_EXIT', `process exited: ${formatTerm(reason)}`, context);
  }
}

/** An I/O request an IoServer cannot serve; the requester gets `{error, Reason}` (DIST_IO_REQUEST). */
export class IoRequestError extends DistError {
  constructor(readonly reason: Term) {
    super('DIST_IO_REQUEST', `I/O request failed: {error,${formatTerm(reason)}}`);
  }
}

/** `receive` timed out (`after` clause). */
export class ReceiveTimeout extends DistError {
  constructor(ms: number, context: ErrorContext = {}) {
    super('DIST_RECEIVE_TIMEOUT', `nothing matched within ${ms} ms`, context);
  }
}

/** A failed handshake (codes DIST_HANDSHAKE_*); `send` holds a last status frame for the peer. */
export class HandshakeError extends DistError {
  constructor(
    code: DistErrorCode,
    message: string,
    context: ErrorContext,
    readonly send: Buffer[],
  ) {
    super(code, message, context);
  }
}

/**
 * TLS distribution failed (DIST_TLS_HANDSHAKE) or is misconfigured (DIST_TLS_CONFIG). `reason`
 * names the cause: OpenSSL's or Node's code (CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID,
 * UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_SSL_WRONG_VERSION_NUMBER, ...), NO_PEER_CERT, PEER_CLOSED,
 * TIMEOUT, or the ssl_dist_optfile option refused.
 */
export class TlsError extends DistError {
  constructor(
    code: 'DIST_TLS_CONFIG' | 'DIST_TLS_HANDSHAKE',
    readonly reason: string,
    message: string,
    context: ErrorContext = {},
  ) {
    super(code, message, context);
  }
}

/**
 * A send refused because the connection already holds `limit` bytes not yet handed to the
 * system (docs/node.md, "Backpressure"): wait for the node's `drain` event, or use `sendAsync`.
 */
export class SendQueueFullError extends DistError {
  constructor(
    readonly queuedBytes: number,
    readonly limit: number,
    node: string,
  ) {
    super(
      'DIST_SEND_QUEUE_FULL',
      `${queuedBytes} bytes already wait to go to ${node} (limit ${limit}): wait for 'drain' or use sendAsync`,
      { node },
    );
  }
}
