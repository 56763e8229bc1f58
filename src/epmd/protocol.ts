/**
 * The EPMD wire codec: every request and reply OTP uses, with no I/O.
 *
 * Requests travel as `Length:16 Request:Length` (big-endian); replies carry no length, so the
 * reply decoders here are incremental: they return `undefined` until a whole reply is present.
 * Layouts follow OTP's erl_dist_protocol.md and epmd_srv.c (see docs/epmd.md).
 */
import { BytesError, EpmdError } from '../errors.ts';
import { Reader, Writer } from '../bytes.ts';
import type { NodeEntry } from './types.ts';

/** Request and reply tags. */
export const EpmdTag = {
  ALIVE2_REQ: 120,
  ALIVE2_X_RESP: 118,
  ALIVE2_RESP: 121,
  PORT_PLEASE2_REQ: 122,
  PORT2_RESP: 119,
  NAMES_REQ: 110,
  DUMP_REQ: 100,
  KILL_REQ: 107,
  STOP_REQ: 115,
} as const;

/** Node types an ALIVE2_REQ announces. */
export const EpmdNodeType = { NORMAL: 77, HIDDEN: 72 } as const;

/** The `protocol` field: 0 is TCP/IP (the only one OTP uses). */
export const EpmdProtocol = { TCP: 0 } as const;

/** The distribution version OTP 23+ nodes announce; 6 means 4-byte creation (ALIVE2_X_RESP). */
export const EpmdDistVersion = { LOWEST: 5, HIGHEST: 6 } as const;

/** Result byte in ALIVE2 and PORT2 replies. */
export const EpmdResult = { OK: 0, ERROR: 1 } as const;

/** Fixed text replies of KILL_REQ and STOP_REQ. */
export const EpmdKillReply = { OK: 'OK', NO: 'NO' } as const;
export const EpmdStopReply = { STOPPED: 'STOPPED', NOEXIST: 'NOEXIST' } as const;

/** What epmd sends as the creation of a refused registration. */
export const EPMD_REFUSED_CREATION = 99;

export const EpmdLimits = {
  /** Node names are atoms: at most 255 characters, so at most 255*4 bytes of UTF-8. */
  MAX_NAME_CHARS: 255,
  MAX_NAME_BYTES: 255 * 4,
  MAX_EXTRA_BYTES: 255 * 4,
  /** epmd's input buffer is 3*MAXSYMLEN bytes including the 2-byte length, less one. */
  MAX_REQUEST_LENGTH: 3 * 255 * 4 - 3,
} as const;

export interface Alive2Request {
  type: 'alive2';
  port: number;
  nodeType: number;
  protocol: number;
  highestVersion: number;
  lowestVersion: number;
  name: string;
  extra: Uint8Array;
  /** Set when epmd would answer this registration with an error (bad name or extra) rather than close. */
  refusal?: string;
}
export interface PortPlease2Request {
  type: 'portPlease2';
  name: string;
}
export interface NamesRequest {
  type: 'names';
}
export interface DumpRequest {
  type: 'dump';
}
export interface KillRequest {
  type: 'kill';
}
export interface StopRequest {
  type: 'stop';
  name: string;
}
export type EpmdRequest =
  Alive2Request | PortPlease2Request | NamesRequest | DumpRequest | KillRequest | StopRequest;

const malformed = (message: string, offset: number, expected?: string) =>
  new EpmdError('EPMD_MALFORMED', `malformed EPMD message: ${message} at offset ${offset}`, {
    offset,
    ...(expected === undefined ? {} : { expected }),
  });

/** Runs a decode step, turning the Reader's truncation errors into EPMD_MALFORMED. */
function decoding<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BytesError) {
      throw new EpmdError('EPMD_MALFORMED', `malformed EPMD message: ${err.message}`, {
        offset: err.offset ?? 0,
        ...(err.expected === undefined ? {} : { expected: err.expected }),
        cause: err,
      });
    }
    throw err;
  }
}

// ignoreBOM keeps a leading U+FEFF: it is a character of the name, counted like any other.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Number of characters in strict UTF-8 `bytes`, or -1 when it is not valid UTF-8 (as epmd checks). */
function utf8Chars(bytes: Uint8Array): number {
  let ascii = true;
  for (const b of bytes) if (b >= 0x80) ascii = false;
  if (ascii) return bytes.length;
  try {
    let n = 0;
    for (const _ of utf8.decode(bytes)) n++;
    return n;
  } catch {
    return -1;
  }
}

