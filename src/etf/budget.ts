/**
 * The decode budget: what the JS objects a decoded term is made of may cost, so that one message
 * cannot expand into far more memory than its bytes. Costs are in units of about one byte of V8
 * heap, measured on Node 20 x64 (docs/etf.md, "Decode budget", has the table). Atoms, small
 * integers, `true`/`false` and `[]` are shared or immediate and cost only the slot that holds them.
 */

/** What decoding may still spend; decoding subtracts from `remaining` as it builds the term. */
export interface TermBudget {
  remaining: number;
}

/** The default budget is this many units per input byte... */
export const TERM_COST_PER_INPUT_BYTE = 32;
/** ...plus this allowance, so that small messages of costly shapes (a few empty maps) always pass. */
export const TERM_COST_ALLOWANCE = 1024 * 1024;

/** The units a decode of `inputBytes` bytes may spend when no budget is given. */
export function defaultTermCost(inputBytes: number): number {
  return TERM_COST_PER_INPUT_BYTE * inputBytes + TERM_COST_ALLOWANCE;
}

/** Cost units of each JS object the decoder makes. */
export const Cost = {
  /** One element of a list or tuple (a pointer in the array). */
  SLOT: 8,
  /** A non-empty array: the JSArray and its backing store's header. */
  ARRAY: 48,
  /** A Tuple and its array. */
  TUPLE: 72,
  /** An empty Map... */
  MAP: 192,
  /** ...and each entry in its hash table (key, value, chain, bucket; tables are at least half full). */
  MAP_ENTRY: 48,
  /** A Buffer that owns a copy (plus its bytes)... */
  BINARY: 192,
  /** ...or a view of the input (which the view keeps alive). */
  BINARY_VIEW: 96,
  /** A boxed double: a non-integral float or an integer past 2^31; a bigint's header. */
  HEAP_NUMBER: 16,
  /** A Float (integral float value). */
  FLOAT: 32,
  /** Pid, Port, Reference, ExportFun, Fun, BitString, LocalTerm: the object itself. */
  OBJECT: 56,
} as const;
