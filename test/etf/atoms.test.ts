/**
 * Issue 9 item 5: atoms from peers. Atom text is judged exactly as OTP 25's binary_to_term and
 * atom cache judge it, and the intern table is bounded in bytes, not only in names. This file
 * fills the (process-wide) intern table, so it runs in a process of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { atom, decode, DecodeError, Tag, termEquals, type Atom } from '../../src/index.ts';
import { decodeAtomBytes } from '../../src/etf/atom-cache.ts';
import { someAtomsUninterned } from '../../src/etf/terms.ts';

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');
const asUtf8Atom = (bytes: Uint8Array): Atom | undefined => decodeAtomBytes(bytes, 0, bytes.length, false);
const asLatin1Atom = (bytes: Uint8Array): Atom | undefined => decodeAtomBytes(bytes, 0, bytes.length, true);

/** ATOM_UTF8_EXT or ATOM_EXT (Latin-1) of `text`, after the version byte. */
function atomTerm(text: Uint8Array, latin1 = false): Buffer {
  const tag = latin1 ? Tag.Atom : Tag.AtomUtf8;
  return Buffer.concat([Buffer.from([Tag.Version, tag, text.length >> 8, text.length & 0xff]), text]);
}

test('atom text: the cases OTP 25 binary_to_term accepts and refuses (docs/etf.md)', () => {
  // Accepted, in both the decoder and the helper the distribution header's cache entries go through.
  const accepted: [string, Buffer, boolean][] = [
    ['255 ASCII characters', utf8('a'.repeat(255)), false],
    ['255 × ä (510 bytes)', utf8('ä'.repeat(255)), false],
    ['255 4-byte characters', utf8('😀'.repeat(255)), false],
    ['NUL', Buffer.from([0]), false],
    ['Latin-1, 255 bytes', Buffer.alloc(255, 0x61), true],
    ['Latin-1 bytes >= 0x80', Buffer.from([0xe4, 0xff]), true],
  ];
  for (const [what, bytes, latin1] of accepted) {
    const viaHelper = latin1 ? asLatin1Atom(bytes) : asUtf8Atom(bytes);
    assert.ok(viaHelper !== undefined, what);
    assert.equal(decode(atomTerm(bytes, latin1)), viaHelper, what);
  }
  // Latin-1 ä and UTF-8 ä are one atom, as in OTP.
  assert.equal(asLatin1Atom(Buffer.from([0xe4])), asUtf8Atom(utf8('ä')));

  const refused: [string, Buffer, boolean][] = [
    ['256 ASCII characters', utf8('a'.repeat(256)), false],
    ['256 × ä', utf8('ä'.repeat(256)), false],
    ['300 characters (a cache entry that crashed reply encoding)', utf8('m'.repeat(300)), false],
    ['65,535 bytes (the largest LongAtoms cache entry)', Buffer.alloc(65_535, 0x61), false],
    ['<<255>>', Buffer.from([0xff]), false],
    ['overlong C0 80', Buffer.from([0xc0, 0x80]), false],
    ['surrogate ED A0 80', Buffer.from([0xed, 0xa0, 0x80]), false],
    ['truncated E4 B8', Buffer.from([0xe4, 0xb8]), false],
    ['Latin-1, 256 bytes', Buffer.alloc(256, 0x61), true],
  ];
  for (const [what, bytes, latin1] of refused) {
    assert.equal(latin1 ? asLatin1Atom(bytes) : asUtf8Atom(bytes), undefined, what);
    assert.throws(() => decode(atomTerm(bytes, latin1)), DecodeError, what);
  }
});

test('the intern table is bounded in bytes: long atoms from peers stop being interned, and stay correct', () => {
  const early = decode(atomTerm(utf8('interned_before_the_flood')));
  assert.equal(early, atom('interned_before_the_flood'));
  assert.equal(someAtomsUninterned(), false);

  // 20,000 distinct 255-character atoms: about 12 MiB as the table counts them, far under its
  // 65,536 names. Before the byte bound every one of them was pinned for the life of the process.
  for (let i = 0; i < 20_000; i++) decode(atomTerm(utf8('x'.repeat(250) + String(i).padStart(5, '0'))));
  assert.equal(someAtomsUninterned(), true);

  const name = 'y'.repeat(255);
  const fresh = decode(atomTerm(utf8(name))) as Atom;
  assert.notEqual(fresh, atom(name), 'not interned: `===` no longer holds');
  assert.ok(termEquals(fresh, atom(name)), 'but it is the same atom');
  assert.equal(fresh.name, name);
  // Atoms interned before the table filled keep their identity.
  assert.equal(decode(atomTerm(utf8('interned_before_the_flood'))), early);
  assert.equal(atom('ok'), atom('ok'));

  // Two fresh instances of one atom are still one map key: written once in Latin-1 and once in UTF-8.
  const zName = Buffer.alloc(200, 0x7a);
  const map = Buffer.concat([
    Buffer.from([Tag.Version, Tag.Map, 0, 0, 0, 2]),
    atomTerm(zName, true).subarray(1),
    Buffer.from([Tag.SmallInteger, 1]),
    atomTerm(zName).subarray(1),
    Buffer.from([Tag.SmallInteger, 2]),
  ]);
  assert.throws(
    () => decode(map),
    (err: unknown) => err instanceof DecodeError && /duplicate map key/.test(err.message),
  );
  const distinct = Buffer.from(map);
  distinct[distinct.length - 4] = 0x79;
  assert.equal((decode(distinct) as Map<unknown, unknown>).size, 2);
});
