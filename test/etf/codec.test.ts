/** The codec's options, limits, errors and helpers (the Erlang-backed tests cover the term mapping). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import {
  atom,
  BitString,
  BytesError,
  decode,
  decodeFrom,
  DecodeError,
  encode,
  EncodeError,
  encodeInto,
  Float,
  Fun,
  ImproperList,
  mapGet,
  Pid,
  Port,
  Reader,
  Reference,
  ExportFun,
  Tag,
  termEquals,
  tuple,
  Writer,
  type Atom,
  type Term,
} from '../../src/index.ts';
import { NewFunLayout } from '../../src/etf/tags.ts';

function decodeError(bytes: Uint8Array, options?: Parameters<typeof decode>[1]): DecodeError {
  try {
    decode(bytes, options);
  } catch (err) {
    assert.ok(err instanceof DecodeError, String(err));
    return err;
  }
  assert.fail('decode accepted the input');
}

test('versionByte: false leaves out and does not expect 131', () => {
  const bare = encode(tuple(atom('ok'), 1), { versionByte: false });
  assert.equal(bare[0], Tag.SmallTuple);
  assert.deepStrictEqual(decode(bare, { versionByte: false }), tuple(atom('ok'), 1));
  const err = decodeError(bare);
  assert.equal(err.offset, 0);
  assert.equal(err.expected, 'version byte 131');
});

test('encodeInto and decodeFrom put several terms in one buffer, as distribution frames do', () => {
  const writer = new Writer(4);
  writer.u8(0x70);
  encodeInto(writer, tuple(2, atom(''), new Pid(atom('a@b'), 1, 0, 3)));
  encodeInto(writer, 'payload');
  const reader = new Reader(writer.toBuffer(), 1);
  assert.deepStrictEqual(decodeFrom(reader), tuple(2, atom(''), new Pid(atom('a@b'), 1, 0, 3)));
  assert.deepStrictEqual(decodeFrom(reader), Buffer.from('payload'));
  assert.equal(reader.remaining, 0);
  assert.throws(() => decodeFrom(reader), DecodeError);
});

test('a writer with spliceMin references large binaries: its chunks are the bytes a copying writer writes', () => {
  const limit = 1000;
  for (const size of [0, 1, limit - 1, limit, limit + 1, 3 * limit]) {
    const big = Buffer.alloc(size, 0xab);
    const term = [tuple(atom('x'), big), big, 'tail', Buffer.alloc(limit + 7, 3)];
    const copying = new Writer(16);
    const splicing = new Writer(16);
    splicing.spliceMin = limit;
    for (const w of [copying, splicing]) {
      const at = w.reserveLength(4);
      w.u8(0x70);
      encodeInto(w, term);
      w.fillLength(at, 4);
    }
    const expected = copying.toBuffer();
    assert.equal(splicing.length, expected.length);
    assert.deepStrictEqual(Buffer.concat(splicing.chunks()), expected, `binary of ${size} bytes`);
    assert.deepStrictEqual(splicing.toBuffer(), expected);
    // The large ones are the caller's buffers themselves, not copies.
    const referenced = splicing.chunks().filter((c) => c.buffer === big.buffer && size > 0).length;
    assert.equal(referenced, size >= limit ? 2 : 0, `binary of ${size} bytes`);
    assert.throws(
      () => splicing.view(),
      (err: unknown) => err instanceof BytesError && err.code === 'BYTES_SPLICED_VIEW',
    );
    splicing.reset();
    assert.equal(splicing.length, 0);
    assert.deepStrictEqual(splicing.chunks(), []);
  }
});

test('atom cache: ATOM_CACHE_REF out with the callback, resolved in through the table', () => {
  const table: (Atom | undefined)[] = [atom('send'), atom('node@host')];
  const cache = (a: Atom) => {
    const index = table.indexOf(a);
    return index === -1 ? undefined : index;
  };
  const term = tuple(atom('send'), new Pid(atom('node@host'), 5, 0, 1), atom('other'), true);
  const bytes = encode(term, { versionByte: false, atomCache: cache });
  assert.deepStrictEqual([...bytes.subarray(0, 4)], [Tag.SmallTuple, 4, Tag.AtomCacheRef, 0]);
  assert.deepStrictEqual(decode(bytes, { versionByte: false, atomCache: table }), term);
  const missing = decodeError(bytes, { versionByte: false, atomCache: [atom('send')] });
  assert.equal(missing.expected, 'atom cache entry');
  assert.equal(missing.offset, 5);
  assert.equal(decodeError(Buffer.of(131, Tag.AtomCacheRef, 0)).offset, 1);
});

test('a lying LARGE_TUPLE_EXT arity fails at once, naming offset and expectation', () => {
  const err = decodeError(Buffer.of(131, Tag.LargeTuple, 0xff, 0xff, 0xff, 0xff, 97, 1, 97, 1));
  assert.equal(err.offset, 6);
  assert.equal(err.expected, 'tuple elements');
  assert.match(err.message, /needs 4294967295 bytes, 4 left/);
});

test('maxDepth bounds nesting; the default takes 1000 levels and deeper input fails cleanly', () => {
  const nested = (depth: number): Buffer => {
    const open = Buffer.alloc(depth * 2, Buffer.of(Tag.SmallTuple, 1));
    return Buffer.concat([Buffer.of(131), open, Buffer.of(Tag.Nil)]);
  };
  assert.equal(decodeError(nested(6), { maxDepth: 5 }).expected, 'shallower term');
  assert.ok(decode(nested(1000)) !== undefined);
  assert.equal(decodeError(nested(1001)).expected, 'shallower term');
  // A limit above what the JS stack holds still ends in DecodeError, never RangeError.
  assert.equal(decodeError(nested(1_000_000), { maxDepth: Infinity }).expected, 'shallower term');
});

test('maxDecompressedSize is checked against the declared size before inflating', () => {
  const inner = encode(Buffer.alloc(100_000), { versionByte: false });
  const packed = Buffer.concat([Buffer.of(131, Tag.Compressed, 0, 0, 0, 0), deflateSync(inner)]);
  packed.writeUInt32BE(inner.length, 2);
  assert.equal((decode(packed) as Buffer).length, 100_000);
  const err = decodeError(packed, { maxDecompressedSize: 1000 });
  assert.equal(err.offset, 2);
  assert.match(err.message, /exceeds 1000/);
  // A stream that inflates past its declared size is cut off at that size and rejected.
  packed.writeUInt32BE(1000, 2);
  assert.match(decodeError(packed).message, /zlib/);
});

test('compressed: used only when smaller, like OTP', () => {
  assert.equal(encode(atom('a'), { compressed: true }).toString('hex'), encode(atom('a')).toString('hex'));
  const big = Array.from({ length: 200 }, () => atom('repeated'));
  const packed = encode(big, { compressed: 9 });
  assert.equal(packed[1], Tag.Compressed);
  assert.deepStrictEqual(decode(packed), big);
});

test('untrusted map keys build Map entries, never object properties', () => {
  const key = encode(
    new Map<Term, Term>([
      [atom('__proto__'), 1],
      [Buffer.from('constructor'), 2],
    ]),
  );
  const decoded = decode(key);
  assert.ok(decoded instanceof Map);
  assert.equal(mapGet(decoded, atom('__proto__')), 1);
  assert.equal(Object.getPrototypeOf(decoded), Map.prototype);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

test('encode rejects what Erlang cannot hold, with EncodeError', () => {
  let deep: Term = [];
  for (let i = 0; i < 1_000_000; i++) deep = tuple(deep);
  assert.throws(() => encode(deep), EncodeError);
  const bad: unknown[] = [
    NaN,
    Infinity,
    new Float(-Infinity),
    undefined,
    null,
    Symbol('x'),
    () => 1,
    new Date(0),
    Object.create(Object.create(null) as object) as object,
    atom('a'.repeat(256)),
    atom('\ud800'),
    new BitString(Buffer.of(1), 0),
    [1, undefined],
    new Pid(atom('a@b'), 2 ** 32, 0, 0),
    new Pid(atom('a@b'), 1, -1, 0),
    new Port(atom('a@b'), 2n ** 64n, 0),
    new Reference(atom('a@b'), 0, [1, 2, 3, 4, 5, 6]),
    new Reference(atom('a@b'), 0.5, [1]),
    new ExportFun(atom('m'), atom('f'), 256),
  ];
  for (const [i, value] of bad.entries())
    assert.throws(() => encode(value as Term), EncodeError, `bad value #${i}`);
  assert.equal(encode(atom('é'.repeat(255))).length, 1 + 3 + 510);
  assert.throws(() => encode(atom('x'), { atomCache: () => 256 }), EncodeError);
  // A JS caller's number id: the error names the field, not a stack overflow.
  assert.throws(
    () => encode(new Port(atom('a@b'), 1.5 as unknown as bigint, 0)),
    (err: unknown) => err instanceof EncodeError && /port id/.test(err.message),
  );
  assert.deepEqual(
    decode(encode(new Port(atom('a@b'), 7 as unknown as bigint, 0))),
    new Port(atom('a@b'), 7n, 0),
  );
});

test('JS values encode to their documented Erlang terms', () => {
  const same = (value: Term, erlang: Term) =>
    assert.equal(encode(value).toString('hex'), encode(erlang).toString('hex'));
  same(-0, 0);
  same(1e20, 100000000000000000000n);
  same(2n, 2);
  same('é', Buffer.from('é'));
  same({ a: 1 }, new Map([[atom('a'), 1]]));
  same(new ImproperList([1], [2]), [1, 2]);
  same(new ImproperList([1], new ImproperList([2], atom('t'))), new ImproperList([1, 2], atom('t')));
  same(new BitString(Buffer.of(0xff), 3), new BitString(Buffer.of(0xe0), 3));
  assert.deepStrictEqual(decode(encode(new Float(-0))), new Float(-0));
  // Like OTP, maps of up to 32 keys are written sorted by key (integers before floats).
  same(
    { b: 1, a: 2 },
    new Map([
      [atom('a'), 2],
      [atom('b'), 1],
    ]),
  );
  same(
    new Map<Term, Term>([
      [new Float(1), 0],
      [atom('x'), 0],
      [2, 0],
    ]),
    new Map<Term, Term>([
      [2, 0],
      [new Float(1), 0],
      [atom('x'), 0],
    ]),
  );
  assert.equal(encode({ b: 1, a: 2 }).toString('hex'), '83740000000277016161027701626101');
});

test('termEquals is =:= on the model; mapGet finds structurally equal keys', () => {
  const equal: [Term, Term][] = [
    [1, 1n],
    [true, atom('true')],
    ['ab', Buffer.from('ab')],
    [{ k: [1] }, new Map([[atom('k'), [1]]])],
    [new ImproperList([1], [2]), [1, 2]],
    [tuple(new Map([[tuple(1), 2]])), tuple(new Map([[tuple(1), 2]]))],
  ];
  for (const [a, b] of equal)
    assert.ok(termEquals(a, b) && termEquals(b, a), `${String(a)} =:= ${String(b)}`);
  const different: [Term, Term][] = [
    [1, new Float(1)],
    [new Float(0), new Float(-0)],
    [[], Buffer.alloc(0)],
    [[], ''],
    [atom('nil'), []],
    [[1, 2], new ImproperList([1], 2)],
    [tuple(1), [1]],
  ];
  for (const [a, b] of different) assert.ok(!termEquals(a, b), `${String(a)} =/= ${String(b)}`);
  const map = new Map<Term, Term>([[tuple(atom('k'), Buffer.from('x')), 'found']]);
  assert.equal(mapGet(map, tuple(atom('k'), 'x')), 'found');
  assert.equal(mapGet(map, tuple(atom('k'))), undefined);
});

test('decoded atoms are the interned instances, whatever the atom encoding', () => {
  const utf8 = decode(Buffer.of(131, Tag.SmallAtomUtf8, 2, 0xc3, 0xa9));
  const latin1 = decode(Buffer.of(131, Tag.SmallAtom, 1, 0xe9));
  assert.equal(utf8, atom('é'));
  assert.equal(latin1, atom('é'));
  assert.equal(decode(Buffer.of(131, Tag.Atom, 0, 4, ...Buffer.from('true'))), true);
});

test('an atom starting with U+FEFF keeps it (it is a character, not a byte order mark)', () => {
  assert.equal((decode(Buffer.from('837703efbbbf', 'hex')) as Atom).name, '\uFEFF');
  assert.equal((decode(encode(atom('\uFEFF\0'))) as Atom).name, '\uFEFF\0');
});

test('binaries are copies by default and views of the input with binaryViews', () => {
  const input = encode(tuple(Buffer.from('tiny'), Buffer.alloc(1000, 1)));
  const copied = decode(input) as ReturnType<typeof tuple>;
  const viewed = decode(input, { binaryViews: true }) as ReturnType<typeof tuple>;
  input.fill(0);
  assert.deepStrictEqual(copied, tuple(Buffer.from('tiny'), Buffer.alloc(1000, 1)));
  assert.deepStrictEqual(viewed, tuple(Buffer.alloc(4), Buffer.alloc(1000)));
  assert.ok(Buffer.isBuffer(decode(new Uint8Array(encode(Buffer.from('x'))))));
  // A number: only binaries at least that large are views.
  const again = encode(tuple(Buffer.from('tiny'), Buffer.alloc(1000, 1)));
  const some = decode(again, { binaryViews: 1000 }) as ReturnType<typeof tuple>;
  again.fill(2);
  assert.deepStrictEqual(some, tuple(Buffer.from('tiny'), Buffer.alloc(1000, 2)));
});

test('the atom cache keeps its own copy of the bytes: a reused input buffer decodes afresh', () => {
  // One buffer rewritten in place, as a reader reusing its receive buffer would: thousands of names
  // pass through the same bytes, so cache slots they share must not see the rewrite.
  const input = Buffer.from(encode(atom('probe_0000')));
  for (let i = 0; i < 3000; i++) {
    const name = `probe_${String(i).padStart(4, '0')}`;
    input.write(name, 3, 'latin1');
    assert.equal(decode(input), atom(name));
  }
});

/** The committed vector of a local fun, as OTP encoded it. */
function localFunVector(): Buffer {
  const vectors = JSON.parse(readFileSync(new URL('../vectors/etf.json', import.meta.url), 'utf8')) as {
    valid: { name: string; hex: string }[];
  };
  return Buffer.from(vectors.valid.find((v) => v.name === 'local fun')!.hex, 'hex');
}

