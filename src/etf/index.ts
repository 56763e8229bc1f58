/**
 * The External Term Format codec: no I/O, just terms ↔ bytes. docs/etf.md has the term model.
 * This layer's part of the public API; other layers may also import its files directly.
 */
export {
  Atom,
  atom,
  BitString,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  LocalTerm,
  Pid,
  Port,
  Reference,
  Tuple,
  tuple,
  type ErlMap,
  type Term,
} from './terms.ts';
export { Tag, MAX_ATOM_CHARACTERS } from './tags.ts';
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
export { toJS, fromJS, stringKeyed, isStringKeyed, type TermsMode } from './js.ts';
export { is, check, type Guard, type Guarded, type TupleOf } from './guard.ts';
export { phash2 } from './phash2.ts';
