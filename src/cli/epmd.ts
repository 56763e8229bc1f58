/** `eid epmd`: the drop-in EPMD server in the foreground, logging to standard error. */
import { parseArgs } from 'node:util';
import { LogLevels, createLogger } from '../log.ts';
import type { LogFormat, LogLevel } from '../log.ts';
import { EpmdServer } from '../epmd/server.ts';
import type { EpmdServerOptions } from '../epmd/server.ts';
import { cliError, integerOption, listenPortOption, runCommand } from './command.ts';

export const usage = `Usage: eid epmd [options]

Runs an EPMD server in the foreground (a replacement for OTP's epmd).

Options:
  --port P                  port to listen on (default: ERL_EPMD_PORT or 4369)
  --address A               address to listen on; repeat for several (default: ERL_EPMD_ADDRESS
                            or all interfaces); loopback is always added, as epmd does
  --relaxed-command-check   allow 'epmd -kill' with live nodes and 'epmd -stop'
  --packet-timeout S        seconds a connection may stay silent before its request is whole
                            (default 60)
  --request-timeout S       seconds any connection but a registration may stay open, however
                            steadily it sends (default 10)
  --max-connections N       open connections at most, registrations included (default 1024)
  --max-connections-per-source N
                            open connections at most from one IPv4 address or IPv6 /64,
                            registrations not counted (default 64)
  --log-level L             debug, info, warn or error (default info)
  --log-format F            pretty, json or auto: pretty on a terminal, else json (default auto)
  --help                    show this help
`;

export function run(args: string[]): Promise<number> {
  return runCommand('epmd', () => serve(args));
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      address: { type: 'string', multiple: true },
      'relaxed-command-check': { type: 'boolean' },
      'packet-timeout': { type: 'string' },
      'request-timeout': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-connections-per-source': { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(usage);
    return 0;
  }
  const level = (values['log-level'] ?? 'info') as LogLevel;
  const format = (values['log-format'] ?? 'auto') as LogFormat;
  if (!(level in LogLevels)) throw cliError(`unknown log level '${level}'`);
  if (format !== 'pretty' && format !== 'json' && format !== 'auto')
    throw cliError(`unknown log format '${String(format)}'`);
  const logger = createLogger({ level, format });
  const options: EpmdServerOptions = { logger };
  if (values.port !== undefined) options.port = listenPortOption('--port', values.port);
  if (values.address !== undefined)
    options.addresses = values.address.flatMap((a) => a.split(/[ ,]+/)).filter(Boolean);
  if (values['relaxed-command-check'] === true) options.relaxedCommandCheck = true;
  if (values['packet-timeout'] !== undefined) {
    options.packetTimeoutMs = integerOption('--packet-timeout', values['packet-timeout'], 1, 86_400) * 1000;
  }
  if (values['request-timeout'] !== undefined) {
    options.requestTimeoutMs =
      integerOption('--request-timeout', values['request-timeout'], 1, 86_400) * 1000;
  }
  if (values['max-connections'] !== undefined) {
    options.maxConnections = integerOption('--max-connections', values['max-connections'], 1, 1_000_000);
  }
  const perSource = values['max-connections-per-source'];
  if (perSource !== undefined) {
    options.maxConnectionsPerSource = integerOption('--max-connections-per-source', perSource, 1, 1_000_000);
  }
  const server = new EpmdServer(options);
  await server.listen();
  const stop = (signal: string) => {
    logger.info('epmd: shutting down', { signal });
    void server.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await server.closed;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  return 0;
}
