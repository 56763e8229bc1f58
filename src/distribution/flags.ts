/**
 * Distribution capability flags (DFLAG_*), as OTP's erts/emulator/beam/dist.h defines them.
 * Flags are 64-bit since the version 6 handshake (OTP 23), so they are bigints here.
 */

export const DistFlags = {
  PUBLISHED: 0x1n,
  ATOM_CACHE: 0x2n,
  EXTENDED_REFERENCES: 0x4n,
  DIST_MONITOR: 0x8n,
  FUN_TAGS: 0x10n,
  DIST_MONITOR_NAME: 0x20n,
  HIDDEN_ATOM_CACHE: 0x40n,
  NEW_FUN_TAGS: 0x80n,
  EXTENDED_PIDS_PORTS: 0x100n,
  EXPORT_PTR_TAG: 0x200n,
  BIT_BINARIES: 0x400n,
  NEW_FLOATS: 0x800n,
  UNICODE_IO: 0x1000n,
  DIST_HDR_ATOM_CACHE: 0x2000n,
  SMALL_ATOM_TAGS: 0x4000n,
  /** Internal to the emulator (ETS compression); never sent. */
  ETS_COMPRESSED: 0x8000n,
  UTF8_ATOMS: 0x10000n,
  MAP_TAG: 0x20000n,
  BIG_CREATION: 0x40000n,
  SEND_SENDER: 0x80000n,
  BIG_SEQTRACE_LABELS: 0x100000n,
  /** Internal to the emulator (pending connection); never sent. */
  PENDING_CONNECT: 0x200000n,
  EXIT_PAYLOAD: 0x400000n,
  FRAGMENTS: 0x800000n,
  HANDSHAKE_23: 0x1000000n,
  UNLINK_ID: 0x2000000n,
  /**
   * Stands for all of DIST_MANDATORY_25 in one bit. OTP's sources say 0x4000000; some
   * versions of erl_dist_protocol.md print a different value.
   */
  MANDATORY_25_DIGEST: 0x4000000n,
  RESERVED: 0xf8000000n,
  SPAWN: 1n << 32n,
  NAME_ME: 2n << 32n,
  V4_NC: 4n << 32n,
  ALIAS: 8n << 32n,
  /** Internal (LOCAL_EXT terms between nodes of the same emulator); never sent. */
  LOCAL_EXT: 0x10n << 32n,
  /** OTP 28+: ALTACT_SIG_SEND (op 37) replaces ALIAS_SEND. */
  ALTACT_SIG: 0x20n << 32n,
} as const;

export type DistFlagName = keyof typeof DistFlags;

/** What OTP 25 requires of every peer. */
export const DIST_MANDATORY_25 =
  DistFlags.EXTENDED_REFERENCES |
  DistFlags.FUN_TAGS |
  DistFlags.EXTENDED_PIDS_PORTS |
  DistFlags.UTF8_ATOMS |
  DistFlags.NEW_FUN_TAGS |
  DistFlags.BIG_CREATION |
  DistFlags.NEW_FLOATS |
  DistFlags.MAP_TAG |
  DistFlags.EXPORT_PTR_TAG |
  DistFlags.BIT_BINARIES |
  DistFlags.HANDSHAKE_23;

/** What OTP 26 added to the mandatory set. */
export const DIST_MANDATORY_26 = DistFlags.V4_NC | DistFlags.UNLINK_ID;

export const DIST_MANDATORY = DIST_MANDATORY_25 | DIST_MANDATORY_26;

/**
 * The flags this implementation offers. With ALTACT_SIG, OTP 28+ peers send alias messages
 * (gen:reply) as ALTACT_SIG_SEND (op 37) instead of the deprecated ALIAS_SEND; we keep sending
 * ALIAS_SEND, which every release since OTP 24 accepts.
 */
export const DEFAULT_FLAGS =
  DIST_MANDATORY |
  DistFlags.MANDATORY_25_DIGEST |
  DistFlags.DIST_MONITOR |
  DistFlags.DIST_MONITOR_NAME |
  DistFlags.UNICODE_IO |
  DistFlags.DIST_HDR_ATOM_CACHE |
  DistFlags.SMALL_ATOM_TAGS |
  DistFlags.SEND_SENDER |
  DistFlags.BIG_SEQTRACE_LABELS |
  DistFlags.EXIT_PAYLOAD |
  DistFlags.FRAGMENTS |
  DistFlags.SPAWN |
  DistFlags.ALIAS |
  DistFlags.ALTACT_SIG;

export function hasFlag(flags: bigint, flag: bigint): boolean {
  return (flags & flag) === flag;
}

/** A peer may announce the whole OTP 25 mandatory set with the single digest bit. */
export function expandMandatory25(flags: bigint): bigint {
  return hasFlag(flags, DistFlags.MANDATORY_25_DIGEST) ? flags | DIST_MANDATORY_25 : flags;
}

/** What a peer must offer for us to talk to it (OTP 26's mandatory set, as in dist_util). */
export function missingMandatory(peerFlags: bigint): bigint {
  return DIST_MANDATORY & ~expandMandatory25(peerFlags);
}

/** Names of the flags set in `flags`, for logs and error messages. */
export function flagNames(flags: bigint): string[] {
  const names: string[] = [];
  let known = 0n;
  for (const [name, bit] of Object.entries(DistFlags)) {
    if (name === 'RESERVED') continue;
    known |= bit;
    if ((flags & bit) !== 0n) names.push(name);
  }
  const unknown = flags & ~known;
  if (unknown !== 0n) names.push(`0x${unknown.toString(16)}`);
  return names;
}
