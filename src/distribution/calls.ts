/**
 * Calls this node makes: gen:call (monitor + alias, as OTP 24+) and rpc:call (erpc's
 * SPAWN_REQUEST of erpc:execute_call), with their failures mapped to {@link CallError} and
 * {@link BadRpcError} the way Erlang reports them.
 */
import { formatTerm } from '../etf/format.ts';
import { atom, Atom, ImproperList, Pid, Reference, Tuple, tuple, type Term } from '../etf/terms.ts';
import { BadRpcError, CallError, ReceiveTimeout } from './errors.ts';
import type { ExposedModules } from './exposed.ts';
import type { Peers, ProcessTable } from './process-table.ts';
import { ATOM_NORMAL, isAtom, sameRef, type Destination, type Process } from './process.ts';
import type { Router } from './router.ts';

export interface CallerOptions {
  table: ProcessTable;
  router: Pick<Router, 'send'>;
  peers: Peers;
  /** Connects to `node`, rejecting when it cannot. */
  connect(node: string): Promise<unknown>;
  exposed: ExposedModules;
}

const A = {
  alias: atom('alias'),
  EXIT: atom('EXIT'),
  erpc: atom('erpc'),
  execute_call: atom('execute_call'),
  gen_call: atom('$gen_call'),
  monitor: atom('monitor'),
  nodedown: atom('nodedown'),
  timeout: atom('timeout'),
} as const;

export class Caller {
  private readonly table: ProcessTable;
  private readonly name: string;

  constructor(private readonly options: CallerOptions) {
    this.table = options.table;
    this.name = options.table.name;
  }

  /** gen_server:call from a short-lived process. */
  async call(dest: Destination, request: Term, timeoutMs: number): Promise<Term> {
    const proc = this.table.spawn();
    try {
      return await this.callFrom(proc, dest, request, timeoutMs);
    } finally {
      proc.terminate(ATOM_NORMAL);
    }
  }

  /** gen:call from `proc`, with a monitor that doubles as the reply alias (OTP 24+). */
  async callFrom(proc: Process, dest: Destination, request: Term, timeoutMs: number): Promise<Term> {
    const target: Destination = typeof dest === 'string' ? atom(dest) : dest;
    const mref = this.table.monitor(proc, target);
    this.table.addAlias(proc, mref);
    const tag = new ImproperList([A.alias], mref);
    const context = { node: this.nodeOf(target) };
    try {
      this.options.router.send(target, tuple(A.gen_call, tuple(proc.pid, tag), request), proc.pid);
      const msg = (await proc.receive(
        (m) =>
          m instanceof Tuple &&
          ((m.length === 2 && m.elements[0] instanceof ImproperList && sameRef(m.elements[0].tail, mref)) ||
            (m.length === 5 && isAtom(m.elements[0], 'DOWN') && sameRef(m.elements[1], mref))),
        timeoutMs,
      )) as Tuple;
      if (msg.length === 2) return msg.elements[1] as Term;
      const reason = msg.elements[4] as Term;
      throw new CallError(
        reason,
        `call to ${formatTerm(target as Term)} failed: ${formatTerm(reason)}`,
        context,
      );
    } catch (err) {
      if (err instanceof ReceiveTimeout) {
        const message = `call to ${formatTerm(target as Term)} timed out after ${timeoutMs} ms`;
        throw new CallError(A.timeout, message, context);
      }
      throw err;
    } finally {
      this.table.demonitor(proc, mref);
    }
  }

  /**
   * rpc:call: runs Module:Function(Args) on `node` via erpc; rejects with {@link BadRpcError}.
   * The process it runs in has `groupLeader` as its group leader (default: the calling process).
   */
  async rpc(
    node: string,
    module: string,
    fn: string,
    args: Term[],
    timeoutMs: number,
    groupLeader?: Pid,
  ): Promise<Term> {
    if (node === this.name) return this.options.exposed.call(node, module, fn, args);
    const proc = this.table.spawn();
    try {
      try {
        await this.options.connect(node);
      } catch {
        throw new BadRpcError(A.nodedown, node);
      }
      const resultRef = this.table.makeRef();
      const reqId = this.spawnRequest(
        proc,
        node,
        A.erpc,
        A.execute_call,
        [resultRef, atom(module), atom(fn), args],
        groupLeader,
      );
      const isMine = (m: Term): boolean =>
        m instanceof Tuple &&
        ((m.length === 4 &&
          isAtom(m.elements[0], 'spawn_reply') &&
          sameRef(m.elements[1], reqId) &&
          isAtom(m.elements[2], 'error')) ||
          (m.length === 5 && isAtom(m.elements[0], 'DOWN') && sameRef(m.elements[1], reqId)));
      let msg: Term;
      try {
        msg = await proc.receive(isMine, timeoutMs);
      } catch (err) {
        if (err instanceof ReceiveTimeout) {
          this.table.demonitor(proc, reqId);
          throw new BadRpcError(A.timeout, node);
        }
        throw err;
      }
      const m = msg as Tuple;
      if (m.length === 4)
        throw new BadRpcError(
          isAtom(m.elements[3], 'noconnection') ? A.nodedown : (m.elements[3] as Term),
          node,
        );
      return this.erpcResult(m.elements[4] as Term, resultRef, node);
    } finally {
      proc.terminate(ATOM_NORMAL);
    }
  }

  /** Sends SPAWN_REQUEST for M:F(Args) on `node`, monitored; returns the request id (= monitor ref). */
  private spawnRequest(
    proc: Process,
    node: string,
    module: Atom,
    fn: Atom,
    args: Term[],
    groupLeader: Pid = proc.pid,
  ): Reference {
    const reqId = this.table.makeRef();
    this.table.watchSpawn(proc, reqId, tuple(module, atom(node)), node);
    this.options.peers.send(node, {
      kind: 'spawn_request',
      reqId,
      from: proc.pid,
      groupLeader,
      module,
      function: fn,
      arity: args.length,
      options: [A.monitor],
      args,
    });
    return reqId;
  }

  /** Maps erpc:execute_call's exit reason to rpc:call's result. */
  private erpcResult(reason: Term, resultRef: Reference, node: string): Term {
    if (reason instanceof Tuple && reason.length >= 3 && sameRef(reason.elements[0], resultRef)) {
      const [, kind, value] = reason.elements;
      if (isAtom(kind, 'return') || isAtom(kind, 'throw')) return value as Term;
      if (isAtom(kind, 'exit')) throw new BadRpcError(tuple(A.EXIT, value as Term), node);
      if (isAtom(kind, 'error')) {
        const stack = reason.elements[3];
        throw new BadRpcError(
          tuple(A.EXIT, stack === undefined ? (value as Term) : tuple(value as Term, stack)),
          node,
        );
      }
    }
    if (isAtom(reason, 'noconnection')) throw new BadRpcError(A.nodedown, node);
    throw new BadRpcError(tuple(A.EXIT, reason), node);
  }

  /** The node a call goes to (for the error's context). */
  private nodeOf(target: Destination): string {
    if (target instanceof Pid || target instanceof Reference) return target.node.name;
    if (target instanceof Tuple && target.elements[1] instanceof Atom) return target.elements[1].name;
    return this.name;
  }
}