/**
 * Checks a looked-up name the way epmd's PORT2_REQ does: no NUL, valid UTF-8, 1 to 254 characters
 * (epmd counts the terminating NUL against its 255 limit).
 */
function checkLookupName(bytes: Uint8Array, offset: number): string {
  if (bytes.includes(0)) throw malformed('node name contains NUL', offset, 'node name');
  const chars = utf8Chars(bytes);
  if (chars < 1 || chars + 1 > EpmdLimits.MAX_NAME_CHARS) {
    throw malformed('node name is empty, too long or not UTF-8', offset, 'node name');
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
}

const U8_MAX = 0xff;
const U16_MAX = 0xffff;

/** An integer field checked against its wire size: the Writer would wrap or cut anything else. */
function field(value: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new EpmdError('EPMD_INVALID', `${what} must be an integer in 0..${max}, got ${value}`);
  }
  return value;
}

function tooLong(what: string, bytes: number, limit: number): EpmdError {
  return new EpmdError('EPMD_TOO_LONG', `${what} of ${bytes} bytes exceeds the limit of ${limit}`);
}

/** ALIVE2_REQ and PORT2_RESP describe a node in the same layout after their first bytes. */
function writeNode(w: Writer, node: NodeEntry): void {
  w.u16(field(node.port, U16_MAX, 'port'));
  w.u8(field(node.nodeType, U8_MAX, 'node type'));
  w.u8(field(node.protocol, U8_MAX, 'protocol'));
  w.u16(field(node.highestVersion, U16_MAX, 'highest version'));
  w.u16(field(node.lowestVersion, U16_MAX, 'lowest version'));
  const nameAt = w.reserveLength(2);
  const nameLength = w.utf8(node.name);
  if (nameLength > U16_MAX) throw tooLong('node name', nameLength, U16_MAX);
  w.fillLength(nameAt, 2);
  if (node.extra.length > U16_MAX) throw tooLong('extra', node.extra.length, U16_MAX);
  w.u16(node.extra.length);
  w.bytes(node.extra);
}

/** The fields {@link writeNode} writes before the extra; the name as a view of the input. */
function readNodeHead(r: Reader): {
  fixed: Omit<NodeEntry, 'name' | 'extra'>;
  nameAt: number;
  nameBytes: Uint8Array;
} {
  const port = r.u16('port');
  const nodeType = r.u8('node type');
  const protocol = r.u8('protocol');
  const highestVersion = r.u16('highest version');
  const lowestVersion = r.u16('lowest version');
  const nameLength = r.u16('name length');
  const nameAt = r.offset;
  const nameBytes = r.bytes(nameLength, 'node name');
  return { fixed: { port, nodeType, protocol, highestVersion, lowestVersion }, nameAt, nameBytes };
}

/** The extra field that ends the layout, copied: the input belongs to the connection. */
function readExtra(r: Reader): Uint8Array {
  const length = r.u16('extra length');
  return Uint8Array.from(r.bytes(length, 'extra'));
}

/** An ALIVE2_REQ body's fixed fields: tag, port, type, protocol, versions, name and extra lengths. */
const ALIVE2_FIXED_BYTES = 13;

// ---------------------------------------------------------------------------------------------
// Requests

/** Encodes a request with its 2-byte length prefix. */
export function encodeRequest(req: EpmdRequest): Buffer {
  const w = new Writer(64);
  const at = w.reserveLength(2);
  switch (req.type) {
    case 'alive2':
      w.u8(EpmdTag.ALIVE2_REQ);
      writeNode(w, req);
      break;
    case 'portPlease2':
      w.u8(EpmdTag.PORT_PLEASE2_REQ);
      w.utf8(req.name);
      break;
    case 'names':
      w.u8(EpmdTag.NAMES_REQ);
      break;
    case 'dump':
      w.u8(EpmdTag.DUMP_REQ);
      break;
    case 'kill':
      w.u8(EpmdTag.KILL_REQ);
      break;
    case 'stop':
      w.u8(EpmdTag.STOP_REQ);
      w.utf8(req.name);
      break;
  }
  // Checked before the length is filled in: a body past 64 KiB would not fit the 2-byte prefix.
  const length = w.offset - 2;
  if (length > EpmdLimits.MAX_REQUEST_LENGTH) {
    throw tooLong('EPMD request', length, EpmdLimits.MAX_REQUEST_LENGTH);
  }
  w.fillLength(at, 2);
  return w.toBuffer();
}

/**
 * Decodes one request body (without its length prefix). Applies epmd's checks; anything epmd
 * would ignore (and then close the connection) throws EpmdError EPMD_MALFORMED.
 */
