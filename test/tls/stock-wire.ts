/**
 * Reads a recorded TCP byte stream (test/tls/stock-relay.ts) as TLS records (RFC 5246 6.2, RFC 8446
 * 5.1): the wire check of test/tls/stock.test.ts fails on any byte that is not inside one.
 */

/** ChangeCipherSpec, Alert, Handshake, ApplicationData: the only record types TLS 1.2 and 1.3 send. */
const CONTENT_TYPES = new Set([20, 21, 22, 23]);
const HANDSHAKE = 22;
const APPLICATION_DATA = 23;
/** A record's body is at most 2^14 bytes plus 2048 of encryption overhead (RFC 5246 6.2.3). */
const MAX_RECORD_BODY = 16384 + 2048;

export interface TlsRecords {
  count: number;
  /** Bytes carried in ApplicationData records (encrypted). */
  applicationBytes: number;
  /** The first record's body (a ClientHello or ServerHello handshake message, unencrypted), if any. */
  first: Buffer | undefined;
}

/**
 * Splits `bytes` into TLS records; throws naming `what` and the offset at the first byte that is not
 * a record header (type 20-23, version 3.1-3.3, a possible length) or when the stream ends inside one.
 * An empty stream has no records (a peer that closed before sending).
 */
export function tlsRecords(bytes: Buffer, what: string): TlsRecords {
  let offset = 0;
  let count = 0;
  let applicationBytes = 0;
  let first: Buffer | undefined;
  while (offset < bytes.length) {
    const fail = (why: string) => {
      throw new Error(
        `${what}: not TLS at byte ${offset} (${why}): ${bytes.subarray(offset, offset + 16).toString('hex')}`,
      );
    };
    if (bytes.length - offset < 5) fail('a truncated record header');
    const type = bytes[offset]!;
    const major = bytes[offset + 1]!;
    const minor = bytes[offset + 2]!;
    const length = bytes.readUInt16BE(offset + 3);
    if (!CONTENT_TYPES.has(type)) fail(`content type ${type}`);
    // TLS 1.3 keeps 3.3 on the record layer; a first ClientHello may say 3.1 (RFC 8446 5.1).
    if (major !== 3 || minor < 1 || minor > 3) fail(`record version ${major}.${minor}`);
    if (length === 0 || length > MAX_RECORD_BODY) fail(`record length ${length}`);
    if (bytes.length - offset - 5 < length) fail('the stream ends inside a record');
    first ??= bytes.subarray(offset + 5, offset + 5 + length);
    if (type === APPLICATION_DATA) applicationBytes += length;
    count++;
    offset += 5 + length;
  }
  if (count > 0 && bytes[0] !== HANDSHAKE) throw new Error(`${what}: the first record is not a handshake`);
  return { count, applicationBytes, first };
}

/**
 * The protocol version a ServerHello (the body of the server's first record) selects: its
 * supported_versions extension (TLS 1.3, RFC 8446 4.2.1) if present, else its legacy version.
 * "1.2" or "1.3".
 */
export function serverHelloVersion(body: Buffer): string {
  if (body[0] !== 2) throw new Error(`not a ServerHello: handshake type ${body[0]}`);
  // type(1) length(3) legacy_version(2) random(32) session_id<0..32>
  let at = 4;
  const legacy = body.readUInt16BE(at);
  at += 2 + 32;
  at += 1 + body[at]!;
  at += 2 + 1; // cipher suite, compression method
  if (at < body.length) {
    const end = at + 2 + body.readUInt16BE(at);
    at += 2;
    while (at + 4 <= end) {
      const type = body.readUInt16BE(at);
      const length = body.readUInt16BE(at + 2);
      if (type === 0x002b) return versionName(body.readUInt16BE(at + 4));
      at += 4 + length;
    }
  }
  return versionName(legacy);
}

function versionName(version: number): string {
  return `${(version >> 8) - 2}.${(version & 0xff) - 1}`;
}
