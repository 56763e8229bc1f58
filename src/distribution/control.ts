/**
 * Control messages (erl_dist_protocol.md, "Protocol between Connected Nodes"): every op from
 * 1 to 37 decoded into a {@link Signal}, and signals encoded with the best op the peer's flags
 * allow (SEND_SENDER over SEND, PAYLOAD_EXIT over EXIT, ...). Terms in, terms out; no I/O.
 */
import { DistError } from '../errors.ts';
import { Atom, atom, Pid, Reference, Tuple, tuple, type Term } from '../etf/terms.ts';
import { DistFlags, hasFlag } from './flags.ts';
import type { DistMessage } from './header.ts';

export const ControlOp = {
  LINK: 1,
  SEND: 2,
  EXIT: 3,
  UNLINK: 4,
  REG_SEND: 6,
  GROUP_LEADER: 7,
  EXIT2: 8,
  SEND_TT: 12,
  EXIT_TT: 13,
  REG_SEND_TT: 16,
  EXIT2_TT: 18,
  MONITOR_P: 19,
  DEMONITOR_P: 20,
  MONITOR_P_EXIT: 21,
  SEND_SENDER: 22,
  SEND_SENDER_TT: 23,
  PAYLOAD_EXIT: 24,
  PAYLOAD_EXIT_TT: 25,
  PAYLOAD_EXIT2: 26,
  PAYLOAD_EXIT2_TT: 27,
  PAYLOAD_MONITOR_P_EXIT: 28,
  SPAWN_REQUEST: 29,
  SPAWN_REQUEST_TT: 30,
  SPAWN_REPLY: 31,
  SPAWN_REPLY_TT: 32,
  ALIAS_SEND: 33,
  ALIAS_SEND_TT: 34,
  UNLINK_ID: 35,
  UNLINK_ID_ACK: 36,
  ALTACT_SIG_SEND: 37,
} as const;

export type ControlOpName = keyof typeof ControlOp;

/** SPAWN_REPLY flag bits (ERTS_DIST_SPAWN_FLAG_*). */
export const SpawnReplyFlag = { LINK: 1, MONITOR: 2 } as const;
/** ALTACT_SIG_SEND flag bits (ERTS_DOP_ALTACT_SIG_FLG_*), OTP 28+. */
export const AltActFlag = { PRIO: 1, TOKEN: 2, ALIAS: 4, NAME: 8, EXIT: 16 } as const;

/** A process on either side, or a registered name (monitors by name). */
export type ProcessRef = Pid | Atom;

/** What a control message means, independent of which op variant carried it. */
export type Signal =
  | { kind: 'link'; from: Pid; to: Pid }
  | { kind: 'unlink'; from: Pid; to: Pid }
  | { kind: 'unlink_id'; id: bigint; from: Pid; to: Pid }
  | { kind: 'unlink_id_ack'; id: bigint; from: Pid; to: Pid }
  | { kind: 'send'; from: Pid | undefined; to: Pid; message: Term; token?: Term }
  | { kind: 'reg_send'; from: Pid; to: Atom; message: Term; token?: Term }
  | { kind: 'alias_send'; from: Pid; alias: Reference; message: Term; token?: Term }
  /** A link broke: the linked process `from` exited with `reason`. */
  | { kind: 'exit'; from: Pid; to: Pid; reason: Term; token?: Term }
  /** erlang:exit(To, Reason) sent by `from`. */
  | { kind: 'exit2'; from: Pid; to: Pid; reason: Term; token?: Term }
  | { kind: 'group_leader'; from: Pid; to: Pid }
  | { kind: 'monitor'; from: Pid; to: ProcessRef; ref: Reference }
  | { kind: 'demonitor'; from: Pid; to: ProcessRef; ref: Reference }
  | { kind: 'monitor_exit'; from: ProcessRef; to: Pid; ref: Reference; reason: Term }
  | {
      kind: 'spawn_request';
      reqId: Reference;
      from: Pid;
      groupLeader: Pid;
      module: Atom;
      function: Atom;
      arity: number;
      options: Term[];
      args: Term[];
      token?: Term;
    }
  /** `result` is the new pid, or the error reason atom. */
  | { kind: 'spawn_reply'; reqId: Reference; to: Pid; flags: number; result: Term; token?: Term }
  /** OTP 28+: {37, Flags, SenderPid, To[, Token]}: a message or exit signal to a pid, alias or name (flags say which). */
  | { kind: 'altact_sig'; flags: number; from: Pid; target: Term; payload: Term; token?: Term };

