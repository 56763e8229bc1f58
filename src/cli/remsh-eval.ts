/**
 * `eid remsh --eval EXPRS` and `... < file`: Erlang expressions evaluated on the target one after
 * another, as the shell would (bindings carry over, shell commands such as i() work), each
 * value printed; the first exception or syntax error is printed and ends the run with status 1.
 * The evaluator is a fun made on the target from the source below, so nothing is loaded there.
 */
import { BadRpcError } from '../distribution/errors.ts';
import { chardataText } from '../distribution/io-server.ts';
import type { Node } from '../distribution/node.ts';
import { Tuple, type Pid, type Term } from '../etf/terms.ts';
import { isAtom } from '../distribution/process.ts';
import { cliError } from './command.ts';

/**
 * One step: evaluates the first expression sequence of Text with bindings Bs and returns
 * {value, Printed, NewBindings, RestText}, {error, Message} or eof. The stack shown for an
 * exception stops at the evaluator's own frames, as the shell's does.
 */
const STEP_SOURCE = `
fun(Text, Bs0) ->
  Local = {value, fun(F, As) -> apply(shell_default, F, As) end},
  Trim = fun(M, _, _) -> lists:member(M, [erl_eval, erpc]) end,
  case erl_scan:tokens([], Text, 1) of
    {done, {ok, Toks, _}, Rest} ->
      case erl_parse:parse_exprs(Toks) of
        {ok, Es} ->
          try erl_eval:exprs(Es, Bs0, Local) of
            {value, V, Bs} -> {value, io_lib:format("~tp~n", [V]), Bs, Rest}
          catch C:R:S ->
            {error, ["** ", erl_error:format_exception(C, R, S, #{stack_trim_fun => Trim}), "\\n"]}
          end;
        {error, {_, M, D}} -> {error, ["** syntax error: ", M:format_error(D), "\\n"]}
      end;
    {done, {eof, _}, _} -> eof;
    {done, {error, {_, M, D}, _}, _} -> {error, ["** syntax error: ", M:format_error(D), "\\n"]};
    {more, _} ->
      case string:trim(Text) of
        [] -> eof;
        _ -> {error, "** syntax error: incomplete expression (the final '.' is missing?)\\n"}
      end
  end
end.
`;

/** Calls that stop the node they run on: refused without --yes, since nothing can ask first. */
const STOPS_NODE = /(?:^|[^\w@:'])(?:(?:c:)?q|(?:erlang:)?halt|init:(?:stop|reboot|restart))\s*\(/;

export function mentionsNodeStop(text: string): boolean {
  return STOPS_NODE.test(text);
}

/** rpc that fails with the reason as Erlang gives it. */
async function call(
  node: Node,
  target: string,
  m: string,
  f: string,
  args: Term[],
  groupLeader?: Pid,
): Promise<Term> {
  const options = groupLeader === undefined ? {} : { groupLeader };
  return node.rpc(target, m, f, args, Infinity, options);
}

/** The evaluator fun, made on `target` from STEP_SOURCE. */
async function makeStep(node: Node, target: string): Promise<Term> {
  const chars = [...STEP_SOURCE].map((c) => c.codePointAt(0)!);
  const scanned = await call(node, target, 'erl_scan', 'string', [chars]);
  if (!(scanned instanceof Tuple) || !isAtom(scanned.elements[0], 'ok'))
    throw cliError('cannot scan the evaluator');
  const parsed = await call(node, target, 'erl_parse', 'parse_exprs', [scanned.elements[1] as Term]);
  if (!(parsed instanceof Tuple) || !isAtom(parsed.elements[0], 'ok'))
    throw cliError('cannot parse the evaluator');
  const bindings = await call(node, target, 'erl_eval', 'new_bindings', []);
  const made = await call(node, target, 'erl_eval', 'exprs', [parsed.elements[1] as Term, bindings]);
  if (!(made instanceof Tuple) || !isAtom(made.elements[0], 'value'))
    throw cliError('cannot make the evaluator');
  return made.elements[1] as Term;
}

/**
 * Evaluates `text` on `target` with `groupLeader` as the group leader (so io:format output
 * reaches us). Values go to `out`, the error to `err`; resolves to the exit status.
 */
export async function evaluate(
  node: Node,
  target: string,
  text: string,
  groupLeader: Pid,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const step = await makeStep(node, target);
  let bindings = await call(node, target, 'erl_eval', 'new_bindings', []);
  // The scanner takes a final '.' as the end of an expression only when something follows it.
  let rest: Term = [...`${text}\n`].map((c) => c.codePointAt(0)!);
  for (;;) {
    let result: Term;
    try {
      result = await call(node, target, 'erlang', 'apply', [step, [rest, bindings]], groupLeader);
    } catch (e) {
      if (e instanceof BadRpcError) {
        err(`** the evaluation on ${target} failed: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
    if (isAtom(result, 'eof')) return 0;
    if (!(result instanceof Tuple)) throw cliError('unexpected reply from the evaluator');
    const [kind, a, b, c] = result.elements;
    if (isAtom(kind, 'error')) {
      err(chardataText(a as Term, 'unicode'));
      return 1;
    }
    out(chardataText(a as Term, 'unicode'));
    bindings = b as Term;
    rest = isAtom(c, 'eof') ? [] : (c as Term);
  }
}
