/** `eid daemon` settings from flags, each with an EID_* environment equivalent (flags win). */
import { EidError } from '../errors.ts';
import { defaultEndpoint } from '../docker/client.ts';
import { DEFAULT_NODE_PORT, parsePort } from '../ports.ts';
import { DEFAULT_EPMD_PORT } from '../epmd/env.ts';
import type { EpmdConnectionLimits } from '../epmd/server.ts';
import { LogLevels, type LogFormat, type LogLevel } from '../log.ts';
import type { DaemonOptions } from './daemon.ts';
import { parseListenAddress } from './metrics.ts';
import { readClustersConfig } from './cluster-config.ts';
import { inheritedSockets } from './activation.ts';

export interface DaemonSettings extends DaemonOptions {
  logLevel: LogLevel;
  logFormat: LogFormat;
}

export const DAEMON_USAGE = `Usage: eid daemon [options]

Serves EPMD on this Docker host and answers for the containers that publish the node port.

Options (environment variable in brackets):
  --port N            EPMD port (4369) [EID_PORT]
  --address ADDR      listen address, repeatable (default: all) [EID_ADDRESS, comma-separated]
  --docker ENDPOINT   unix:///path or tcp://host:port (default: DOCKER_HOST, else the local socket) [EID_DOCKER]
  --node-port N       container port Erlang nodes listen on (12345); aliases --erlang-port, --erlang_port
                      (the original design's spelling) [EID_NODE_PORT, alias EID_ERLANG_PORT]
  --metrics [ADDR:]PORT
                      the HTTP port: Prometheus /metrics, /healthz, and the cluster page at / with
                      its document /v1/membership (off; ADDR defaults to 127.0.0.1) [EID_METRICS]
  --expose-page       serve the cluster page and /v1/membership to other hosts too, not only to
                      this host's loopback: they show every container and node, with no login
                      (docs/operating.md) [EID_EXPOSE_PAGE=1]
  --max-connections N open EPMD connections at most, registrations included (1024) [EID_MAX_CONNECTIONS]
  --max-connections-per-source N
                      open connections at most from one IPv4 address or IPv6 /64, registrations
                      not counted (64) [EID_MAX_CONNECTIONS_PER_SOURCE]
  --packet-timeout S  seconds a connection may stay silent before its request is whole (60)
                      [EID_PACKET_TIMEOUT]
  --request-timeout S seconds any connection but a registration may stay open (10) [EID_REQUEST_TIMEOUT]
  --resync-interval S full catalog resync every S seconds (60) [EID_RESYNC_INTERVAL]
  --clusters FILE     form the clusters this JSON file names, of containers labelled
                      eid.cluster=NAME (docs/clusters.md) [EID_CLUSTERS]
  --log-level LEVEL   debug, info, warn, error, silent (info) [EID_LOG_LEVEL]
  --log-format FMT    pretty, json or auto: pretty on a terminal, else json (auto) [EID_LOG_FORMAT]

Socket activation: with LISTEN_FDS and LISTEN_PID (systemd), the passed sockets serve EPMD instead of
--port and --address; one named 'metrics' (LISTEN_FDNAMES) serves /metrics and /healthz.
`;

/** Flag spellings → settings; the erlang-port spellings are documented aliases from the original design. */
const FLAGS = {
  port: 'port',
  address: 'address',
  docker: 'docker',
  'node-port': 'nodePort',
  node_port: 'nodePort',
  'erlang-port': 'nodePort',
  erlang_port: 'nodePort',
  metrics: 'metrics',
  'expose-page': 'exposePage',
  'max-connections': 'maxConnections',
  'max-connections-per-source': 'maxConnectionsPerSource',
  'packet-timeout': 'packetTimeoutMs',
  'request-timeout': 'requestTimeoutMs',
  'resync-interval': 'resyncInterval',
  clusters: 'clusters',
  'log-level': 'logLevel',
  'log-format': 'logFormat',
} as const;

type Setting = (typeof FLAGS)[keyof typeof FLAGS];

const ENV: Record<Setting, readonly string[]> = {
  port: ['EID_PORT'],
  address: ['EID_ADDRESS'],
  docker: ['EID_DOCKER'],
  nodePort: ['EID_NODE_PORT', 'EID_ERLANG_PORT'],
  metrics: ['EID_METRICS'],
  exposePage: ['EID_EXPOSE_PAGE'],
  maxConnections: ['EID_MAX_CONNECTIONS'],
  maxConnectionsPerSource: ['EID_MAX_CONNECTIONS_PER_SOURCE'],
  packetTimeoutMs: ['EID_PACKET_TIMEOUT'],
  requestTimeoutMs: ['EID_REQUEST_TIMEOUT'],
  resyncInterval: ['EID_RESYNC_INTERVAL'],
  clusters: ['EID_CLUSTERS'],
  logLevel: ['EID_LOG_LEVEL'],
  logFormat: ['EID_LOG_FORMAT'],
};

