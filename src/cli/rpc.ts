/** `eid rpc node@host module function [args...]`: rpc:call from a short-lived hidden TS node. */
import { parseArgs } from 'node:util';
import { BadRpcError } from '../distribution/errors.ts';
import { formatTerm } from '../etf/format.ts';
import { LiteralError } from '../errors.ts';
import { parseLiteral as parseTerm } from '../etf/literal.ts';
import { atom, type Term } from '../etf/terms.ts';
import { cliError, runCommand } from './command.ts';
import { NODE_OPTIONS_USAGE, nodeOptions, startCliNode } from './ping.ts';

export const usage = `Usage: eid rpc node@host module function [arg...] [options]

Calls module:function(args...) on node@host (rpc:call semantics) and prints the result as an
Erlang term. Each arg is an Erlang literal: atoms, integers, floats, "strings" (char lists),
<<"binaries">>, [lists], {tuples}, #{maps}. With --json each arg is JSON instead
(strings become binaries, objects become maps with atom keys).
Exit 0 with the result, 1 with {badrpc, Reason} on standard error.

Options:
  --json            read args as JSON
${NODE_OPTIONS_USAGE}  --timeout MS      connection and call timeout in milliseconds (default 7000)
  --help            show this help
`;

export function run(args: string[]): Promise<number> {
  return runCommand('rpc', async () => {
    const { values, positionals } = parseArgs({
      args,
      options: { ...nodeOptions, json: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(usage);
      return 0;
    }
    const [target, module, fn, ...rawArgs] = positionals;
    if (target === undefined || module === undefined || fn === undefined) {
      throw cliError('expected node@host module function [args...]');
    }
    const callArgs = rawArgs.map((a) => (values.json === true ? fromJson(a) : parseLiteral(a)));
    const { node, timeoutMs } = await startCliNode(target, values);
    try {
      const result = await node.rpc(target, module, fn, callArgs, timeoutMs);
      process.stdout.write(`${formatTerm(result)}\n`);
      return 0;
    } catch (err) {
      if (err instanceof BadRpcError) {
        process.stderr.write(`{badrpc,${formatTerm(err.reason)}}\n`);
        return 1;
      }
      throw err;
    } finally {
      await node.stop();
    }
  });
}

function fromJson(text: string): Term {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw cliError(`not JSON: ${text}`);
  }
  const convert = (v: unknown): Term => {
    if (v === null) return atom('null');
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
    if (Array.isArray(v)) return v.map(convert);
    const out: Record<string, Term> = {};
    for (const [k, x] of Object.entries(v as object)) out[k] = convert(x);
    return out;
  };
  return convert(value);
}

/** Parses one rpc argument; text that is not a term is a usage mistake (exit 2). */
export function parseLiteral(text: string): Term {
  try {
    return parseTerm(text);
  } catch (err) {
    if (err instanceof LiteralError) throw cliError(err.message);
    throw err;
  }
}
