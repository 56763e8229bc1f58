/**
 * Issue 9 item 4: what one message can cost in memory. `[]` is one shared array, and every decode
 * is charged against a budget (docs/etf.md, "Decode budget") that a message cannot overrun.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import {
  atom,
  decode,
  decodeFrom,
  DecodeError,
  encode,
  ImproperList,
  Pid,
  Reader,
  Tag,
  termEquals,
  compareTerms,
  type Term,
} from '../../src/index.ts';
import { Cost, TERM_COST_ALLOWANCE, TERM_COST_PER_INPUT_BYTE } from '../../src/etf/budget.ts';

/** LIST_EXT of `count` copies of `element`, NIL tail, after the version byte. */
function listOf(count: number, element: readonly number[]): Buffer {
  const out = Buffer.alloc(1 + 5 + count * element.length + 1);
  out[0] = Tag.Version;
  out[1] = Tag.List;
  out.writeUInt32BE(count, 2);
  for (let i = 0; i < count; i++) out.set(element, 6 + i * element.length);
  out[out.length - 1] = Tag.Nil;
  return out;
}

const EMPTY_MAP = [Tag.Map, 0, 0, 0, 0];

/** Cost units a decode of `bytes` spends, read from a budget large enough for anything. */
function spent(bytes: Uint8Array): number {
  const budget = { remaining: Number.MAX_SAFE_INTEGER };
  decode(bytes, { budget });
  return Number.MAX_SAFE_INTEGER - budget.remaining;
}

function budgetError(bytes: Uint8Array, budget?: { remaining: number }): DecodeError {
  try {
    decode(bytes, budget === undefined ? undefined : { budget });
  } catch (err) {
    assert.ok(err instanceof DecodeError, String(err));
    assert.equal(err.code, 'ETF_DECODE');
    assert.equal(err.expected, 'a term within the decode budget');
    return err;
  }
  assert.fail('decode stayed within the budget');
}

test('every decoded [] is one shared, frozen array: a list of NILs costs a slot per byte, not an array', () => {
  const count = 100_000;
  const bytes = listOf(count, [Tag.Nil]);
  const list = decode(bytes) as Term[];
  assert.equal(list.length, count);
  assert.ok(list[0] === list[count - 1], 'each NIL is the same array');
  assert.ok(Object.isFrozen(list[0]));
  assert.throws(() => (list[0] as Term[]).push(1), TypeError);
  // The expansion the budget accounts: 8 units (one pointer) per input byte. Before the fix each
  // NIL was a new empty array too, 8 + 32 = 40 units per byte (34-42x in measured heap).
  const units = spent(bytes);
  assert.equal(units, Cost.ARRAY + Cost.SLOT * count);
  assert.ok(units / bytes.length <= Cost.SLOT, `expansion ${units / bytes.length} per byte`);
});

test('[] keeps its meaning: nil, the empty charlist, the proper tail, and encodes back as NIL_EXT', () => {
  const nil = decode(Buffer.from([Tag.Version, Tag.Nil])) as Term[];
  const emptyString = decode(Buffer.from([Tag.Version, Tag.String, 0, 0])) as Term[];
  const emptyList = decode(Buffer.from([Tag.Version, Tag.List, 0, 0, 0, 0, Tag.Nil])) as Term[];
  assert.ok(nil === emptyString && nil === emptyList, 'STRING_EXT and LIST_EXT of nothing are [] too');
  assert.deepStrictEqual(nil, []);
  assert.ok(termEquals(nil, []));
  assert.equal(compareTerms(nil, []), 0);
  assert.deepStrictEqual(encode(nil), Buffer.from([Tag.Version, Tag.Nil]));
  // A decoded [] as the tail of a list built in JS still makes it proper.
  assert.deepStrictEqual(encode(new ImproperList([1, 2], nil)), encode([1, 2]));
  const improper = decode(encode(new ImproperList([1], 2))) as ImproperList;
  assert.ok(improper instanceof ImproperList);
  assert.deepStrictEqual(improper.elements, [1]);
  assert.equal(improper.tail, 2);
  // A charlist decodes to a fresh array of its own, which the caller may change.
  const charlist = decode(encode([104, 105])) as number[];
  charlist.push(33);
  assert.deepStrictEqual(decode(encode([104, 105])), [104, 105]);
});

