/** The environment variables OTP's epmd and erl_epmd honour, read the same way for server and client. */
import { EpmdError } from '../errors.ts';
import { parseListenPort } from '../ports.ts';

export const DEFAULT_EPMD_PORT = 4369;

/**
 * ERL_EPMD_PORT, else 4369; EPMD_CONFIG when it is set but not a port number. 0 passes: a server
 * given it listens on any free port.
 */
export function epmdPortFromEnv(): number {
  const raw = process.env['ERL_EPMD_PORT'];
  if (raw === undefined || raw === '') return DEFAULT_EPMD_PORT;
  const port = parseListenPort(raw);
  if (port === undefined) {
    throw new EpmdError('EPMD_CONFIG', `ERL_EPMD_PORT is not a port number: ${JSON.stringify(raw)}`);
  }
  return port;
}

/** ERL_EPMD_ADDRESS: addresses separated by commas or spaces, as epmd splits it. */
export function epmdAddressesFromEnv(): string[] | undefined {
  const list = (process.env['ERL_EPMD_ADDRESS'] ?? '').split(/[ ,]+/).filter((a) => a !== '');
  return list.length === 0 ? undefined : list;
}

/** ERL_EPMD_RELAXED_COMMAND_CHECK: set (to anything) means relaxed, as for epmd. */
export function relaxedCommandCheckFromEnv(): boolean {
  return process.env['ERL_EPMD_RELAXED_COMMAND_CHECK'] !== undefined;
}
