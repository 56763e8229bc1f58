/** `eid names [host]`: the names an EPMD knows, printed like `epmd -names`. */
import { epmdNames } from '../epmd/client.ts';
import { namesLine } from '../epmd/protocol.ts';
import { cliError, runCommand } from './command.ts';
import { QUERY_OPTIONS_USAGE, parseQueryArgs, queryOptions } from './epmd-query.ts';

export const usage = `Usage: eid names [host] [options]

Lists the node names registered at the EPMD on host (default localhost), like 'epmd -names'.

${QUERY_OPTIONS_USAGE}`;

export function run(args: string[]): Promise<number> {
  return runCommand('names', async () => {
    const parsed = parseQueryArgs(args, usage);
    if (parsed === undefined) return 0;
    const { positionals, values } = parsed;
    if (positionals.length > 1) throw cliError('expected at most one host');
    const reply = await epmdNames(positionals[0] ?? 'localhost', queryOptions(values));
    const lines = reply.nodes.map((n) => namesLine(n.name, n.port)).join('');
    process.stdout.write(`epmd: up and running on port ${reply.epmdPort} with data:\n${lines}`);
    return 0;
  });
}
