/**
 * JavaScript functions exposed as Erlang modules (Node.expose), and the outcome of running one
 * in Erlang's terms: what rpc, erpc and spawn requests from other nodes, and local rpc, get.
 */
import { toJS, type TermsMode } from '../etf/js.ts';
import { atom, Atom, tuple, type Term } from '../etf/terms.ts';
import { BadRpcError, ProcessExit } from './errors.ts';
import { ATOM_NORMAL, encodeFailure, errorReason } from './process.ts';

export type ExposedFunction = (...args: Term[]) => Term | Promise<Term>;
export type ExposedModule = Record<string, ExposedFunction>;

/** How an exposed function ended, as erpc:execute_call reports it. */
export type ExposedOutcome = { kind: 'return' | 'exit' | 'error'; value: Term; stack?: Term };

const A = {
  EXIT: atom('EXIT'),
  undef: atom('undef'),
  undefined: atom('undefined'),
} as const;

/** The exit reason of a process that ran an exposed function: normal, its exit, or {Error, Stack}. */
export function exitReason(r: ExposedOutcome): Term {
  if (r.kind === 'return') return ATOM_NORMAL;
  return r.kind === 'exit' ? r.value : tuple(r.value, r.stack ?? []);
}

/** A function that returns nothing (`undefined`) returns the atom `undefined` to Erlang (docs/node.md). */
function returned(value: Term | undefined): Term {
  return value === undefined ? A.undefined : value;
}

export class ExposedModules {
  /** `'js'`: arguments from other nodes arrive in the JS-friendly mapping. */
  terms: TermsMode = 'erlang';

  /** Module → its own functions: never inherited properties (`constructor`, `toString`, `__proto__`). */
  private readonly modules = new Map<string, ReadonlyMap<string, ExposedFunction>>();

  /** Exposes the own enumerable functions of `functions` as Erlang module `module` (replacing an earlier one). */
  expose(module: string, functions: ExposedModule): void {
    const own = new Map<string, ExposedFunction>();
    for (const [name, f] of Object.entries(functions)) if (typeof f === 'function') own.set(name, f);
    this.modules.set(module, own);
  }

  private lookup(module: string, fn: string): ExposedFunction | undefined {
    return this.modules.get(module)?.get(fn);
  }

  /**
   * Runs Module:Function(Args); an unknown one is `undef`, as in Erlang. Never rejects, and what
   * it returns can always be sent: a result or exit reason with no Erlang term becomes an error
   * `{js_error, Message}`, as if the function had thrown.
   */
  async run(module: Atom, fn: Atom, args: Term[]): Promise<ExposedOutcome> {
    const f = this.lookup(module.name, fn.name);
    if (f === undefined) return { kind: 'error', value: A.undef, stack: [tuple(module, fn, args, [])] };
    let outcome: ExposedOutcome;
    try {
      const given = this.terms === 'js' ? args.map(toJS) : args;
      outcome = { kind: 'return', value: returned(await f(...given)) };
    } catch (err) {
      outcome =
        err instanceof ProcessExit
          ? { kind: 'exit', value: err.reason }
          : { kind: 'error', value: errorReason(err), stack: [] };
    }
    const failure = encodeFailure(outcome.value);
    if (failure === undefined) return outcome;
    const what = outcome.kind === 'return' ? 'result' : 'exit reason';
    const message = `${module.name}:${fn.name} ${what} has no Erlang term: ${failure.message}`;
    return { kind: 'error', value: errorReason(new Error(message)), stack: [] };
  }

  /** rpc:call to this node itself (`node`): the result, or {@link BadRpcError} `{'EXIT', Reason}`. */
  async call(node: string, module: string, fn: string, args: Term[]): Promise<Term> {
    const f = this.lookup(module, fn);
    if (f === undefined)
      throw new BadRpcError(tuple(A.EXIT, tuple(A.undef, [tuple(atom(module), atom(fn), args, [])])), node);
    try {
      return returned(await f(...args));
    } catch (err) {
      throw new BadRpcError(tuple(A.EXIT, errorReason(err)), node);
    }
  }
}
