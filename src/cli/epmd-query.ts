/** What `eid names` and `eid resolve` share: the options that say which EPMD to ask and how long to wait. */
import { parseArgs } from 'node:util';
import type { EpmdCallOptions } from '../epmd/client.ts';
import { integerOption, portOption } from './command.ts';

/** The Options section of their usage texts. */
export const QUERY_OPTIONS_USAGE = `Options:
  --port P       EPMD port (default: ERL_EPMD_PORT or 4369)
  --timeout MS   give up after this many milliseconds (default 5000)
  --help         show this help
`;

const MAX_TIMEOUT_MS = 3_600_000;

interface QueryValues {
  port?: string | undefined;
  timeout?: string | undefined;
}

/** Parses `args`; undefined once `usage` has been printed for --help. */
export function parseQueryArgs(
  args: string[],
  usage: string,
): { positionals: string[]; values: QueryValues } | undefined {
  const { values, positionals } = parseArgs({
    args,
    options: { port: { type: 'string' }, timeout: { type: 'string' }, help: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(usage);
    return undefined;
  }
  return { positionals, values };
}

/** The client options --port and --timeout ask for; checked after the positionals, so usage errors come in that order. */
export function queryOptions(values: QueryValues): EpmdCallOptions {
  const options: EpmdCallOptions = {};
  if (values.port !== undefined) options.epmdPort = portOption('--port', values.port);
  if (values.timeout !== undefined)
    options.timeoutMs = integerOption('--timeout', values.timeout, 1, MAX_TIMEOUT_MS);
  return options;
}