function bad(message: string): EidError {
  return new EidError('CLI_USAGE', message);
}

function portNumber(setting: string, text: string): number {
  const n = parsePort(text);
  if (n === undefined) throw bad(`${setting}: not a port number: '${text}'`);
  return n;
}

/** The EPMD server's limits: setting, flag, largest value, and milliseconds per unit (timeouts are in seconds). */
const LIMITS = [
  ['maxConnections', '--max-connections', 1_000_000, 1],
  ['maxConnectionsPerSource', '--max-connections-per-source', 1_000_000, 1],
  ['packetTimeoutMs', '--packet-timeout', 86_400, 1000],
  ['requestTimeoutMs', '--request-timeout', 86_400, 1000],
] as const;

function count(setting: string, text: string, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max)
    throw bad(`${setting}: an integer from 1 to ${max}, not '${text}'`);
  return n;
}

/** Reads flags (`--flag value` or `--flag=value`) over environment defaults. */
export function parseDaemonArgs(
  args: readonly string[],
  env: Record<string, string | undefined>,
  pid = process.pid,
): DaemonSettings {
  const given = new Map<Setting, string[]>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const m = /^--([a-z_-]+)(?:=(.*))?$/.exec(arg);
    const setting = m === null ? undefined : FLAGS[m[1] as keyof typeof FLAGS];
    if (m === null || setting === undefined) throw bad(`unknown option '${arg}'`);
    // The one switch: present means on (`--expose-page=0` means off).
    const value = setting === 'exposePage' ? (m[2] ?? '1') : (m[2] ?? args[++i]);
    if (value === undefined) throw bad(`${arg} needs a value`);
    given.set(setting, [...(given.get(setting) ?? []), value]);
  }
  const get = (setting: Setting): string | undefined => {
    const flag = given.get(setting);
    if (flag !== undefined) return flag[flag.length - 1];
    for (const name of ENV[setting]) {
      const value = env[name];
      if (value !== undefined && value !== '') return value;
    }
    return undefined;
  };

  const port = get('port');
  const nodePort = get('nodePort');
  const addresses = given.get('address') ?? (get('address') ?? '').split(/[\s,]+/).filter((a) => a !== '');
  const metricsText = get('metrics');
  // A bare port listens on loopback: the page shows what runs where, so other hosts get it only when asked.
  const metrics =
    metricsText === undefined
      ? undefined
      : parseListenAddress(/^\d+$/.test(metricsText) ? `127.0.0.1:${metricsText}` : metricsText);
  if (metricsText !== undefined && metrics === undefined)
    throw bad(`--metrics: expected PORT or ADDR:PORT, got '${metricsText}'`);
  const expose = get('exposePage');
  if (expose !== undefined && !['0', '1', 'true', 'false'].includes(expose))
    throw bad(`--expose-page: 1 or 0, got '${expose}'`);
  const resync = get('resyncInterval');
  // Whole seconds, 1 to a day: a resync lists and inspects every container.
  const resyncSeconds = resync === undefined ? undefined : /^\d{1,5}$/.test(resync) ? Number(resync) : NaN;
  if (resyncSeconds !== undefined && !(resyncSeconds >= 1 && resyncSeconds <= 86_400))
    throw bad(`--resync-interval: seconds from 1 to 86400, got '${resync}'`);
  const logLevel = get('logLevel') ?? 'info';
  if (!(logLevel in LogLevels)) throw bad(`--log-level: one of ${Object.keys(LogLevels).join(', ')}`);
  const logFormat = get('logFormat') ?? 'auto';
  if (logFormat !== 'pretty' && logFormat !== 'json' && logFormat !== 'auto')
    throw bad(`--log-format: pretty, json or auto`);

  const limits: EpmdConnectionLimits = {};
  for (const [setting, flag, max, unitMs] of LIMITS) {
    const text = get(setting);
    if (text !== undefined) limits[setting] = count(flag, text, max) * unitMs;
  }

  const clustersFile = get('clusters');
  const clusters = clustersFile === undefined ? undefined : readClustersConfig(clustersFile);

  return {
    port: port === undefined ? DEFAULT_EPMD_PORT : portNumber('--port', port),
    addresses,
    docker: get('docker') ?? defaultEndpoint(env),
    nodePort: nodePort === undefined ? DEFAULT_NODE_PORT : portNumber('--node-port', nodePort),
    metrics,
    exposePage: expose === '1' || expose === 'true',
    limits,
    inherited: inheritedSockets(env, pid),
    ...(resyncSeconds === undefined ? {} : { resyncIntervalMs: resyncSeconds * 1000 }),
    ...(clusters === undefined ? {} : { clusters }),
    logLevel: logLevel as LogLevel,
    logFormat,
  };
}
