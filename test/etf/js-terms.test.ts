/**
 * The JS-friendly mapping (docs/etf.md, "Terms a JS developer can read"): what it makes of
 * Erlang's own bytes, that it is the same Erlang term (encode gives back what Erlang sent), that
 * the direct decode and toJS agree, the guards, and terms printed as Erlang prints them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { TermMismatchError } from '../../src/errors.ts';
import {
  check,
  decode,
  encode,
  fromJS,
  is,
  isStringKeyed,
  stringKeyed,
  termEquals,
  toJS,
} from '../../src/etf/index.ts';
import { Atom, atom, BitString, Pid, Reference, Tuple, tuple, type Term } from '../../src/etf/terms.ts';
import { termArb } from './arbitraries.ts';
import { ErlangPeer } from './erlang-peer.ts';

let peer: ErlangPeer;
before(() => {
  peer = ErlangPeer.start();
});
after(() => peer.stop());

/** Erlang's bytes for the term written in Erlang syntax. */
async function erlang(text: string): Promise<Buffer> {
  const reply = decode(await peer.parseTerm(text));
  assert.ok(reply instanceof Tuple, `Erlang does not read ${text}`);
  return peer.roundTrip(encode(reply.elements[1]!));
}

test('Elixir-style payloads read as strings and objects; atoms, bigints, charlists and structs stay', async () => {
  const bytes = await erlang(
    '{#{<<"user_id">> => 7, <<"name">> => <<"Ann"/utf8>>}, #{a => 1, <<"a">> => 2},' +
      ' #{\'__struct__\' => \'Elixir.User\', name => <<"é"/utf8>>}, #{<<"__proto__">> => 1, <<"constructor">> => 2},' +
      ' 18446744073709551616, "abc", <<255>>, ok, nil, #{}, #{1 => <<"x">>}, <<"a">>}',
  );
  const t = decode(bytes, { terms: 'js' }) as Tuple;
  const [user, mixed, struct, hostile, big, charlist, bytes255, ok, nil, empty, intKeys, a] = t.elements as [
    Record<string, Term>,
    Map<Term, Term>,
    Record<string, Term>,
    Record<string, Term>,
    ...Term[],
  ];
  assert.deepEqual({ ...user }, { user_id: 7, name: 'Ann' });
  assert.ok(isStringKeyed(user));
  // Colliding keys stay a Map, binary keys as strings.
  assert.ok(mixed instanceof Map);
  assert.equal(mixed.get('a'), 2);
  assert.equal(mixed.get(atom('a')), 1);
  assert.deepEqual({ ...struct }, { __struct__: atom('Elixir.User'), name: 'é' });
  assert.ok(!isStringKeyed(struct));
  // No prototype to reach: these are the map's own keys, and nothing else is there.
  assert.deepEqual(Object.keys(hostile), ['__proto__', 'constructor']);
  assert.equal(hostile['__proto__'], 1);
  assert.equal(hostile['constructor'], 2);
  assert.equal(({} as Record<string, unknown>)['user_id'], undefined);
  assert.equal((user as { toString?: unknown }).toString, undefined);
  assert.equal(big, 18446744073709551616n);
  assert.deepEqual(charlist, [97, 98, 99]);
  assert.deepEqual(bytes255, Buffer.of(255));
  assert.equal(ok, atom('ok'));
  assert.ok(nil instanceof Atom && nil.name === 'nil', 'atoms stay distinguishable from strings');
  assert.deepEqual(Object.keys(empty as object), []);
  assert.ok(intKeys instanceof Map && intKeys.get(1) === 'x');
  assert.equal(a, 'a');
  // The same Erlang term: encode gives Erlang's own bytes back.
  assert.equal(encode(t).toString('hex'), bytes.toString('hex'));
  assert.ok(termEquals(fromJS(t), decode(bytes)));
  // A string-keyed object built in JS encodes with binary keys, as Erlang writes that map.
  assert.equal(
    encode(stringKeyed({ user_id: 7, name: 'Ann' })).toString('hex'),
    (await erlang('#{<<"user_id">> => 7, <<"name">> => <<"Ann">>}')).toString('hex'),
  );
});

