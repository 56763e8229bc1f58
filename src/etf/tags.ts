/** External Term Format tags (erl_ext_dist), by name. */
export const Tag = {
  Version: 131,
  Compressed: 80,
  Local: 121,
  AtomCacheRef: 82,
  SmallInteger: 97,
  Integer: 98,
  Float: 99,
  NewFloat: 70,
  Atom: 100,
  SmallAtom: 115,
  AtomUtf8: 118,
  SmallAtomUtf8: 119,
  Reference: 101,
  NewReference: 114,
  NewerReference: 90,
  Port: 102,
  NewPort: 89,
  V4Port: 120,
  Pid: 103,
  NewPid: 88,
  SmallTuple: 104,
  LargeTuple: 105,
  Map: 116,
  Nil: 106,
  String: 107,
  List: 108,
  Binary: 109,
  BitBinary: 77,
  SmallBig: 110,
  LargeBig: 111,
  NewFun: 112,
  Export: 113,
} as const;

/** Limits of the format itself (not tunable): Erlang atoms hold at most 255 characters. */
export const MAX_ATOM_CHARACTERS = 255;
/** STRING_EXT carries at most 65535 bytes; longer byte lists are LIST_EXT. */
export const MAX_STRING_EXT_LENGTH = 0xffff;
/** NEWER_REFERENCE_EXT id words OTP accepts. */
export const MAX_REFERENCE_IDS = 5;
/** Erlang functions take at most 255 arguments; EXPORT_EXT carries the arity as SMALL_INTEGER_EXT. */
export const MAX_ARITY = 255;
/** FLOAT_EXT (pre-R11B) holds the float as text in a fixed field of this many bytes. */
export const FLOAT_EXT_TEXT_BYTES = 31;
/** NEW_FUN_EXT after its tag: Size:4, Arity:1, Uniq:16, Index:4, NumFree:4, then variable fields. */
export const NewFunLayout = {
  ARITY_AT: 4,
  UNIQ_AT: 5,
  INDEX_AT: 21,
  NUM_FREE_AT: 25,
  FIXED_BYTES: 29,
} as const;