/** The signal of one kind. */
export type SignalOf<K extends Signal['kind']> = Extract<Signal, { kind: K }>;

function bad(message: string): DistError {
  return new DistError('DIST_BAD_CONTROL', message);
}

function pid(t: Term | undefined, what: string): Pid {
  if (t instanceof Pid) return t;
  throw bad(`${what} is not a pid`);
}

function ref(t: Term | undefined, what: string): Reference {
  if (t instanceof Reference) return t;
  throw bad(`${what} is not a reference`);
}

function procRef(t: Term | undefined, what: string): ProcessRef {
  if (t instanceof Pid || t instanceof Atom) return t;
  throw bad(`${what} is neither a pid nor a name`);
}

function anAtom(t: Term | undefined, what: string): Atom {
  if (t instanceof Atom) return t;
  // The ETF decoder turns the atoms true/false into booleans.
  if (typeof t === 'boolean') return atom(String(t));
  throw bad(`${what} is not an atom`);
}

function integer(t: Term | undefined, what: string): bigint {
  if (typeof t === 'number' && Number.isInteger(t)) return BigInt(t);
  if (typeof t === 'bigint') return t;
  throw bad(`${what} is not an integer`);
}

/** Flag words and arities are small and non-negative; this bound keeps them exact under JS bit operations. */
const MAX_SMALL_INTEGER = 0x7fffffff;

function smallInteger(t: Term | undefined, what: string): number {
  const n = integer(t, what);
  if (n < 0n || n > BigInt(MAX_SMALL_INTEGER)) throw bad(`${what} ${n} is out of range`);
  return Number(n);
}

function list(t: Term | undefined, what: string): Term[] {
  if (Array.isArray(t)) return t;
  if (typeof t === 'string' && t.length === 0) return [];
  throw bad(`${what} is not a proper list`);
}

function anyTerm(t: Term | undefined): Term {
  return t as Term;
}

/** A signal seen as its fields, while it is decoded or encoded. */
type Fields = Record<string, unknown>;

/** One element of a control tuple, or the payload: how it reads into a signal and is written back. */
interface Slot {
  read(t: Term | undefined, into: Fields): void;
  write(s: Fields): Term;
}

/** The slot of signal field `name`, checked by `check` on the way in. */
function slot(name: string, check: (t: Term | undefined, what: string) => unknown, what = name): Slot {
  return {
    read: (t, into) => {
      into[name] = check(t, what);
    },
    write: (s) => s[name] as Term,
  };
}

const UNUSED: Term = atom('');

// The slots of every send, written out: they skip slot()'s keyed property access, which V8 cannot
// specialise (a send then decodes and encodes in about a third less time).
const from: Slot = {
  read: (t, into) => {
    into.from = pid(t, 'from');
  },
  write: (s) => s.from as Term,
};
const to: Slot = {
  read: (t, into) => {
    into.to = pid(t, 'to');
  },
  write: (s) => s.to as Term,
};
const token = slot('token', anyTerm);
const reason = slot('reason', anyTerm);
const message: Slot = {
  read: (t, into) => {
    into.message = t;
  },
  write: (s) => s.message as Term,
};
const monitorRef = slot('ref', ref, 'monitor reference');
const reqId = slot('reqId', ref, 'request id');
const regName = slot('to', anAtom, 'name');
const monitored = slot('to', procRef, 'monitored process');
const monitorSender = slot('from', procRef);
const alias = slot('alias', ref);
const unlinkId = slot('id', integer, 'unlink id');
const spawnFlags = slot('flags', smallInteger);
const spawnResult = slot('result', anyTerm);
const spawnArgs = slot('args', list, 'spawn arguments');
/** SEND's sender slot: unused, so no sender on the signal and the empty atom on the wire. */
const noSender: Slot = {
  read: (_t, into) => {
    into.from = undefined;
  },
  write: () => UNUSED,
};
/** REG_SEND's unused slot. */
const unused: Slot = { read: () => undefined, write: () => UNUSED };
const spawnMfa: Slot = {
  read: (t, into) => {
    if (!(t instanceof Tuple) || t.length !== 3) throw bad('spawn request without {Module, Function, Arity}');
    into.module = anAtom(t.elements[0], 'module');
    into.function = anAtom(t.elements[1], 'function');
    into.arity = smallInteger(t.elements[2], 'arity');
  },
  write: (s) => tuple(s.module as Atom, s.function as Atom, s.arity as number),
};
const spawnRequest = [
  reqId,
  from,
  slot('groupLeader', pid, 'group leader'),
  spawnMfa,
  slot('options', list, 'spawn options'),
];
/** ALTACT_SIG_SEND's flags: the TOKEN bit says whether the trace token follows. */
const altActFlags: Slot = {
  read: (t, into) => {
    into.flags = smallInteger(t, 'altact flags');
  },
  write: (s) =>
    s.token === undefined ? (s.flags as number) & ~AltActFlag.TOKEN : (s.flags as number) | AltActFlag.TOKEN,
};
const altActToken: Slot = {
  read: (t, into) => {
    const traced = ((into.flags as number) & AltActFlag.TOKEN) !== 0;
    if (traced !== (t !== undefined))
      throw bad(`altact flags ${String(into.flags)} disagree with the trace token`);
    if (traced) into.token = t;
  },
  write: (s) => s.token as Term,
};