test('the default budget stops a message whose objects cost far more than its bytes', () => {
  // An empty map costs 8 + 192 units for 5 bytes: 40 per byte, over the default 32 per byte.
  const count = 100_000;
  const bytes = listOf(count, EMPTY_MAP);
  const units = Cost.ARRAY + count * (Cost.SLOT + Cost.MAP);
  assert.ok(units > TERM_COST_PER_INPUT_BYTE * bytes.length + TERM_COST_ALLOWANCE);
  const err = budgetError(bytes);
  // It names where the term that did not fit begins: one of the maps.
  assert.ok(err.offset !== undefined && err.offset > 6 && err.offset < bytes.length, String(err.offset));
  assert.equal(bytes[err.offset], Tag.Map);
  // The allowance lets small messages of that shape through.
  const small = listOf(4000, EMPTY_MAP);
  assert.equal((decode(small) as Term[]).length, 4000);
  assert.equal(spent(small), Cost.ARRAY + 4000 * (Cost.SLOT + Cost.MAP));
});

test('a list or tuple is paid for from its header, before its elements are decoded', () => {
  const bytes = listOf(100_000, [Tag.SmallInteger, 7]);
  const err = budgetError(bytes, { remaining: 1000 });
  assert.equal(err.offset, 1);
  const tuple = Buffer.alloc(1 + 5 + 100_000, Tag.Nil);
  tuple[0] = Tag.Version;
  tuple[1] = Tag.LargeTuple;
  tuple.writeUInt32BE(100_000, 2);
  assert.equal(budgetError(tuple, { remaining: 1000 }).offset, 1);
  assert.equal(spent(tuple), Cost.TUPLE + Cost.SLOT * 100_000);
});

test('one budget given to several decodeFrom calls bounds all their terms together', () => {
  const one = encode(
    Array.from({ length: 1000 }, (_, i) => i),
    { versionByte: false },
  );
  const cost = Cost.ARRAY + Cost.SLOT * 1000;
  const frame = Buffer.concat([one, one]);
  const budget = { remaining: cost * 2 };
  const reader = new Reader(frame);
  decodeFrom(reader, { budget });
  decodeFrom(reader, { budget });
  assert.equal(budget.remaining, 0);
  const tight = { remaining: cost * 2 - 1 };
  const again = new Reader(frame);
  decodeFrom(again, { budget: tight });
  assert.throws(() => decodeFrom(again, { budget: tight }), DecodeError);
});

test('COMPRESSED_EXT: a default budget grows with the uncompressed bytes, a given one does not', () => {
  const plain = listOf(1_000_000, [Tag.Nil]).subarray(1);
  const packed = deflateSync(plain);
  const bytes = Buffer.alloc(6 + packed.length);
  bytes[0] = Tag.Version;
  bytes[1] = Tag.Compressed;
  bytes.writeUInt32BE(plain.length, 2);
  packed.copy(bytes, 6);
  // 8 MB of units from a few KB: over 32 per compressed byte, within 32 per uncompressed byte.
  assert.ok(Cost.SLOT * 1_000_000 > TERM_COST_PER_INPUT_BYTE * bytes.length + TERM_COST_ALLOWANCE);
  assert.equal((decode(bytes) as Term[]).length, 1_000_000);
  const err = budgetError(bytes, { remaining: 1024 * 1024 });
  assert.match(err.message, /in compressed data/);
});

test('binaries, floats, bigs and pids are charged what their objects cost', () => {
  assert.equal(spent(encode(Buffer.alloc(100))), Cost.BINARY + 100);
  const view = { remaining: 10_000 };
  decode(encode(Buffer.alloc(100)), { budget: view, binaryViews: true });
  assert.equal(10_000 - view.remaining, Cost.BINARY_VIEW);
  assert.equal(spent(encode(1.5)), Cost.HEAP_NUMBER);
  assert.equal(spent(encode(2n ** 80n)), Cost.HEAP_NUMBER + 11);
  assert.equal(spent(encode([1, 2.5])), Cost.ARRAY + 2 * Cost.SLOT + Cost.HEAP_NUMBER);
  assert.equal(spent(encode(new Pid(atom('a@b'), 1, 0, 1))), Cost.OBJECT);
});