test('a fun decoded through the atom cache is rebuilt with plain atoms, so it can be sent anywhere', () => {
  const original = localFunVector();
  const plain = decode(original);
  assert.ok(plain instanceof Fun);
  // After 131 and the NEW_FUN_EXT tag come the fixed fields, then the module as SMALL_ATOM_UTF8.
  const moduleAt = 2 + NewFunLayout.FIXED_BYTES;
  assert.equal(original[moduleAt], Tag.SmallAtomUtf8);
  const moduleEnd = moduleAt + 2 + original[moduleAt + 1]!;
  const viaCache = Buffer.concat([
    original.subarray(1, moduleAt),
    Buffer.from([Tag.AtomCacheRef, 0]),
    original.subarray(moduleEnd),
  ]);
  const fun = decode(viaCache, { versionByte: false, atomCache: [plain.module] });
  assert.ok(fun instanceof Fun);
  assert.ok(!fun.bytes.includes(Tag.AtomCacheRef), 'no ATOM_CACHE_REF left in the fun');
  assert.deepEqual(fun.bytes, plain.bytes);
  assert.deepEqual(encode(fun), original);
});

test('a NEW_FUN_EXT size field that lies is rewritten to the true size, as OTP re-encodes it', () => {
  const original = localFunVector();
  const lying = Buffer.from(original);
  lying.writeUInt32BE(0xffff, 2);
  assert.deepEqual(encode(decode(lying)), original);
});
