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

/** Tuple size of each op's control message, and whether a payload term follows it. */
export const ControlShape: Record<number, { name: ControlOpName; arity: number; payload: boolean }> = {};
const shapes: [ControlOpName, number, boolean][] = [
  ['LINK', 3, false],
  ['SEND', 3, true],
  ['EXIT', 4, false],
  ['UNLINK', 3, false],
  ['REG_SEND', 4, true],
  ['GROUP_LEADER', 3, false],
  ['EXIT2', 4, false],
  ['SEND_TT', 4, true],
  ['EXIT_TT', 5, false],
  ['REG_SEND_TT', 5, true],
  ['EXIT2_TT', 5, false],
  ['MONITOR_P', 4, false],
  ['DEMONITOR_P', 4, false],
  ['MONITOR_P_EXIT', 5, false],
  ['SEND_SENDER', 3, true],
  ['SEND_SENDER_TT', 4, true],
  ['PAYLOAD_EXIT', 3, true],
  ['PAYLOAD_EXIT_TT', 4, true],
  ['PAYLOAD_EXIT2', 3, true],
  ['PAYLOAD_EXIT2_TT', 4, true],
  ['PAYLOAD_MONITOR_P_EXIT', 4, true],
  ['SPAWN_REQUEST', 6, true],
  ['SPAWN_REQUEST_TT', 7, true],
  ['SPAWN_REPLY', 5, false],
  ['SPAWN_REPLY_TT', 6, false],
  ['ALIAS_SEND', 3, true],
  ['ALIAS_SEND_TT', 4, true],
  ['UNLINK_ID', 4, false],
  ['UNLINK_ID_ACK', 4, false],
  ['ALTACT_SIG_SEND', 4, true],
];
for (const [name, arity, payload] of shapes) ControlShape[ControlOp[name]] = { name, arity, payload };

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

function list(t: Term | undefined, what: string): Term[] {
  if (Array.isArray(t)) return t;
  if (typeof t === 'string' && t.length === 0) return [];
  throw bad(`${what} is not a proper list`);
}

