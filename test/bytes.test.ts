/** The neutral Reader/Writer under every wire codec, and the BytesError they throw. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BytesError, EidError, Reader, Writer } from '../src/index.ts';

function thrown(fn: () => unknown): BytesError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BytesError, String(err));
    return err;
  }
  assert.fail('did not throw');
}

test('Reader reads big-endian fields and views, and stops at its own end, not the buffer end', () => {
  const r = new Reader(Buffer.from([9, 1, 2, 3, 4, 5, 6, 7, 8, 0xaa, 0xbb, 0xcc]), 1, 11);
  assert.equal(r.u16(), 0x0102);
  assert.equal(r.u32(), 0x03040506);
  assert.equal(r.u8(), 7);
  assert.deepEqual([...r.bytes(2)], [8, 0xaa]);
  assert.equal(r.remaining, 1);
  assert.equal(r.u8(), 0xbb);
  const err = thrown(() => r.u8('tag'));
  assert.equal(err.code, 'BYTES_TRUNCATED');
  assert.equal(err.offset, 11);
  assert.equal(err.expected, 'tag');
  assert.equal(err.message, 'truncated: tag needs 1 bytes, 0 left at offset 11');
  assert.ok(err instanceof EidError);
});

test('Reader checks a declared length before taking the bytes, and leaves the offset where it was', () => {
  const r = new Reader(Buffer.from([0, 3, 1, 2]));
  const length = r.u16('length');
  const err = thrown(() => r.bytes(length, 'name'));
  assert.deepEqual([err.code, err.offset, err.expected], ['BYTES_TRUNCATED', 2, 'name']);
  assert.equal(r.offset, 2);
});

test('Reader.fail is BYTES_INVALID at the offset given', () => {
  const r = new Reader(Buffer.from([131, 7]));
  r.u8();
  const err = thrown(() => r.fail('unknown header 7', 'header kind', 1));
  assert.deepEqual([err.code, err.offset, err.expected], ['BYTES_INVALID', 1, 'header kind']);
  assert.equal(err.message, 'unknown header 7 at offset 1');
});

test('Writer fills a reserved length prefix, and view() of spliced output is BYTES_SPLICED_VIEW', () => {
  const w = new Writer(2);
  const at = w.reserveLength(4);
  w.u8(1);
  w.u64(2n);
  w.fillLength(at, 4);
  assert.deepEqual([...w.view()], [0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
  w.splice(Buffer.from('spliced'));
  const err = thrown(() => w.view());
  assert.equal(err.code, 'BYTES_SPLICED_VIEW');
  assert.equal(err.offset, undefined);
});
