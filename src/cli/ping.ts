/** `eid ping node@host`: net_adm:ping from a short-lived hidden TS node; exit 0 on pong, 1 on pang. */
import { readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PEER_SPEAKS_TLS } from '../distribution/connection.ts';
import { Node } from '../distribution/node.ts';
import { DistError } from '../errors.ts';
import type { DistributionTlsOptions } from '../distribution/tls-optfile.ts';
import { splitNodeName } from '../distribution/handshake.ts';
import { cliError, integerOption, portOption, runCommand } from './command.ts';

/** The options of the CLI's node, shared by ping and rpc. */
export const NODE_OPTIONS_USAGE = `  --cookie C        the cluster cookie (default: ~/.erlang.cookie)
  --name N          this node's name (default: eid-cli-<pid>@<host>)
  --epmd-port P     EPMD port on the target host (default: ERL_EPMD_PORT or 4369)
  --listen-port P   port this node listens on (default: any free port)
  --ssl-dist-optfile FILE   TLS distribution with OTP's ssl_dist_optfile (docs/tls.md)
  --tls-ca FILE     TLS distribution: the CA that signs the cluster's certificates
  --tls-cert FILE   this node's certificate (with --tls-key); these override the optfile
  --tls-key FILE
`;

export const usage = `Usage: eid ping node@host [options]

Connects to node@host as a hidden node and asks its net_kernel, like net_adm:ping.
Prints pong (exit 0) or pang (exit 1).

Options:
${NODE_OPTIONS_USAGE}  --timeout MS      give up after this many milliseconds (default 7000)
  --help            show this help
`;

export const nodeOptions = {
  cookie: { type: 'string' },
  name: { type: 'string' },
  'epmd-port': { type: 'string' },
  'listen-port': { type: 'string' },
  'ssl-dist-optfile': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean' },
} as const;

export interface CliNodeValues {
  cookie?: string | undefined;
  name?: string | undefined;
  'epmd-port'?: string | undefined;
  'listen-port'?: string | undefined;
  'ssl-dist-optfile'?: string | undefined;
  'tls-ca'?: string | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  timeout?: string | undefined;
}

/** TLS distribution from the flags, or undefined for plain TCP. */
function tlsOptions(values: CliNodeValues): DistributionTlsOptions | undefined {
  const fields = {
    optfile: values['ssl-dist-optfile'],
    ca: values['tls-ca'],
    cert: values['tls-cert'],
    key: values['tls-key'],
  };
  if (Object.values(fields).every((v) => v === undefined)) return undefined;
  if ((fields.cert === undefined) !== (fields.key === undefined))
    throw cliError('--tls-cert and --tls-key go together');
  if (fields.optfile === undefined && fields.ca === undefined)
    throw cliError('TLS distribution needs --tls-ca (or --ssl-dist-optfile)');
  const out: DistributionTlsOptions = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k as keyof typeof fields] = v;
  return out;
}

function defaultCookie(): string {
  try {
    return readFileSync(join(homedir(), '.erlang.cookie'), 'utf8').trim();
  } catch {
    throw cliError('no --cookie given and no ~/.erlang.cookie to read');
  }
}

/**
 * The host part of our name, in the target's style (OTP keeps long and short names apart).
 * Nothing dials a CLI node back, so a loopback address is fine when we have no long host name.
 */
function localHost(targetHost: string): string {
  if (targetHost === 'localhost' || targetHost.startsWith('127.')) return targetHost;
  const host = hostname();
  if (targetHost.includes('.')) return host.includes('.') ? host : '127.0.0.1';
  return host.split('.')[0]!;
}

/** A hidden, unregistered node named to match the target's name style (long or short). */
export async function startCliNode(
  target: string,
  values: CliNodeValues,
): Promise<{ node: Node; timeoutMs: number }> {
  const parts = splitNodeName(target);
  if (parts === undefined) throw cliError(`not a node name: '${target}' (expected name@host)`);
  const timeoutMs =
    values.timeout === undefined ? 7000 : integerOption('--timeout', values.timeout, 1, 3_600_000);
  const tls = tlsOptions(values);
  const local = localHost(parts.host);
  const name = values.name ?? `eid-cli-${process.pid}@${local}`;
  const epmd: { register: false; port?: number; timeoutMs: number } = { register: false, timeoutMs };
  if (values['epmd-port'] !== undefined) epmd.port = portOption('--epmd-port', values['epmd-port']);
  const node = await Node.start({
    name,
    cookie: values.cookie ?? defaultCookie(),
    hidden: true,
    // 0 (any free port) is the default, so the flag itself names a port.
    port: values['listen-port'] === undefined ? 0 : portOption('--listen-port', values['listen-port']),
    listenHost: '127.0.0.1',
    epmd,
    connectTimeoutMs: timeoutMs,
    ...(tls === undefined ? {} : { distributionTls: tls }),
  });
  return { node, timeoutMs };
}

/**
 * Connects the CLI's node to `target`. A TLS node dialled without TLS options is the usual
 * mistake, so that failure names the options that fix it.
 */
export async function connectCliNode(node: Node, target: string, values: CliNodeValues): Promise<void> {
  try {
    await node.connect(target);
  } catch (err) {
    if (err instanceof DistError && err.message === PEER_SPEAKS_TLS && tlsOptions(values) === undefined) {
      const hint = 'give --ssl-dist-optfile FILE, or --tls-ca, --tls-cert and --tls-key (docs/tls.md)';
      throw new DistError(err.code, `${err.message}; ${hint}`, {
        peer: err.peer,
        node: err.node,
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * Parses a command that takes one node name, the CLI node's options and `extra` ones; prints
 * `usageText` and gives undefined for --help.
 */
export function parseNodeCommand<E extends Record<string, { type: 'string' | 'boolean' }>>(
  args: string[],
  usageText: string,
  extra: E,
): { values: CliNodeValues & OptionValues<E>; target: string } | undefined {
  const { values, positionals } = parseArgs({
    args,
    options: { ...nodeOptions, ...extra },
    allowPositionals: true,
    strict: true,
  });
  if ((values as { help?: boolean }).help === true) {
    process.stdout.write(usageText);
    return undefined;
  }
  const [target, ...rest] = positionals;
  if (target === undefined || rest.length > 0) throw cliError('expected exactly one node name (name@host)');
  return { values: values as CliNodeValues & OptionValues<E>, target };
}

/** What parseArgs gives for options `E`. */
type OptionValues<E> = { [K in keyof E]?: E[K] extends { type: 'boolean' } ? boolean : string };

export function run(args: string[]): Promise<number> {
  return runCommand('ping', async () => {
    const parsed = parseNodeCommand(args, usage, {});
    if (parsed === undefined) return 0;
    const { values, target } = parsed;
    const { node, timeoutMs } = await startCliNode(target, values);
    try {
      try {
        await connectCliNode(node, target, values);
      } catch (err) {
        // Why there is no connection (a refused certificate, a bad cookie) is worth a line.
        process.stderr.write(`eid ping: ${(err as Error).message}\n`);
      }
      const pong = await node.ping(target, timeoutMs);
      process.stdout.write(pong ? 'pong\n' : 'pang\n');
      return pong ? 0 : 1;
    } finally {
      await node.stop();
    }
  });
}
