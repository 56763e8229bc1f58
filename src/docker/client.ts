/**
 * Connecting to a Docker Engine. We use dockerode (with docker-modem underneath): the most used and
 * maintained Node client, typed, and it speaks unix sockets, TCP and TLS with the same
 * DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH conventions as the docker CLI. It does not
 * negotiate the API version, so `connectDocker` asks the daemon first and pins the answer.
 */
import Docker from 'dockerode';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DockerError } from '../errors.ts';
import { parsePort } from '../ports.ts';

/** The newest Engine API version this code was written against; older daemons are asked for theirs. */
export const CLIENT_MAX_API_VERSION = '1.43';
/** The oldest version with every field the catalog reads (NetworkSettings.Ports, Config.Labels). */
export const CLIENT_MIN_API_VERSION = '1.24';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
/** The daemon's conventional TCP ports, as the docker CLI assumes them. */
const DOCKER_PORT = 2375;
const DOCKER_TLS_PORT = 2376;
/** How long `connectDocker` waits for the daemon's version by default. */
const VERSION_TIMEOUT_MS = 10_000;

type Env = Record<string, string | undefined>;

/** Where the daemon is: `unix:///path` or `tcp://host:port` (DOCKER_HOST syntax). */
export function defaultEndpoint(env: Env = process.env): string {
  const host = env.DOCKER_HOST;
  return host === undefined || host === '' ? `unix://${DEFAULT_DOCKER_SOCKET}` : host;
}

/** dockerode options for an endpoint, with TLS from DOCKER_TLS_VERIFY / DOCKER_CERT_PATH as the CLI does. */
export function dockerOptions(endpoint: string, env: Env = process.env): Docker.DockerOptions {
  if (endpoint.startsWith('unix://')) {
    const socketPath = endpoint.slice('unix://'.length);
    if (socketPath === '') throw new DockerError('DOCKER_BAD_ENDPOINT', `no socket path in '${endpoint}'`);
    return { socketPath };
  }
  if (endpoint.startsWith('tcp://')) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch (cause) {
      throw new DockerError('DOCKER_BAD_ENDPOINT', `not a tcp://host:port address: '${endpoint}'`, { cause });
    }
    const tls =
      env.DOCKER_TLS_VERIFY !== undefined && env.DOCKER_TLS_VERIFY !== '' && env.DOCKER_TLS_VERIFY !== '0';
    const port = url.port === '' ? (tls ? DOCKER_TLS_PORT : DOCKER_PORT) : parsePort(url.port);
    if (port === undefined)
      throw new DockerError('DOCKER_BAD_ENDPOINT', `no port to connect to in '${endpoint}'`);
    const options: Docker.DockerOptions = { host: url.hostname, port, protocol: tls ? 'https' : 'http' };
    if (tls) {
      const dir = env.DOCKER_CERT_PATH || join(homedir(), '.docker');
      try {
        options.ca = readFileSync(join(dir, 'ca.pem'));
        options.cert = readFileSync(join(dir, 'cert.pem'));
        options.key = readFileSync(join(dir, 'key.pem'));
      } catch (cause) {
        throw new DockerError('DOCKER_TLS', `cannot read TLS files in ${dir}`, { cause });
      }
    }
    return options;
  }
  throw new DockerError(
    'DOCKER_BAD_ENDPOINT',
    `unsupported Docker endpoint '${endpoint}' (use unix:// or tcp://)`,
  );
}

function parseVersion(v: string): [number, number] {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  if (m === null) throw new DockerError('DOCKER_API_VERSION', `not an API version: '${v}'`);
  return [Number(m[1]), Number(m[2])];
}

function compareVersions(a: string, b: string): number {
  const [a1, a2] = parseVersion(a);
  const [b1, b2] = parseVersion(b);
  return a1 - b1 || a2 - b2;
}

/** The version both sides speak: the daemon's, capped at ours; refuses a daemon older than we support. */
export function negotiateApiVersion(serverVersion: string): string {
  if (compareVersions(serverVersion, CLIENT_MIN_API_VERSION) < 0) {
    throw new DockerError(
      'DOCKER_API_VERSION',
      `Docker API ${serverVersion} is older than the oldest supported (${CLIENT_MIN_API_VERSION})`,
    );
  }
  return compareVersions(serverVersion, CLIENT_MAX_API_VERSION) < 0 ? serverVersion : CLIENT_MAX_API_VERSION;
}

export interface DockerConnection {
  docker: Docker;
  apiVersion: string;
  endpoint: string;
}

/**
 * Asks the daemon for its API version (an unversioned call) and returns a client pinned to the
 * negotiated one. `signal` bounds that first call (10 s by default).
 */
export async function connectDocker(
  endpoint: string,
  env: Env = process.env,
  signal: AbortSignal = AbortSignal.timeout(VERSION_TIMEOUT_MS),
): Promise<DockerConnection> {
  const options = dockerOptions(endpoint, env);
  let serverVersion: string;
  try {
    const docker = new Docker(options);
    // @types/dockerode leaves out version()'s options argument; dockerode takes { abortSignal }.
    const version = docker.version.bind(docker) as (opts: {
      abortSignal: AbortSignal;
    }) => Promise<Docker.DockerVersion>;
    const info = await version({ abortSignal: signal });
    serverVersion = info.ApiVersion;
  } catch (cause) {
    throw new DockerError('DOCKER_UNREACHABLE', `Docker at ${endpoint} did not answer`, {
      cause,
      peer: endpoint,
    });
  }
  const apiVersion = negotiateApiVersion(serverVersion);
  return { docker: new Docker({ ...options, version: `v${apiVersion}` }), apiVersion, endpoint };
}
