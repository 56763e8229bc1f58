/**
 * Shared pieces of the fuzz tests: a replayable seed, a guard that lets only the parser's own
 * typed error escape and catches hangs, and byte-level mutations picked by a small seeded PRNG.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type fc from 'fast-check';

/** A hang guard, not a speed test: one parse this slow means a loop that should not exist. */
const HANG_BOUND_MS = 2_000;

export interface Fuzz<E extends Error> {
  seed: number;
  /** How to rerun a failure: the variable and the seed. */
  replay: string;
  /** fast-check parameters with this seed. */
  runs(numRuns: number): fc.Parameters<unknown>;
  /** Runs one parser call: its result, or the `E` it threw; anything else, or a hang, fails the test. */
  guarded<T>(label: string, call: () => T): T | E;
}

export function fuzzing<E extends Error>(
  seedVariable: string,
  defaultSeed: number,
  errorClass: abstract new (...args: never[]) => E,
): Fuzz<E> {
  const seed = Number(process.env[seedVariable] ?? defaultSeed);
  const replay = `replay: ${seedVariable}=${seed}`;
  return {
    seed,
    replay,
    runs: (numRuns) => ({ seed, numRuns, endOnFailure: true }),
    guarded<T>(label: string, call: () => T): T | E {
      const start = performance.now();
      try {
        return call();
      } catch (err) {
        if (err instanceof errorClass) return err;
        assert.fail(`${label}: ${String(err)} escaped (${replay})`);
      } finally {
        const elapsed = performance.now() - start;
        assert.ok(elapsed < HANG_BOUND_MS, `${label}: took ${elapsed} ms (${replay})`);
      }
    },
  };
}

/** xorshift32: small, seedable, good enough to pick mutations. */
export function rng(seed: number): (n: number) => number {
  let state = seed >>> 0 || 1;
  return (n) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % n;
  };
}

export function randomBytes(random: (n: number) => number, max: number): Buffer {
  return Buffer.from(Array.from({ length: random(max + 1) }, () => random(256)));
}

/** Length-like values that lie: each is the edge of some width. */
const LYING = [0, 1, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0xffffffff];

/** One byte-level mutation: flips, truncation, insertion, deletion, a lying length, an extension, noise. */
export function mutate(input: Uint8Array, random: (n: number) => number): Buffer {
  const out = Buffer.from(input);
  const at = random(Math.max(out.length, 1));
  switch (random(9)) {
    case 0:
      for (let i = 0, n = 1 + random(3); i < n && out.length > 0; i++) out[random(out.length)] = random(256);
      return out;
    case 1:
      return out.subarray(0, random(out.length + 1));
    case 2:
      return Buffer.concat([out.subarray(0, at), Buffer.of(random(256)), out.subarray(at)]);
    case 3:
      return Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
    case 4:
      if (out.length >= at + 4) out.writeUInt32BE(LYING[random(LYING.length)]!, at);
      return out;
    case 5:
      if (out.length >= at + 2) out.writeUInt16BE(LYING[random(LYING.length)]! & 0xffff, at);
      return out;
    case 6:
      // A small length or count byte pushed to an extreme.
      if (out.length > at + 1) out[at + 1] = random(2) === 0 ? 0 : 0xff;
      return out;
    case 7:
      return Buffer.concat([out, randomBytes(random, 40)]);
    default:
      return randomBytes(random, 64);
  }
}

/** `stream` cut at the given points (taken modulo its length), or one byte per chunk. */
export function chunksOf(stream: Buffer, cuts: number[], oneByteAtATime = false): Buffer[] {
  if (oneByteAtATime) return Array.from(stream, (b) => Buffer.of(b));
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, stream.length]) {
    chunks.push(stream.subarray(from, p));
    from = p;
  }
  return chunks;
}
