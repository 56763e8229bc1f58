/** The External Term Format codec: no I/O, just terms ↔ bytes. docs/etf.md has the term model. */
export { Tag, MAX_ATOM_CHARACTERS, MAX_STRING_EXT_LENGTH } from './tags.ts';
export { encode, encodeInto, type EncodeOptions } from './encode.ts';
export {
  decode,
  decodeFrom,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_DECOMPRESSED_SIZE,
  type DecodeOptions,
} from './decode.ts';
export { termEquals, mapGet } from './equals.ts';
export { compareTerms } from './order.ts';
export { formatTerm } from './format.ts';
export { Reader, Writer } from './bytes.ts';
export * from './terms.ts';