/** Turns a decoded distribution message into a signal. Throws {@link DistError} (DIST_BAD_CONTROL). */
export function decodeSignal(msg: DistMessage): Signal {
  const c = msg.control;
  if (!(c instanceof Tuple) || c.length === 0) throw bad('control message is not a tuple');
  const e = c.elements;
  const op = e[0];
  const shape = typeof op === 'number' ? ControlShape[op] : undefined;
  if (shape === undefined) throw bad(`unknown control op ${String(op)}`);
  // ALTACT_SIG_SEND appends the trace token as a fifth element when its TOKEN flag is set.
  const arity = op === ControlOp.ALTACT_SIG_SEND && e.length === 5 ? 5 : shape.arity;
  if (e.length !== arity) throw bad(`${shape.name} with ${e.length} elements, expected ${shape.arity}`);
  if (shape.payload !== (msg.payload !== undefined)) {
    throw bad(`${shape.name} ${shape.payload ? 'without' : 'with'} a payload`);
  }
  const payload = msg.payload as Term;
  switch (op) {
    case ControlOp.LINK:
      return { kind: 'link', from: pid(e[1], 'from'), to: pid(e[2], 'to') };
    case ControlOp.UNLINK:
      return { kind: 'unlink', from: pid(e[1], 'from'), to: pid(e[2], 'to') };
    case ControlOp.UNLINK_ID:
    case ControlOp.UNLINK_ID_ACK:
      return {
        kind: op === ControlOp.UNLINK_ID ? 'unlink_id' : 'unlink_id_ack',
        id: integer(e[1], 'unlink id'),
        from: pid(e[2], 'from'),
        to: pid(e[3], 'to'),
      };
    case ControlOp.SEND:
      return { kind: 'send', from: undefined, to: pid(e[2], 'to'), message: payload };
    case ControlOp.SEND_TT:
      return { kind: 'send', from: undefined, to: pid(e[2], 'to'), message: payload, token: e[3] as Term };
    case ControlOp.SEND_SENDER:
      return { kind: 'send', from: pid(e[1], 'from'), to: pid(e[2], 'to'), message: payload };
    case ControlOp.SEND_SENDER_TT:
      return {
        kind: 'send',
        from: pid(e[1], 'from'),
        to: pid(e[2], 'to'),
        message: payload,
        token: e[3] as Term,
      };
    case ControlOp.REG_SEND:
      return { kind: 'reg_send', from: pid(e[1], 'from'), to: anAtom(e[3], 'name'), message: payload };
    case ControlOp.REG_SEND_TT:
      return {
        kind: 'reg_send',
        from: pid(e[1], 'from'),
        to: anAtom(e[3], 'name'),
        message: payload,
        token: e[4] as Term,
      };
    case ControlOp.ALIAS_SEND:
      return { kind: 'alias_send', from: pid(e[1], 'from'), alias: ref(e[2], 'alias'), message: payload };
    case ControlOp.ALIAS_SEND_TT:
      return {
        kind: 'alias_send',
        from: pid(e[1], 'from'),
        alias: ref(e[2], 'alias'),
        message: payload,
        token: e[3] as Term,
      };
    case ControlOp.EXIT:
    case ControlOp.EXIT2:
      return {
        kind: op === ControlOp.EXIT ? 'exit' : 'exit2',
        from: pid(e[1], 'from'),
        to: pid(e[2], 'to'),
        reason: e[3] as Term,
      };
    case ControlOp.EXIT_TT:
    case ControlOp.EXIT2_TT:
      return {
        kind: op === ControlOp.EXIT_TT ? 'exit' : 'exit2',
        from: pid(e[1], 'from'),
        to: pid(e[2], 'to'),
        token: e[3] as Term,
        reason: e[4] as Term,
      };
    case ControlOp.PAYLOAD_EXIT:
    case ControlOp.PAYLOAD_EXIT2:
      return {
        kind: op === ControlOp.PAYLOAD_EXIT ? 'exit' : 'exit2',
        from: pid(e[1], 'from'),
        to: pid(e[2], 'to'),
        reason: payload,
      };
    case ControlOp.PAYLOAD_EXIT_TT:
    case ControlOp.PAYLOAD_EXIT2_TT:
      return {
        kind: op === ControlOp.PAYLOAD_EXIT_TT ? 'exit' : 'exit2',
        from: pid(e[1], 'from'),
        to: pid(e[2], 'to'),
        token: e[3] as Term,
        reason: payload,
      };
    case ControlOp.GROUP_LEADER:
      return { kind: 'group_leader', from: pid(e[1], 'from'), to: pid(e[2], 'to') };
    case ControlOp.MONITOR_P:
    case ControlOp.DEMONITOR_P:
      return {
        kind: op === ControlOp.MONITOR_P ? 'monitor' : 'demonitor',
        from: pid(e[1], 'from'),
        to: procRef(e[2], 'monitored process'),
        ref: ref(e[3], 'monitor reference'),
      };
    case ControlOp.MONITOR_P_EXIT:
      return {
        kind: 'monitor_exit',
        from: procRef(e[1], 'from'),
        to: pid(e[2], 'to'),
        ref: ref(e[3], 'ref'),
        reason: e[4] as Term,
      };
    case ControlOp.PAYLOAD_MONITOR_P_EXIT:
      return {
        kind: 'monitor_exit',
        from: procRef(e[1], 'from'),
        to: pid(e[2], 'to'),
        ref: ref(e[3], 'ref'),
        reason: payload,
      };
    case ControlOp.SPAWN_REQUEST:
    case ControlOp.SPAWN_REQUEST_TT: {
      const mfa = e[4];
      if (!(mfa instanceof Tuple) || mfa.length !== 3)
        throw bad('spawn request without {Module, Function, Arity}');
      const signal: Signal = {
        kind: 'spawn_request',
        reqId: ref(e[1], 'request id'),
        from: pid(e[2], 'from'),
        groupLeader: pid(e[3], 'group leader'),
        module: anAtom(mfa.elements[0], 'module'),
        function: anAtom(mfa.elements[1], 'function'),
        arity: Number(integer(mfa.elements[2], 'arity')),
        options: list(e[5], 'spawn options'),
        args: list(payload, 'spawn arguments'),
      };
      if (op === ControlOp.SPAWN_REQUEST_TT) signal.token = e[6] as Term;
      return signal;
    }
    case ControlOp.SPAWN_REPLY:
    case ControlOp.SPAWN_REPLY_TT: {
      const signal: Signal = {
        kind: 'spawn_reply',
        reqId: ref(e[1], 'request id'),
        to: pid(e[2], 'to'),
        flags: Number(integer(e[3], 'flags')),
        result: e[4] as Term,
      };
      if (op === ControlOp.SPAWN_REPLY_TT) signal.token = e[5] as Term;
      return signal;
    }
    case ControlOp.ALTACT_SIG_SEND: {
      const flags = Number(integer(e[1], 'altact flags'));
      const signal: Signal = {
        kind: 'altact_sig',
        flags,
        from: pid(e[2], 'from'),
        target: e[3] as Term,
        payload,
      };
      if ((flags & AltActFlag.TOKEN) !== 0) signal.token = e[4] as Term;
      return signal;
    }
    default:
      throw bad(`unhandled control op ${String(op)}`);
  }
}

export interface EncodedSignal {
  control: Tuple;
  payload?: Term;
}

const UNUSED: Term = atom('');

