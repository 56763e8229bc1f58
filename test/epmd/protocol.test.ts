/**
 * The EPMD wire codec without sockets: exact bytes of each request and reply, the request framer
 * at every split point and one byte at a time, incremental reply decoders, and fuzzing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  EpmdLimits,
  RequestFramer,
  decodeAlive2Reply,
  decodeNamesReply,
  decodePort2Reply,
  decodeRequest,
  encodeAlive2Reply,
  encodeNamesReply,
  encodePort2Reply,
  encodeRequest,
} from '../../src/epmd/protocol.ts';
import type { EpmdRequest } from '../../src/epmd/protocol.ts';
import { EpmdError } from '../../src/errors.ts';
import type { NodeEntry } from '../../src/epmd/types.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const alive2: EpmdRequest = {
  type: 'alive2',
  port: 0xabcd,
  nodeType: 77,
  protocol: 0,
  highestVersion: 6,
  lowestVersion: 5,
  name: 'foo',
  extra: Uint8Array.of(9),
};

// Layouts from erl_dist_protocol.md and epmd_srv.c.
const requestVectors: [EpmdRequest, string][] = [
  [alive2, '0011 78 abcd 4d 00 0006 0005 0003 666f6f 0001 09'],
  [{ type: 'portPlease2', name: 'foo' }, '0004 7a 666f6f'],
  [{ type: 'names' }, '0001 6e'],
  [{ type: 'dump' }, '0001 64'],
  [{ type: 'kill' }, '0001 6b'],
  [{ type: 'stop', name: 'foo' }, '0004 73 666f6f'],
];

describe('requests', () => {
  for (const [req, bytes] of requestVectors) {
    test(`${req.type}: exact bytes and back`, () => {
      assert.equal(encodeRequest(req).toString('hex'), hex(bytes).toString('hex'));
      assert.deepEqual(decodeRequest(hex(bytes).subarray(2)), req);
    });
  }

  test('a name starting with U+FEFF is that character, not a byte order mark', () => {
    assert.deepEqual(decodeRequest(hex('7a efbbbf 61')), { type: 'portPlease2', name: '\uFEFFa' });
    assert.deepEqual(decodeRequest(hex('7a efbbbf')), { type: 'portPlease2', name: '\uFEFF' });
  });

  test('PORT_PLEASE2 accepts one trailing NUL (old C clients)', () => {
    assert.deepEqual(decodeRequest(hex('7a 666f6f 00')), { type: 'portPlease2', name: 'foo' });
  });

  test('an ALIVE2 epmd would refuse with a reply (not a close) decodes with a refusal', () => {
    const bad = decodeRequest(hex('78 abcd 4d 00 0006 0005 0003 66ff6f 0000'));
    assert.equal(bad.type, 'alive2');
    assert.match((bad as { refusal?: string }).refusal ?? '', /not UTF-8/);
    const long = decodeRequest(
      Buffer.concat([hex('78 abcd 4d 00 0006 0005 0100'), Buffer.alloc(256, 0x61), hex('0000')]),
    );
    assert.match((long as { refusal?: string }).refusal ?? '', /too long/);
  });

  test('malformed bodies throw EPMD_MALFORMED with the offset', () => {
    for (const [body, offset] of [
      ['05', 0],
      ['78 abcd 4d 00 0006 0005 0009 666f6f 0000 00', 11],
      ['7a 61 00 62', 1],
    ] as const) {
      assert.throws(
        () => decodeRequest(hex(body)),
        (err: unknown) => err instanceof EpmdError && err.code === 'EPMD_MALFORMED' && err.offset === offset,
        body,
      );
    }
  });
});

describe('encoding what the wire cannot carry', () => {
  const throwsCode = (code: string) => (err: unknown) => err instanceof EpmdError && err.code === code;

  test('a field out of its range is EPMD_INVALID, never cut or wrapped into other bytes', () => {
    for (const bad of [
      { port: 70000 },
      { port: -1 },
      { port: 1.5 },
      { nodeType: 256 },
      { protocol: -1 },
      { highestVersion: 0x10000 },
      { lowestVersion: NaN },
    ]) {
      const req = { ...alive2, ...bad } as EpmdRequest;
      assert.throws(() => encodeRequest(req), throwsCode('EPMD_INVALID'), JSON.stringify(bad));
      const { type: _, ...entry } = req as EpmdRequest & NodeEntry;
      assert.throws(() => encodePort2Reply(entry), throwsCode('EPMD_INVALID'), JSON.stringify(bad));
    }
  });

  test('a name, extra or request too long for its length field is EPMD_TOO_LONG', () => {
    const long = 'a'.repeat(0x10000);
    for (const req of [
      { ...alive2, name: long },
      { ...alive2, extra: new Uint8Array(0x10000) },
      { ...alive2, name: 'a'.repeat(EpmdLimits.MAX_REQUEST_LENGTH) },
      { type: 'portPlease2', name: long },
      { type: 'stop', name: long },
    ] as EpmdRequest[]) {
      assert.throws(() => encodeRequest(req), throwsCode('EPMD_TOO_LONG'), req.type);
    }
    const { type: _, ...entry } = { ...alive2, name: long } as EpmdRequest & NodeEntry;
    assert.throws(() => encodePort2Reply(entry), throwsCode('EPMD_TOO_LONG'));
  });
});

describe('RequestFramer', () => {
  const stream = Buffer.concat(requestVectors.map(([, b]) => hex(b)));
  const bodies = requestVectors.map(([, b]) => hex(b).subarray(2).toString('hex'));

  test('passes on only whole requests, at every split point', () => {
    for (let i = 0; i <= stream.length; i++) {
      const framer = new RequestFramer();
      const out = [...framer.push(stream.subarray(0, i)), ...framer.push(stream.subarray(i))];
      assert.deepEqual(
        out.map((b) => b.toString('hex')),
        bodies,
        `split at ${i}`,
      );
      assert.equal(framer.buffered, 0);
    }
  });

  test('one byte at a time', () => {
    const framer = new RequestFramer();
    const out: string[] = [];
    for (const byte of stream) out.push(...framer.push(Uint8Array.of(byte)).map((b) => b.toString('hex')));
    assert.deepEqual(out, bodies);
  });

  test('keeps leftover bytes of an incomplete request', () => {
    const framer = new RequestFramer();
    assert.deepEqual(framer.push(hex('0004 7a 66')), []);
    assert.equal(framer.buffered, 4);
  });

  test('rejects a declared length of 0 or over the cap as soon as the 2 length bytes arrive', () => {
    for (const [bytes, cap] of [
      ['0000', EpmdLimits.MAX_REQUEST_LENGTH],
      ['0bf2', EpmdLimits.MAX_REQUEST_LENGTH],
      ['0011', 16],
      ['ffff', EpmdLimits.MAX_REQUEST_LENGTH],
    ] as const) {
      const framer = new RequestFramer(cap);
      assert.deepEqual(framer.push(hex(bytes).subarray(0, 1)), []);
      assert.throws(
        () => framer.push(hex(bytes).subarray(1)),
        (err: unknown) => err instanceof EpmdError && err.code === 'EPMD_MALFORMED' && err.offset === 0,
      );
    }
  });
});

describe('replies', () => {
  const entry: NodeEntry = {
    name: 'foo',
    port: 0xabcd,
    nodeType: 77,
    protocol: 0,
    highestVersion: 6,
    lowestVersion: 5,
    extra: Uint8Array.of(1, 2),
  };
  const port2 = '77 00 abcd 4d 00 0006 0005 0003 666f6f 0002 0102';

  test('ALIVE2_X_RESP and ALIVE2_RESP bytes, decoded incrementally', () => {
    const x = encodeAlive2Reply({ result: 0, creation: 0x12345678, extended: true });
    assert.equal(x.toString('hex'), '760012345678');
    const old = encodeAlive2Reply({ result: 1, creation: 99, extended: false });
    assert.equal(old.toString('hex'), '79010063');
    for (const [bytes, reply] of [
      [x, { result: 0, creation: 0x12345678, extended: true }],
      [old, { result: 1, creation: 99, extended: false }],
    ] as const) {
      for (let i = 0; i < bytes.length; i++) assert.equal(decodeAlive2Reply(bytes.subarray(0, i)), undefined);
      assert.deepEqual(decodeAlive2Reply(bytes), { reply, length: bytes.length });
    }
  });

  test('PORT2_RESP bytes (found and not found), decoded incrementally', () => {
    assert.equal(encodePort2Reply(entry).toString('hex'), hex(port2).toString('hex'));
    assert.equal(encodePort2Reply(undefined).toString('hex'), '7701');
    const bytes = hex(port2);
    for (let i = 0; i < bytes.length; i++) assert.equal(decodePort2Reply(bytes.subarray(0, i)), undefined);
    assert.deepEqual(decodePort2Reply(bytes), { reply: { found: true, entry }, length: bytes.length });
    assert.deepEqual(decodePort2Reply(hex('7701')), { reply: { found: false, result: 1 }, length: 2 });
  });

  test('a reply with the wrong tag is EPMD_MALFORMED', () => {
    assert.throws(
      () => decodePort2Reply(hex('7600')),
      (err: unknown) => err instanceof EpmdError,
    );
    assert.throws(
      () => decodeAlive2Reply(hex('7700')),
      (err: unknown) => err instanceof EpmdError,
    );
  });

  test('NAMES reply: 4-byte epmd port then "name N at port P\\n" lines', () => {
    const bytes = encodeNamesReply(4369, [
      { name: 'a', port: 1 },
      { name: 'b c', port: 65535 },
    ]);
    assert.equal(bytes.toString('latin1'), '\x00\x00\x11\x11name a at port 1\nname b c at port 65535\n');
    assert.deepEqual(decodeNamesReply(bytes), {
      epmdPort: 4369,
      nodes: [
        { name: 'a', port: 1 },
        { name: 'b c', port: 65535 },
      ],
    });
    assert.throws(
      () => decodeNamesReply(Buffer.concat([bytes, Buffer.from('garbage\n')])),
      (err: unknown) => err instanceof EpmdError && err.offset === bytes.length,
    );
  });
});

describe('fuzz', () => {
  test('decodeRequest returns or throws EpmdError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeRequest(bytes);
        } catch (err) {
          assert.ok(err instanceof EpmdError, String(err));
        }
      }),
      { numRuns: 5000 },
    );
  });

  test('decodeRequest on mutated valid requests', () => {
    const valid = requestVectors.map(([, b]) => hex(b).subarray(2));
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        (body, edits) => {
          const bytes = Buffer.from(body);
          for (const [at, value] of edits) bytes[at % bytes.length] = value;
          try {
            decodeRequest(bytes);
          } catch (err) {
            assert.ok(err instanceof EpmdError, String(err));
          }
        },
      ),
      { numRuns: 5000 },
    );
  });

  test('the framer yields exactly the bodies of valid frames however the stream is cut', () => {
    const request = fc.oneof(
      fc.record({
        type: fc.constant('portPlease2' as const),
        name: fc.string({ minLength: 1, maxLength: 20 }),
      }),
      fc.constant({ type: 'names' as const }),
    );
    fc.assert(
      fc.property(
        fc.array(request, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (reqs, cuts) => {
          const stream = Buffer.concat(reqs.map((r) => encodeRequest(r)));
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          const framer = new RequestFramer();
          const out: Buffer[] = [];
          let from = 0;
          for (const p of [...points, stream.length]) {
            out.push(...framer.push(stream.subarray(from, p)));
            from = p;
          }
          assert.deepEqual(
            out.map((b) => b.toString('hex')),
            reqs.map((r) => encodeRequest(r).subarray(2).toString('hex')),
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('the framer on random bytes returns frames or throws EpmdError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), (chunks) => {
        const framer = new RequestFramer();
        try {
          for (const c of chunks) for (const f of framer.push(c)) assert.ok(f.length >= 1);
        } catch (err) {
          assert.ok(err instanceof EpmdError, String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
