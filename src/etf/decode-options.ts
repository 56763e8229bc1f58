/** What a caller can tell the decoder (decode.ts), and the defaults. */
import type { TermBudget } from './budget.ts';
import type { TermsMode } from './js.ts';
import type { Atom } from './terms.ts';

export interface DecodeOptions {
  /** Expect the version byte 131 first (default true). */
  versionByte?: boolean;
  /** Distribution: ATOM_CACHE_REF index → atom. A reference with no table or entry is a DecodeError. */
  atomCache?: readonly (Atom | undefined)[];
  /**
   * Deepest nesting of tuples, lists, maps and funs accepted (default 1000). Decoding recurses, so
   * a much higher limit meets the JS stack first; that also ends in DecodeError.
   */
  maxDepth?: number;
  /** Largest uncompressed size a COMPRESSED_EXT may declare (default 64 MiB). */
  maxDecompressedSize?: number;
  /**
   * Binaries become views into the input instead of copies (default false): much faster for large
   * binaries, but the input must then never be modified or reused while they are alive, and a
   * view keeps the whole input alive. A number: only binaries of at least that many bytes.
   */
  binaryViews?: boolean | number;
  /**
   * What the decoded term may cost in memory, in units of about a byte of JS heap (docs/etf.md,
   * "Decode budget"); more is a DecodeError. Decoding subtracts from `remaining`, so one budget
   * given to several decodeFrom calls bounds all their terms together (a distribution message).
   * Default: `defaultTermCost(input bytes)`, 32 units per byte plus 1 MiB; COMPRESSED_EXT
   * adds 32 per uncompressed byte to a default budget, never to a given one.
   */
  budget?: TermBudget;
  /**
   * `'js'`: the JS-friendly mapping (docs/etf.md, "Terms a JS developer can read"), built while
   * decoding: valid UTF-8 binaries as strings, maps with all-atom or all-binary keys as objects.
   * Default `'erlang'`, the exact term model.
   */
  terms?: TermsMode;
}

export const DEFAULT_MAX_DEPTH = 1000;
export const DEFAULT_MAX_DECOMPRESSED_SIZE = 64 * 1024 * 1024;