test('for any term, the direct decode equals toJS of the exact decode, and both encode to the same term', () => {
  fc.assert(
    fc.property(termArb, (term) => {
      const bytes = encode(term);
      const direct = decode(bytes, { terms: 'js' });
      const converted = toJS(decode(bytes));
      assert.ok(termEquals(direct, converted));
      assert.equal(encode(direct).toString('hex'), encode(converted).toString('hex'));
      assert.ok(termEquals(direct, term));
      assert.ok(termEquals(fromJS(direct), term));
    }),
    { seed: 0x15_7e_4a, numRuns: 800 },
  );
});

test('guards type and check terms; check throws TermMismatchError naming what it expected', () => {
  const reply = is.tuple(is.atom('ok'), is.object({ user_id: is.integer, name: is.string }));
  const good = decode(encode(tuple(atom('ok'), stringKeyed({ user_id: 7, name: 'Ann' }))), { terms: 'js' });
  const value = check(reply, good);
  const name: string = value.elements[1].name;
  assert.equal(name, 'Ann');
  assert.ok(is.list(is.oneOf(is.integer, is.binary))([1, 'x', Buffer.of(1), 2n]));
  assert.ok(!is.list(is.integer)([1, 'x']));
  assert.ok(is.pid(new Pid(atom('a@h'), 1, 0, 1)) && is.reference(new Reference(atom('a@h'), 1, [1])));
  assert.throws(
    () => check(reply, tuple(atom('error'), 'nope')),
    (e: unknown) =>
      e instanceof TermMismatchError &&
      e.code === 'ETF_MISMATCH' &&
      e.message === 'expected {ok,#{user_id := integer(), name := string()}}, got {error,<<"nope">>}',
  );
});

test('terms print as Erlang prints them in util.inspect (console.log, the REPL)', () => {
  assert.equal(inspect(atom('app@10.0.0.7')), "'app@10.0.0.7'");
  assert.equal(inspect(tuple(atom('ok'), Buffer.from('abc'))), '{ok,<<"abc">>}');
  assert.equal(inspect(new Pid(atom('app@h'), 80, 0, 3)), '#PID<app@h.80.0>');
  assert.equal(inspect(tuple(atom('ok'), Buffer.from('é'))), '{ok,<<"é"/utf8>>}');
  assert.equal(inspect(new BitString(Buffer.of(1, 0xa0), 3)), '<<1,5:3>>');
  assert.equal(inspect([atom('a'), tuple()]), '[ a, {} ]');
  assert.equal(
    inspect(decode(encode(stringKeyed({ name: 'Ann', tags: tuple(atom('x')) })), { terms: 'js' })),
    "{ name: 'Ann', tags: {x} }",
  );
});

test('short text at every length, ASCII or not, reads as its exact string; invalid UTF-8 stays bytes', () => {
  for (let length = 0; length <= 70; length++) {
    const ascii = Buffer.from(Array.from({ length }, (_, i) => 0x20 + ((i * 7) % 95)));
    assert.equal(decode(encode(ascii), { terms: 'js' }), ascii.toString('latin1'), `ASCII of ${length}`);
    for (let at = 0; at < length; at++) {
      const accented = Buffer.concat([ascii.subarray(0, at), Buffer.from('é'), ascii.subarray(at)]);
      assert.equal(decode(encode(accented), { terms: 'js' }), accented.toString('utf8'));
      const invalid = Buffer.from(ascii);
      invalid[at] = 0xff;
      assert.deepEqual(decode(encode(invalid), { terms: 'js' }), invalid, `0xff at ${at} of ${length}`);
    }
  }
});

test('map keys that share length, first, middle and last byte stay distinct keys', () => {
  // Same length and the same bytes where the key table samples them: they meet in one slot.
  const keys = ['a0b0c', 'a1b1c', 'a2b2c', 'axbxc', 'a0b1c', 'aéc'];
  for (let round = 0; round < 3; round++) {
    const decoded = decode(encode(stringKeyed(Object.fromEntries(keys.map((k, i) => [k, i])))), {
      terms: 'js',
    }) as Record<string, number>;
    assert.deepEqual(Object.keys(decoded).sort(), [...keys].sort());
    keys.forEach((k, i) => assert.equal(decoded[k], i));
  }
});