/**
 * Encodes a signal with the op the peer's `flags` allow. Trace tokens are carried over
 * (with the _TT variants) when present.
 */
export function encodeSignal(s: Signal, flags: bigint): EncodedSignal {
  const payloadExit = hasFlag(flags, DistFlags.EXIT_PAYLOAD);
  switch (s.kind) {
    case 'link':
      return { control: tuple(ControlOp.LINK, s.from, s.to) };
    case 'unlink':
      return { control: tuple(ControlOp.UNLINK, s.from, s.to) };
    case 'unlink_id':
      return { control: tuple(ControlOp.UNLINK_ID, s.id, s.from, s.to) };
    case 'unlink_id_ack':
      return { control: tuple(ControlOp.UNLINK_ID_ACK, s.id, s.from, s.to) };
    case 'send':
      if (s.from !== undefined && hasFlag(flags, DistFlags.SEND_SENDER)) {
        return s.token === undefined
          ? { control: tuple(ControlOp.SEND_SENDER, s.from, s.to), payload: s.message }
          : { control: tuple(ControlOp.SEND_SENDER_TT, s.from, s.to, s.token), payload: s.message };
      }
      return s.token === undefined
        ? { control: tuple(ControlOp.SEND, UNUSED, s.to), payload: s.message }
        : { control: tuple(ControlOp.SEND_TT, UNUSED, s.to, s.token), payload: s.message };
    case 'reg_send':
      return s.token === undefined
        ? { control: tuple(ControlOp.REG_SEND, s.from, UNUSED, s.to), payload: s.message }
        : { control: tuple(ControlOp.REG_SEND_TT, s.from, UNUSED, s.to, s.token), payload: s.message };
    case 'alias_send':
      return s.token === undefined
        ? { control: tuple(ControlOp.ALIAS_SEND, s.from, s.alias), payload: s.message }
        : { control: tuple(ControlOp.ALIAS_SEND_TT, s.from, s.alias, s.token), payload: s.message };
    case 'exit':
    case 'exit2': {
      const link = s.kind === 'exit';
      if (payloadExit) {
        const op =
          s.token === undefined
            ? link
              ? ControlOp.PAYLOAD_EXIT
              : ControlOp.PAYLOAD_EXIT2
            : link
              ? ControlOp.PAYLOAD_EXIT_TT
              : ControlOp.PAYLOAD_EXIT2_TT;
        return {
          control: s.token === undefined ? tuple(op, s.from, s.to) : tuple(op, s.from, s.to, s.token),
          payload: s.reason,
        };
      }
      if (s.token === undefined)
        return { control: tuple(link ? ControlOp.EXIT : ControlOp.EXIT2, s.from, s.to, s.reason) };
      return {
        control: tuple(link ? ControlOp.EXIT_TT : ControlOp.EXIT2_TT, s.from, s.to, s.token, s.reason),
      };
    }
    case 'group_leader':
      return { control: tuple(ControlOp.GROUP_LEADER, s.from, s.to) };
    case 'monitor':
      return { control: tuple(ControlOp.MONITOR_P, s.from, s.to, s.ref) };
    case 'demonitor':
      return { control: tuple(ControlOp.DEMONITOR_P, s.from, s.to, s.ref) };
    case 'monitor_exit':
      return payloadExit
        ? { control: tuple(ControlOp.PAYLOAD_MONITOR_P_EXIT, s.from, s.to, s.ref), payload: s.reason }
        : { control: tuple(ControlOp.MONITOR_P_EXIT, s.from, s.to, s.ref, s.reason) };
    case 'spawn_request': {
      const mfa = tuple(s.module, s.function, s.arity);
      return s.token === undefined
        ? {
            control: tuple(ControlOp.SPAWN_REQUEST, s.reqId, s.from, s.groupLeader, mfa, s.options),
            payload: s.args,
          }
        : {
            control: tuple(
              ControlOp.SPAWN_REQUEST_TT,
              s.reqId,
              s.from,
              s.groupLeader,
              mfa,
              s.options,
              s.token,
            ),
            payload: s.args,
          };
    }
    case 'spawn_reply':
      return s.token === undefined
        ? { control: tuple(ControlOp.SPAWN_REPLY, s.reqId, s.to, s.flags, s.result) }
        : { control: tuple(ControlOp.SPAWN_REPLY_TT, s.reqId, s.to, s.flags, s.result, s.token) };
    case 'altact_sig': {
      if (s.token === undefined)
        return {
          control: tuple(ControlOp.ALTACT_SIG_SEND, s.flags & ~AltActFlag.TOKEN, s.from, s.target),
          payload: s.payload,
        };
      return {
        control: tuple(ControlOp.ALTACT_SIG_SEND, s.flags | AltActFlag.TOKEN, s.from, s.target, s.token),
        payload: s.payload,
      };
    }
  }
}
