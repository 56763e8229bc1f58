/**
 * phash2 against the real erlang:phash2/1,2 of this machine's OTP (25): pids of many numbers,
 * serials, creations and nodes, and the other terms it covers. OTP 27 and 29 are checked on pids
 * in groups-containers.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { decode } from '../../src/etf/decode.ts';
import { formatTerm } from '../../src/etf/format.ts';
import { phash2 } from '../../src/etf/phash2.ts';
import { Tuple } from '../../src/etf/terms.ts';

// Pids are built from NEW_PID_EXT bytes, so any number, serial, creation and node can be had.
const ERLANG = `
  P = fun(Node, Id, Ser, Cre) -> N = atom_to_binary(Node, utf8), binary_to_term(<<131, 88, 119, (byte_size(N)), N/binary, Id:32, Ser:32, Cre:32>>) end,
  Ids = [0, 1, 2, 77, 32767, 32768, 100000, 268435455] ++ [rand:uniform(268435455) || _ <- lists:seq(1, 150)],
  Pids = [P(N, I, S, C) || N <- ['a@b', 'Elixir.X@10.0.0.7'], I <- Ids, S <- [0, 5], C <- [1, 3000000000]],
  Terms = Pids ++ [self(), 0, 1, -1, 42, 134217727, 134217728, -134217728, -134217729, 1 bsl 40, -(1 bsl 70), 1 bsl 64,
    a, 'Elixir.Demo.PubSub.Adapter', 'Phoenix.PubSub', 'h\\x{e9}llo', '\\x{133}', true, [], {}, {a}, {a, 1, <<"x">>}, <<>>, <<"abc">>,
    <<"hello world!">>, <<"0123456789abcdefghijklmnop">>, "abc", "abcd", "abcde", [a], [1, a, 2], [a | b], [1, 2 | c], [300, 1],
    {[], []}, [[]], 1.5, 0.0, -2.25, {1.0e300}, [<<"room:1">>, {x, self()}], make_ref()],
  io:format("~s", [base64:encode(term_to_binary([{T, erlang:phash2(T), erlang:phash2(T, 7), erlang:phash2(T, 1 bsl 32)} || T <- Terms]))]),
  halt().`;

test('phash2 equals erlang:phash2/1,2 on pids and the other terms it covers', () => {
  const out = execFileSync('erl', ['-noshell', '-eval', ERLANG], { encoding: 'utf8' });
  const vectors = decode(Buffer.from(out.trim(), 'base64')) as Tuple[];
  assert.ok(vectors.length > 1200);
  for (const v of vectors) {
    const [term, h, h7, h32] = v.elements;
    assert.equal(phash2(term!), Number(h), formatTerm(term!));
    assert.equal(phash2(term!, 7), Number(h7), formatTerm(term!));
    assert.equal(phash2(term!, 2 ** 32), Number(h32), formatTerm(term!));
  }
  assert.throws(() => phash2(new Map()), TypeError);
  assert.throws(() => phash2(1, 0), RangeError);
});
