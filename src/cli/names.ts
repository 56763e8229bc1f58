/** `eid names [host]`: the names an EPMD knows, printed like `epmd -names`. */
import { parseArgs } from 'node:util';
import { names } from '../epmd/client.ts';
import type { EpmdCallOptions } from '../epmd/client.ts';
import { cliError, integerOption, runCommand } from './epmd.ts';

export const usage = `Usage: eid names [host] [options]

Lists the node names registered at the EPMD on host (default localhost), like 'epmd -names'.

Options:
  --port P       EPMD port (default: ERL_EPMD_PORT or 4369)
  --timeout MS   give up after this many milliseconds (default 5000)
  --help         show this help
`;

export function run(args: string[]): Promise<number> {
  return runCommand('names', async () => {
    const { values, positionals } = parseArgs({
      args,
      options: { port: { type: 'string' }, timeout: { type: 'string' }, help: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(usage);
      return 0;
    }
    if (positionals.length > 1) throw cliError('expected at most one host');
    const options: EpmdCallOptions = {};
    if (values.port !== undefined) options.epmdPort = integerOption('--port', values.port, 1, 65535);
    if (values.timeout !== undefined)
      options.timeoutMs = integerOption('--timeout', values.timeout, 1, 3_600_000);
    const reply = await names(positionals[0] ?? 'localhost', options);
    const lines = reply.nodes.map((n) => `name ${n.name} at port ${n.port}\n`).join('');
    process.stdout.write(`epmd: up and running on port ${reply.epmdPort} with data:\n${lines}`);
    return 0;
  });
}