export function decodeRequest(body: Uint8Array): EpmdRequest {
  return decoding(() => {
    const r = new Reader(body);
    const tag = r.u8('request tag');
    switch (tag) {
      case EpmdTag.ALIVE2_REQ: {
        // epmd ignores (and closes) an ALIVE2_REQ shorter than the fixed fields plus one name byte.
        if (body.length <= ALIVE2_FIXED_BYTES) {
          throw malformed(`ALIVE2_REQ of ${body.length} bytes`, 0, 'ALIVE2_REQ body');
        }
        const { fixed, nameAt, nameBytes } = readNodeHead(r);
        if (nameBytes.includes(0)) throw malformed('node name contains NUL', nameAt, 'node name');
        const extra = readExtra(r);
        const chars = utf8Chars(nameBytes);
        const refusal =
          chars < 1 || chars > EpmdLimits.MAX_NAME_CHARS || nameBytes.length > EpmdLimits.MAX_NAME_BYTES
            ? 'node name is empty, too long or not UTF-8'
            : extra.length > EpmdLimits.MAX_EXTRA_BYTES
              ? `extra of ${extra.length} bytes is too long`
              : undefined;
        const name = Buffer.from(nameBytes).toString('utf8');
        const req: Alive2Request = { type: 'alive2', ...fixed, name, extra };
        if (refusal !== undefined) req.refusal = refusal;
        return req;
      }
      case EpmdTag.PORT_PLEASE2_REQ: {
        // epmd tolerates one trailing NUL (old clients sent C strings).
        const end = body[body.length - 1] === 0 ? body.length - 1 : body.length;
        return { type: 'portPlease2', name: checkLookupName(body.subarray(1, end), 1) };
      }
      case EpmdTag.NAMES_REQ:
        return { type: 'names' };
      case EpmdTag.DUMP_REQ:
        return { type: 'dump' };
      case EpmdTag.KILL_REQ:
        return { type: 'kill' };
      case EpmdTag.STOP_REQ: {
        if (body.length < 2) throw malformed('STOP_REQ without a name', 1, 'node name');
        // epmd compares up to the first NUL.
        const nul = body.indexOf(0, 1);
        const bytes = body.subarray(1, nul === -1 ? body.length : nul);
        return { type: 'stop', name: Buffer.from(bytes).toString('utf8') };
      }
      default:
        throw malformed(`unknown request tag ${tag}`, 0, 'request tag');
    }
  });
}

/**
 * Splits a byte stream into request bodies. Keeps leftover bytes, passes on only whole requests and
 * checks each declared length against `maxRequestLength` before buffering anything for it.
 */
export class RequestFramer {
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes received so far in total (for error offsets). */
  private consumed = 0;

  constructor(readonly maxRequestLength: number = EpmdLimits.MAX_REQUEST_LENGTH) {}

  /** Bytes received that are not part of a whole request yet. */
  get buffered(): number {
    return this.pending.length;
  }

  /** Adds bytes; returns the whole request bodies now available (views into a private buffer). */
  push(chunk: Uint8Array): Buffer[] {
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const frames: Buffer[] = [];
    let at = 0;
    while (this.pending.length - at >= 2) {
      const length = this.pending.readUInt16BE(at);
      if (length < 1 || length > this.maxRequestLength) {
        throw new EpmdError('EPMD_MALFORMED', `malformed EPMD message: request length ${length}`, {
          offset: this.consumed + at,
          expected: `request length 1..${this.maxRequestLength}`,
        });
      }
      if (this.pending.length - at - 2 < length) break;
      frames.push(this.pending.subarray(at + 2, at + 2 + length));
      at += 2 + length;
    }
    this.consumed += at;
    this.pending = this.pending.subarray(at);
    return frames;
  }
}

// ---------------------------------------------------------------------------------------------
// Replies

export interface Alive2Reply {
  result: number;
  creation: number;
  /** ALIVE2_X_RESP (4-byte creation) rather than ALIVE2_RESP (2-byte creation). */
  extended: boolean;
}

export function encodeAlive2Reply(reply: Alive2Reply): Buffer {
  const w = new Writer(8);
  w.u8(reply.extended ? EpmdTag.ALIVE2_X_RESP : EpmdTag.ALIVE2_RESP);
  w.u8(reply.result);
  if (reply.extended) w.u32(reply.creation);
  else w.u16(reply.creation);
  return w.toBuffer();
}