interface OpSpec {
  kind: Signal['kind'];
  /** The control tuple's elements after the op. */
  elements: readonly Slot[];
  /** The term sent after the control message, for ops that carry one. */
  payload?: Slot;
  /** The last element, the trace token, is there only when the flags say so (ALTACT_SIG_SEND). */
  optionalToken?: true;
  /** Chosen over the other ops of its kind when this holds. */
  prefer?: (s: Fields, flags: bigint) => boolean;
}

const knownSender = (s: Fields, flags: bigint) =>
  s.from !== undefined && hasFlag(flags, DistFlags.SEND_SENDER);
const exitPayload = (_s: Fields, flags: bigint) => hasFlag(flags, DistFlags.EXIT_PAYLOAD);

/** Every op, both ways: decoding reads its slots into a signal, encoding writes them back. */
const OPS: Record<ControlOpName, OpSpec> = {
  LINK: { kind: 'link', elements: [from, to] },
  SEND: { kind: 'send', elements: [noSender, to], payload: message },
  EXIT: { kind: 'exit', elements: [from, to, reason] },
  UNLINK: { kind: 'unlink', elements: [from, to] },
  REG_SEND: { kind: 'reg_send', elements: [from, unused, regName], payload: message },
  GROUP_LEADER: { kind: 'group_leader', elements: [from, to] },
  EXIT2: { kind: 'exit2', elements: [from, to, reason] },
  SEND_TT: { kind: 'send', elements: [noSender, to, token], payload: message },
  EXIT_TT: { kind: 'exit', elements: [from, to, token, reason] },
  REG_SEND_TT: { kind: 'reg_send', elements: [from, unused, regName, token], payload: message },
  EXIT2_TT: { kind: 'exit2', elements: [from, to, token, reason] },
  MONITOR_P: { kind: 'monitor', elements: [from, monitored, monitorRef] },
  DEMONITOR_P: { kind: 'demonitor', elements: [from, monitored, monitorRef] },
  MONITOR_P_EXIT: { kind: 'monitor_exit', elements: [monitorSender, to, monitorRef, reason] },
  SEND_SENDER: { kind: 'send', elements: [from, to], payload: message, prefer: knownSender },
  SEND_SENDER_TT: { kind: 'send', elements: [from, to, token], payload: message, prefer: knownSender },
  PAYLOAD_EXIT: { kind: 'exit', elements: [from, to], payload: reason, prefer: exitPayload },
  PAYLOAD_EXIT_TT: { kind: 'exit', elements: [from, to, token], payload: reason, prefer: exitPayload },
  PAYLOAD_EXIT2: { kind: 'exit2', elements: [from, to], payload: reason, prefer: exitPayload },
  PAYLOAD_EXIT2_TT: { kind: 'exit2', elements: [from, to, token], payload: reason, prefer: exitPayload },
  PAYLOAD_MONITOR_P_EXIT: {
    kind: 'monitor_exit',
    elements: [monitorSender, to, monitorRef],
    payload: reason,
    prefer: exitPayload,
  },
  SPAWN_REQUEST: { kind: 'spawn_request', elements: spawnRequest, payload: spawnArgs },
  SPAWN_REQUEST_TT: { kind: 'spawn_request', elements: [...spawnRequest, token], payload: spawnArgs },
  SPAWN_REPLY: { kind: 'spawn_reply', elements: [reqId, to, spawnFlags, spawnResult] },
  SPAWN_REPLY_TT: { kind: 'spawn_reply', elements: [reqId, to, spawnFlags, spawnResult, token] },
  ALIAS_SEND: { kind: 'alias_send', elements: [from, alias], payload: message },
  ALIAS_SEND_TT: { kind: 'alias_send', elements: [from, alias, token], payload: message },
  UNLINK_ID: { kind: 'unlink_id', elements: [unlinkId, from, to] },
  UNLINK_ID_ACK: { kind: 'unlink_id_ack', elements: [unlinkId, from, to] },
  ALTACT_SIG_SEND: {
    kind: 'altact_sig',
    elements: [altActFlags, from, slot('target', anyTerm), altActToken],
    payload: slot('payload', anyTerm),
    optionalToken: true,
  },
};

