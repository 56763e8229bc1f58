/** `eid resolve name@host`: the distribution port of a node, asked of its host's EPMD (PORT_PLEASE2). */
import { splitNodeName } from '../distribution/handshake.ts';
import { epmdPortPlease } from '../epmd/client.ts';
import { cliError, runCommand } from './command.ts';
import { QUERY_OPTIONS_USAGE, parseQueryArgs, queryOptions } from './epmd-query.ts';

export const usage = `Usage: eid resolve name@host [options]

Prints the distribution port of node name@host, as the EPMD on host reports it
(host defaults to localhost when only a name is given). Exits 1 when the name is not registered.

${QUERY_OPTIONS_USAGE}`;

export function run(args: string[]): Promise<number> {
  return runCommand('resolve', async () => {
    const parsed = parseQueryArgs(args, usage);
    if (parsed === undefined) return 0;
    const [node, ...rest] = parsed.positionals;
    if (node === undefined || rest.length > 0) throw cliError('expected exactly one node name (name@host)');
    const parts = node.includes('@') ? splitNodeName(node) : { alive: node, host: 'localhost' };
    if (parts === undefined || parts.alive === '') throw cliError(`not a node name: '${node}'`);
    const entry = await epmdPortPlease(parts.alive, parts.host, queryOptions(parsed.values));
    process.stdout.write(`${entry.port}\n`);
    return 0;
  });
}