/** Decodes an ALIVE2_X_RESP or ALIVE2_RESP; `undefined` while incomplete. */
export function decodeAlive2Reply(buf: Uint8Array): { reply: Alive2Reply; length: number } | undefined {
  if (buf.length < 1) return undefined;
  const tag = buf[0];
  if (tag !== EpmdTag.ALIVE2_X_RESP && tag !== EpmdTag.ALIVE2_RESP) {
    throw malformed(`unexpected reply tag ${tag} to ALIVE2_REQ`, 0, 'ALIVE2_X_RESP or ALIVE2_RESP');
  }
  const extended = tag === EpmdTag.ALIVE2_X_RESP;
  // Tag and result, then a 32-bit (ALIVE2_X_RESP) or 16-bit creation.
  const length = 2 + (extended ? 4 : 2);
  if (buf.length < length) return undefined;
  const r = new Reader(buf);
  r.u8();
  const result = r.u8();
  const creation = extended ? r.u32() : r.u16();
  return { reply: { result, creation, extended }, length };
}

/** PORT2_RESP: a NodeEntry when found, `undefined` for "not registered". */
export function encodePort2Reply(entry: NodeEntry | undefined): Buffer {
  const w = new Writer(32);
  w.u8(EpmdTag.PORT2_RESP);
  if (entry === undefined) {
    w.u8(EpmdResult.ERROR);
    return w.toBuffer();
  }
  w.u8(EpmdResult.OK);
  writeNode(w, entry);
  return w.toBuffer();
}

export type Port2Reply = { found: true; entry: NodeEntry } | { found: false; result: number };

/** Decodes a PORT2_RESP; `undefined` while incomplete. */
export function decodePort2Reply(buf: Uint8Array): { reply: Port2Reply; length: number } | undefined {
  if (buf.length < 2) return undefined;
  if (buf[0] !== EpmdTag.PORT2_RESP) {
    throw malformed(`unexpected reply tag ${buf[0]} to PORT_PLEASE2_REQ`, 0, 'PORT2_RESP');
  }
  const result = buf[1]!;
  if (result !== EpmdResult.OK) return { reply: { found: false, result }, length: 2 };
  try {
    return decoding(() => {
      const r = new Reader(buf, 2);
      const { fixed, nameBytes } = readNodeHead(r);
      const name = Buffer.from(nameBytes).toString('utf8');
      const entry: NodeEntry = { name, ...fixed, extra: readExtra(r) };
      return { reply: { found: true as const, entry }, length: r.offset };
    });
  } catch (err) {
    // Truncated means "wait for more": replies have no length prefix.
    if (err instanceof EpmdError && err.code === 'EPMD_MALFORMED') return undefined;
    throw err;
  }
}

/** The 4-byte epmd port that starts NAMES and DUMP replies. */
export function encodePortPrefix(epmdPort: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(epmdPort, 0);
  return b;
}

/** One line of a NAMES reply, exactly as epmd (and erl_epmd's parser) spells it. */
export function namesLine(name: string, port: number): string {
  return `name ${name} at port ${port}\n`;
}

/** One DUMP line; epmd writes each followed by a NUL byte. */
export function dumpLine(state: 'active' | 'old', name: string, port: number, fd: number): string {
  return state === 'active'
    ? `active name     <${name}> at port ${port}, fd = ${fd}\n\0`
    : `old/unused name <${name}>, port = ${port}, fd = ${fd} \n\0`;
}

export function encodeNamesReply(epmdPort: number, nodes: Iterable<{ name: string; port: number }>): Buffer {
  let text = '';
  for (const n of nodes) text += namesLine(n.name, n.port);
  return Buffer.concat([encodePortPrefix(epmdPort), Buffer.from(text, 'utf8')]);
}

/** Decodes a complete NAMES reply (the connection closed after it). */
export function decodeNamesReply(buf: Uint8Array): {
  epmdPort: number;
  nodes: { name: string; port: number }[];
} {
  if (buf.length < 4) throw malformed(`NAMES reply of ${buf.length} bytes`, 0, 'epmd port');
  const epmdPort = new Reader(buf).u32('epmd port');
  const text = Buffer.from(buf.subarray(4)).toString('utf8');
  const nodes: { name: string; port: number }[] = [];
  let offset = 4;
  for (const line of text.split('\n')) {
    if (line !== '') {
      const m = /^name (.+) at port (\d+)$/.exec(line);
      if (m === null)
        throw malformed(`unexpected NAMES line ${JSON.stringify(line)}`, offset, 'name N at port P');
      nodes.push({ name: m[1]!, port: Number(m[2]) });
    }
    offset += Buffer.byteLength(line) + 1;
  }
  return { epmdPort, nodes };
}
