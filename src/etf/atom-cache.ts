/**
 * Decoding the same atoms over and over is the common case (record tags, map keys, node names),
 * so atom text is looked up by its bytes in a small fixed-size table before any string is built.
 * The table has a fixed number of slots and only ever replaces entries, so hostile input cannot
 * grow it; atom() interning is bounded in terms.ts.
 */
import { atom, type Atom } from './terms.ts';
import { MAX_ATOM_CHARACTERS } from './tags.ts';

const SLOTS = 4096;
const slotBytes: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(SLOTS).fill(undefined);
const slotLatin1 = new Uint8Array(SLOTS);
const slotAtom: (Atom | undefined)[] = new Array<Atom | undefined>(SLOTS).fill(undefined);
// ignoreBOM keeps a leading U+FEFF: it is part of the atom's name, not a byte order mark.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const copyBytes = Uint8Array.prototype.slice;

/** The atom spelled by `length` bytes at `pos`, or undefined when they are not a valid atom name. */
export function decodeAtomBytes(
  buf: Uint8Array,
  pos: number,
  length: number,
  latin1: boolean,
): Atom | undefined {
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
