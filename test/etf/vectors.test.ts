/**
 * The vectors in test/vectors/etf.json were made by real Erlang (scripts/gen-etf-vectors.escript):
 * each valid one must decode to the value Erlang described and re-encode to the bytes OTP writes;
 * each invalid one (rejected by binary_to_term) must fail with DecodeError carrying offset and expectation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  atom,
  BitString,
  decode,
  DecodeError,
  encode,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  Pid,
  Port,
  Reference,
  Tuple,
  Tag,
  type Term,
} from '../../src/index.ts';

type Description =
  | { int: string }
  | { float: string }
  | { atom: string }
  | { binary: string }
  | { bitstring: string; bits: number }
  | { list: Description[] }
  | { improper: Description[]; tail: Description }
  | { tuple: Description[] }
  | { map: [Description, Description][] }
  | { pid: { node: string; id: number; serial: number; creation: number } }
  | { port: { node: string; id: string; creation: number } }
  | { reference: { node: string; creation: number; ids: number[] } }
  | { export: { module: string; name: string; arity: number } }
  | { fun: { module: string; arity: number; free: number } };

interface Vectors {
  otp: string;
  valid: { name: string; hex: string; value: Description; reencoded?: string; compressed?: true }[];
  invalid: { name: string; hex: string }[];
}

const vectors = JSON.parse(readFileSync(new URL('../vectors/etf.json', import.meta.url), 'utf8')) as Vectors;

/** The documented JavaScript value for Erlang's description; undefined for local funs (opaque). */
function expected(d: Description): Term | undefined {
  if ('int' in d) {
    const n = BigInt(d.int);
    return Number.isSafeInteger(Number(n)) && BigInt(Number(n)) === n ? Number(n) : n;
  }
  if ('float' in d) {
    const v = Number(d.float);
    return Number.isInteger(v) ? new Float(v) : v;
  }
  if ('atom' in d) return d.atom === 'true' ? true : d.atom === 'false' ? false : atom(d.atom);
  if ('binary' in d) return Buffer.from(d.binary, 'hex');
  if ('bitstring' in d) return new BitString(Buffer.from(d.bitstring, 'hex'), d.bits);
  if ('list' in d) return all(d.list);
  if ('improper' in d) return new ImproperList(all(d.improper)!, expected(d.tail)!);
  if ('tuple' in d) return new Tuple(all(d.tuple)!);
  if ('map' in d) return new Map(d.map.map(([k, v]) => [expected(k)!, expected(v)!]));
  if ('pid' in d) return new Pid(atom(d.pid.node), d.pid.id, d.pid.serial, d.pid.creation);
  if ('port' in d) return new Port(atom(d.port.node), BigInt(d.port.id), d.port.creation);
  if ('reference' in d) return new Reference(atom(d.reference.node), d.reference.creation, d.reference.ids);
  if ('export' in d) return new ExportFun(atom(d.export.module), atom(d.export.name), d.export.arity);
  return undefined;
}

function all(ds: Description[]): Term[] | undefined {
  const terms = ds.map(expected);
  return terms.includes(undefined) ? undefined : (terms as Term[]);
}

test(`vectors come from real Erlang (OTP ${vectors.otp}) and start with every term tag`, () => {
  const tags = new Set(vectors.valid.map((v) => Buffer.from(v.hex, 'hex')[1]));
  const decodable = Object.entries(Tag).filter(
    ([name]) => !['Version', 'Local', 'AtomCacheRef'].includes(name),
  );
  for (const [name, value] of decodable) assert.ok(tags.has(value), `no vector starts with ${name}`);
  assert.ok(vectors.invalid.length >= 30);
});

for (const v of vectors.valid) {
  test(`valid: ${v.name}`, () => {
    const bytes = Buffer.from(v.hex, 'hex');
    const decoded = decode(bytes);
    const value = expected(v.value);
    if (value === undefined) {
      // A local fun: opaque, but its parsed fields must match what Erlang says.
      assert.ok('fun' in v.value && decoded instanceof Fun);
      assert.equal(decoded.module.name, v.value.fun.module);
      assert.equal(decoded.arity, v.value.fun.arity);
      assert.equal(decoded.free.length, v.value.fun.free);
    } else {
      assert.deepStrictEqual(decoded, value);
      // Built from the description alone, the value encodes to OTP's bytes too.
      assert.equal(encode(value).toString('hex'), v.reencoded ?? v.hex);
    }
    assert.equal(encode(decoded).toString('hex'), v.reencoded ?? v.hex);
    if (v.compressed) assert.equal(encode(decoded, { compressed: true }).toString('hex'), v.hex);
  });
}

for (const v of vectors.invalid) {
  test(`invalid: ${v.name}`, () => {
    const bytes = Buffer.from(v.hex, 'hex');
    assert.throws(
      () => decode(bytes),
      (err: unknown) => {
        assert.ok(err instanceof DecodeError, String(err));
        assert.equal(err.code, 'ETF_DECODE');
        assert.ok(
          err.offset !== undefined && err.offset >= 0 && err.offset <= bytes.length,
          `offset ${err.offset}`,
        );
        assert.ok(err.expected !== undefined && err.expected.length > 0);
        return true;
      },
    );
  });
}
