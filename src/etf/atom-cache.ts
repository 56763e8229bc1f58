/**
 * Decoding the same atoms over and over is the common case (record tags, map keys, node names),
 * so atom text is looked up by its bytes in a small fixed-size table before any string is built.
 * The table has a fixed number of slots and only ever replaces entries, so hostile input cannot
 * grow it; atom() interning is bounded in terms.ts.
 */
import { atom, type Atom } from './terms.ts';
import { MAX_ATOM_CHARACTERS } from './tags.ts';

const SLOTS = 4096;
/** 255 characters of at most 4 UTF-8 bytes each (OTP's MAX_ATOM_SZ_LIMIT). */
const MAX_ATOM_UTF8_BYTES = 4 * MAX_ATOM_CHARACTERS;
const slotBytes: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(SLOTS).fill(undefined);
const slotLatin1 = new Uint8Array(SLOTS);
const slotAtom: (Atom | undefined)[] = new Array<Atom | undefined>(SLOTS).fill(undefined);
// ignoreBOM keeps a leading U+FEFF: it is part of the atom's name, not a byte order mark.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const copyBytes = Uint8Array.prototype.slice;
/** Names up to this long are built char by char (cheapest for the short names most atoms have). */
const SHORT_NAME = 16;

/**
 * The atom spelled by `length` bytes at `pos`, or undefined when they are not a valid atom name,
 * judged as binary_to_term and the distribution's atom cache judge it: Latin-1 at most 255 bytes;
 * UTF-8 at most 255 code points of valid UTF-8 (no overlong forms, no surrogates). Any code that
 * turns peer bytes into an atom (the distribution header's new cache entries too) goes through here.
 */
export function decodeAtomBytes(
  buf: Uint8Array,
  pos: number,
  length: number,
  latin1: boolean,
): Atom | undefined {
  // Refused before any work, as OTP's decoded_size does: no valid atom is longer.
  if (length > (latin1 ? MAX_ATOM_CHARACTERS : MAX_ATOM_UTF8_BYTES)) return undefined;
  // FNV-1a over the text, mixed with the encoding (Latin-1 and UTF-8 spell non-ASCII differently).
  let hash = latin1 ? 0x811c9dc5 : 0x050c5d1f;
  let ascii = 0;
  for (let i = 0; i < length; i++) {
    const byte = buf[pos + i]!;
    ascii |= byte;
    hash = Math.imul(hash ^ byte, 0x01000193);
  }
  const slot = (hash ^ (hash >>> 16)) & (SLOTS - 1);
  const known = slotBytes[slot];
  if (known !== undefined && known.length === length && slotLatin1[slot] === (latin1 ? 1 : 0)) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (known[i] !== buf[pos + i]) {
        same = false;
        break;
      }
    }
    if (same) return slotAtom[slot];
  }
  const name = atomName(buf, pos, length, latin1, ascii < 0x80);
  if (name === undefined) return undefined;
  const a = atom(name);
  // A copy: Buffer#slice would be a view, which a caller reusing its input would rewrite under the cache.
  slotBytes[slot] = copyBytes.call(buf, pos, pos + length);
  slotLatin1[slot] = latin1 ? 1 : 0;
  slotAtom[slot] = a;
  return a;
}

function atomName(
  buf: Uint8Array,
  pos: number,
  length: number,
  latin1: boolean,
  ascii: boolean,
): string | undefined {
  if (ascii || latin1) {
    // ASCII and Latin-1 bytes are their own code points.
    if (length > MAX_ATOM_CHARACTERS) return undefined;
    // One call for long names: char by char would leave a garbage string per character.
    if (length > SHORT_NAME) return String.fromCharCode(...buf.subarray(pos, pos + length));
    let name = '';
    for (let i = 0; i < length; i++) name += String.fromCharCode(buf[pos + i]!);
    return name;
  }
  let name: string;
  try {
    name = utf8.decode(buf.subarray(pos, pos + length));
  } catch {
    return undefined;
  }
  let characters = 0;
  for (const _ of name) characters++;
  return characters > MAX_ATOM_CHARACTERS ? undefined : name;
}
