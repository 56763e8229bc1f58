/** A string key for a term, for Maps keyed by Erlang terms (group names, global names, lock ids). */
import { encode } from '../etf/encode.ts';
import type { Term } from '../etf/terms.ts';

/** Equal keys for terms with equal encodings (the form a peer sent them in, or ours). */
export function termKey(t: Term): string {
  return encode(t).toString('latin1');
}
