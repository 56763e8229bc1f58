/** What every `eid` subcommand shares: usage errors, option values, and exit codes. */
import { EidError } from '../errors.ts';
import { MAX_PORT, parseListenPort, parsePort } from '../ports.ts';

/** A usage error: the command prints its message and exits 2. */
export function cliError(message: string): EidError {
  return new EidError('CLI_USAGE', message);
}

export function integerOption(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw outOfRange(name, raw, min, max);
  return n;
}

/** A port to connect to (1..65535). */
export function portOption(name: string, raw: string): number {
  const port = parsePort(raw);
  if (port === undefined) throw outOfRange(name, raw, 1, MAX_PORT);
  return port;
}

/** A port to listen on: 0 asks for any free port. */
export function listenPortOption(name: string, raw: string): number {
  const port = parseListenPort(raw);
  if (port === undefined) throw outOfRange(name, raw, 0, MAX_PORT);
  return port;
}

function outOfRange(name: string, raw: string, min: number, max: number): EidError {
  return cliError(`${name} must be an integer from ${min} to ${max}, not '${raw}'`);
}

/**
 * Runs a subcommand body: usage mistakes exit 2 and failures the library reports (EidError)
 * exit 1, each with a one-line message on standard error instead of a stack trace.
 */
export async function runCommand(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const usageError =
      (err instanceof EidError && err.code === 'CLI_USAGE') ||
      (typeof (err as { code?: unknown }).code === 'string' &&
        (err as { code: string }).code.startsWith('ERR_PARSE_ARGS'));
    if (usageError) {
      process.stderr.write(`eid ${name}: ${(err as Error).message}\n(see eid ${name} --help)\n`);
      return 2;
    }
    if (err instanceof EidError) {
      process.stderr.write(`eid ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
