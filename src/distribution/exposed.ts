/**
 * JavaScript functions exposed as Erlang modules (Node.expose), and the outcome of running one
 * in Erlang's terms: what rpc, erpc and spawn requests from other nodes, and local rpc, get.
 */
import { atom, Atom, tuple, type Term } from '../etf/terms.ts';
import { BadRpcError, ProcessExit } from './errors.ts';
import { ATOM_NORMAL, errorReason } from './process.ts';

export type ExposedFunction = (...args: Term[]) => Term | Promise<Term>;
export type ExposedModule = Record<string, ExposedFunction>;

/** How an exposed function ended, as erpc:execute_call reports it. */
export type ExposedOutcome = { kind: 'return' | 'exit' | 'error'; value: Term; stack?: Term };

const A = {
  EXIT: atom('EXIT'),
  undef: atom('undef'),
} as const;

/** The exit reason of a process that ran an exposed function: normal, its exit, or {Error, Stack}. */
export function exitReason(r: ExposedOutcome): Term {
  if (r.kind === 'return') return ATOM_NORMAL;
  return r.kind === 'exit' ? r.value : tuple(r.value, r.stack ?? []);
}

export class ExposedModules {
  private readonly modules = new Map<string, ExposedModule>();

  /** Exposes `functions` as Erlang module `module` (replacing an earlier one of that name). */
  expose(module: string, functions: ExposedModule): void {
    this.modules.set(module, { ...functions });
  }

  /** Runs Module:Function(Args); an unknown one is `undef`, as in Erlang. */
  async run(module: Atom, fn: Atom, args: Term[]): Promise<ExposedOutcome> {
    const f = this.modules.get(module.name)?.[fn.name];
    if (f === undefined) return { kind: 'error', value: A.undef, stack: [tuple(module, fn, args, [])] };
    try {
      return { kind: 'return', value: await f(...args) };
    } catch (err) {
      if (err instanceof ProcessExit) return { kind: 'exit', value: err.reason };
      return { kind: 'error', value: errorReason(err), stack: [] };
    }
  }

  /** rpc:call to this node itself (`node`): the result, or {@link BadRpcError} `{'EXIT', Reason}`. */
  async call(node: string, module: string, fn: string, args: Term[]): Promise<Term> {
    const f = this.modules.get(module)?.[fn];
    if (f === undefined)
      throw new BadRpcError(tuple(A.EXIT, tuple(A.undef, [tuple(atom(module), atom(fn), args, [])])), node);
    try {
      return await f(...args);
    } catch (err) {
      throw new BadRpcError(tuple(A.EXIT, errorReason(err)), node);
    }
  }
}
