/**
 * Fuzzing decode with mutated and random bytes (deterministic seeds, so a failure reproduces):
 * nothing but DecodeError may escape, no case may hang, and whatever decode accepts, real Erlang
 * accepts too and reads as the same term.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import {
  decode,
  DecodeError,
  encode,
  Fun,
  ImproperList,
  LocalTerm,
  Pid,
  Port,
  Reference,
  termEquals,
  Tuple,
  type Term,
} from '../../src/index.ts';
import { ErlangPeer } from './erlang-peer.ts';
import { termArb } from './arbitraries.ts';
import { mutate, rng } from '../fuzz.ts';

const MUTATIONS_PER_SEED = 150;
const RANDOM_INPUTS = 20_000;
/** A hang guard, not a speed test: a decode this slow means a loop that should not exist. */
const HANG_BOUND_MS = 2_000;

let peer: ErlangPeer;
before(() => {
  peer = ErlangPeer.start();
});
after(() => peer.stop());

const PEER_NODE = 'nonode@nohost';

function mentionsNode(t: Term, node: string): boolean {
  if (t instanceof Pid || t instanceof Port || t instanceof Reference) return t.node.name === node;
  if (t instanceof Fun) return t.pid.node.name === node || t.free.some((f) => mentionsNode(f, node));
  if (Array.isArray(t)) return t.some((e) => mentionsNode(e, node));
  if (t instanceof Tuple) return t.elements.some((e) => mentionsNode(e, node));
  if (t instanceof ImproperList)
    return t.elements.some((e) => mentionsNode(e, node)) || mentionsNode(t.tail, node);
  if (t instanceof Map) return [...t].some(([k, v]) => mentionsNode(k, node) || mentionsNode(v, node));
  return false;
}

function corpus(): Buffer[] {
  const vectors = JSON.parse(readFileSync(new URL('../vectors/etf.json', import.meta.url), 'utf8')) as {
    valid: { hex: string }[];
  };
  const fromVectors = vectors.valid.map((v) => Buffer.from(v.hex, 'hex')).filter((b) => b.length < 4096);
  const generated = fc.sample(termArb, { numRuns: 150, seed: 42 }).map((t) => encode(t));
  return [...fromVectors, ...generated];
}

/** Decodes `input`, failing the test on anything but DecodeError or on a hang. */
function tryDecode(input: Buffer, label: string): Term | undefined {
  const start = performance.now();
  try {
    return decode(input);
  } catch (err) {
    if (!(err instanceof DecodeError)) {
      assert.fail(`${label}: ${String(err)} escaped for input ${input.toString('hex').slice(0, 400)}`);
    }
    return undefined;
  } finally {
    const elapsed = performance.now() - start;
    assert.ok(elapsed < HANG_BOUND_MS, `${label}: decode took ${elapsed} ms`);
  }
}

test('mutated valid terms: only DecodeError, and what decodes Erlang reads the same', async () => {
  const inputs = corpus();
  let accepted = 0;
  let rejected = 0;
  for (const [index, input] of inputs.entries()) {
    const random = rng(index + 1);
    for (let i = 0; i < MUTATIONS_PER_SEED; i++) {
      const mutated = mutate(input, random);
      const label = `seed ${index + 1} mutation ${i}`;
      const term = tryDecode(mutated, label);
      if (term === undefined) {
        rejected++;
        continue;
      }
      accepted++;
      // LOCAL_EXT is opaque by design (its format is private to the node that wrote it; OTP 25 predates it).
      if (term instanceof LocalTerm) continue;
      // Anything eid accepts is a real Erlang term: Erlang decodes it to the same value. The one
      // exception is identifiers of the peer's own node, whose id ranges only that node can check.
      const theirs = await peer.roundTrip(mutated).catch((err: Error) => {
        if (mentionsNode(term, PEER_NODE)) return undefined;
        assert.fail(`${label}: eid accepts what Erlang rejects (${err.message}): ${mutated.toString('hex')}`);
      });
      if (theirs === undefined) continue;
      assert.ok(
        termEquals(decode(theirs), term),
        `${label}: Erlang reads ${mutated.toString('hex')} differently`,
      );
    }
  }
  assert.ok(accepted > 1000 && rejected > 1000, `accepted ${accepted}, rejected ${rejected}`);
});

test('random bytes after the version byte: only DecodeError', () => {
  const random = rng(0xe1d);
  for (let i = 0; i < RANDOM_INPUTS; i++) {
    const input = Buffer.alloc(1 + random(64));
    input[0] = 131;
    for (let j = 1; j < input.length; j++) input[j] = random(256);
    tryDecode(input, `random input ${i}`);
  }
});
