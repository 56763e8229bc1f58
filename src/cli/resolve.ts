/** `eid resolve name@host`: the distribution port of a node, asked of its host's EPMD (PORT_PLEASE2). */
import { parseArgs } from 'node:util';
import { portPlease } from '../epmd/client.ts';
import type { EpmdCallOptions } from '../epmd/client.ts';
import { cliError, integerOption, runCommand } from './epmd.ts';

export const usage = `Usage: eid resolve name@host [options]

Prints the distribution port of node name@host, as the EPMD on host reports it
(host defaults to localhost when only a name is given). Exits 1 when the name is not registered.

Options:
  --port P       EPMD port (default: ERL_EPMD_PORT or 4369)
  --timeout MS   give up after this many milliseconds (default 5000)
  --help         show this help
`;

export function run(args: string[]): Promise<number> {
  return runCommand('resolve', async () => {
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
    const [node, ...rest] = positionals;
    if (node === undefined || rest.length > 0) throw cliError('expected exactly one node name (name@host)');
    const at = node.lastIndexOf('@');
    const name = at === -1 ? node : node.slice(0, at);
    const host = at === -1 ? 'localhost' : node.slice(at + 1);
    if (name === '' || host === '') throw cliError(`not a node name: '${node}'`);
    const options: EpmdCallOptions = {};
    if (values.port !== undefined) options.epmdPort = integerOption('--port', values.port, 1, 65535);
    if (values.timeout !== undefined)
      options.timeoutMs = integerOption('--timeout', values.timeout, 1, 3_600_000);
    const entry = await portPlease(name, host, options);
    process.stdout.write(`${entry.port}\n`);
    return 0;
  });
}