/** Tuple size of each op's control message (the shortest, for ALTACT_SIG_SEND), and whether a payload term follows it. */
export const ControlShape: Record<number, { name: ControlOpName; arity: number; payload: boolean }> = {};

interface Encoder {
  op: number;
  spec: OpSpec;
}

const specByOp: (OpSpec | undefined)[] = [];
/** Per signal kind, the ops that carry a trace token and those that do not; preferred ones first. */
const tracedEncoders = new Map<Signal['kind'], Encoder[]>();
const untracedEncoders = new Map<Signal['kind'], Encoder[]>();
for (const [name, spec] of Object.entries(OPS) as [ControlOpName, OpSpec][]) {
  const op = ControlOp[name];
  const arity = spec.elements.length + (spec.optionalToken === true ? 0 : 1);
  ControlShape[op] = { name, arity, payload: spec.payload !== undefined };
  specByOp[op] = spec;
  const lists = [];
  if (spec.optionalToken === true || spec.elements.includes(token)) lists.push(tracedEncoders);
  if (!spec.elements.includes(token)) lists.push(untracedEncoders);
  for (const byKind of lists) {
    const encoders = byKind.get(spec.kind) ?? [];
    if (spec.prefer !== undefined) encoders.unshift({ op, spec });
    else encoders.push({ op, spec });
    byKind.set(spec.kind, encoders);
  }
}

/** Turns a decoded distribution message into a signal. Throws {@link DistError} (DIST_BAD_CONTROL). */
export function decodeSignal(msg: DistMessage): Signal {
  const c = msg.control;
  if (!(c instanceof Tuple) || c.length === 0) throw bad('control message is not a tuple');
  const e = c.elements;
  const op = e[0];
  const spec = typeof op === 'number' ? specByOp[op] : undefined;
  const shape = typeof op === 'number' ? ControlShape[op] : undefined;
  if (spec === undefined || shape === undefined) throw bad(`unknown control op ${String(op)}`);
  const full = spec.elements.length + 1;
  if (e.length !== full && !(spec.optionalToken === true && e.length === full - 1))
    throw bad(`${shape.name} with ${e.length} elements, expected ${shape.arity}`);
  if (shape.payload !== (msg.payload !== undefined)) {
    throw bad(`${shape.name} ${shape.payload ? 'without' : 'with'} a payload`);
  }
  const signal: Fields = { kind: spec.kind };
  for (let i = 0; i < spec.elements.length; i++) spec.elements[i]!.read(e[i + 1], signal);
  spec.payload?.read(msg.payload, signal);
  return signal as unknown as Signal;
}

export interface EncodedSignal {
  control: Tuple;
  payload?: Term;
}

/**
 * Encodes a signal with the op the peer's `flags` allow. Trace tokens are carried over
 * (with the _TT variants) when present.
 */
export function encodeSignal(s: Signal, flags: bigint): EncodedSignal {
  const fields = s as unknown as Fields;
  const traced = fields.token !== undefined;
  // Kinds without a _TT op send a stray token nowhere.
  const encoders = (traced ? tracedEncoders.get(s.kind) : undefined) ?? untracedEncoders.get(s.kind);
  if (encoders === undefined) throw new DistError('DIST_BAD_SIGNAL', `unknown signal kind ${String(s.kind)}`);
  let encoder = encoders[encoders.length - 1]!;
  for (const e of encoders) {
    if (e.spec.prefer === undefined || e.spec.prefer(fields, flags)) {
      encoder = e;
      break;
    }
  }
  const spec = encoder.spec;
  const count = spec.optionalToken === true && !traced ? spec.elements.length - 1 : spec.elements.length;
  const elements = new Array<Term>(count + 1);
  elements[0] = encoder.op;
  for (let i = 0; i < count; i++) elements[i + 1] = spec.elements[i]!.write(fields);
  const control = new Tuple(elements);
  return spec.payload === undefined ? { control } : { control, payload: spec.payload.write(fields) };
}
