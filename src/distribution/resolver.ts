/**
 * Finding where a node listens. Pluggable: EPMD (the default; with `eid daemon` on the target
 * host this also makes `ContainerID@HostIP` names work), a static table, or the Docker Engine
 * API of the target host (the original eid design: the published host port of the node port).
 * The Docker resolver reads the inspect reply with the catalog's parser, which needs no dockerode.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { DistError, DockerError } from '../errors.ts';
import { epmdPortPlease, type EpmdCallOptions } from '../epmd/client.ts';
import { PORT_LABEL, isRunning, publishedNodePort, type InspectReply } from '../docker/inspect.ts';
import { DEFAULT_NODE_PORT } from '../ports.ts';
import { splitNodeName } from './handshake.ts';

export interface NodeAddress {
  host: string;
  port: number;
}

export interface Resolver {
  resolve(node: string): Promise<NodeAddress>;
}

function parts(node: string): { alive: string; host: string } {
  const p = splitNodeName(node);
  if (p === undefined)
    throw new DistError('DIST_BAD_NODE_NAME', `'${node}' is not a node name (name@host)`, { node });
  return p;
}

/** Asks the EPMD (or eid daemon) on the node's host. */
export class EpmdResolver implements Resolver {
  constructor(private readonly options: EpmdCallOptions = {}) {}

  async resolve(node: string): Promise<NodeAddress> {
    const { alive, host } = parts(node);
    const entry = await epmdPortPlease(alive, host, this.options);
    return { host, port: entry.port };
  }
}

/** A fixed table: node name → address (tests, or clusters with known ports). */
export class StaticResolver implements Resolver {
  private readonly table: Map<string, NodeAddress>;

  constructor(table: Record<string, NodeAddress> | Map<string, NodeAddress>) {
    this.table = table instanceof Map ? new Map(table) : new Map(Object.entries(table));
  }

  set(node: string, address: NodeAddress): void {
    this.table.set(node, address);
  }

  resolve(node: string): Promise<NodeAddress> {
    const found = this.table.get(node);
    if (found === undefined) {
      return Promise.reject(new DistError('DIST_UNKNOWN_NODE', `no address known for ${node}`, { node }));
    }
    return Promise.resolve(found);
  }
}

export interface DockerResolverOptions {
  /** Docker Engine API port on the target host (the original design's `docker_daemon_port`). */
  enginePort?: number;
  /**
   * The node's port inside its container (the original design's `erlang_port`), whose published
   * host port we read; a container's `eid.port` label overrides it, as for `eid daemon`.
   */
  nodePort?: number;
  /** TLS for the Engine API (https); plain http without. */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
  timeoutMs?: number;
}

/** The Engine API port the original eid design used (Docker's own default is 2375, or 2376 with TLS). */
export const DEFAULT_DOCKER_ENGINE_PORT = 4243;
/** Container ids and names as the Engine API accepts them in a path. */
const CONTAINER_REF = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const MAX_INSPECT_BYTES = 4 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 5000;
/** How much of an Engine API error body goes into our error message. */
const MAX_ERROR_TEXT = 200;

/**
 * `ContainerID@HostIP`: GET /containers/<id>/json on HostIP's Engine API, and read the published
 * port of the node port as `eid daemon` does (src/docker/inspect.ts): only of a running, unpaused
 * container, the `eid.port` label, and a binding on HostIP, else on the IPv4 wildcard, else on the
 * IPv6 wildcard.
 */
export class DockerResolver implements Resolver {
  private readonly enginePort: number;
  private readonly nodePort: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: DockerResolverOptions = {}) {
    this.enginePort = options.enginePort ?? DEFAULT_DOCKER_ENGINE_PORT;
    this.nodePort = options.nodePort ?? DEFAULT_NODE_PORT;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async resolve(node: string): Promise<NodeAddress> {
    const { alive: container, host } = parts(node);
    if (!CONTAINER_REF.test(container)) {
      throw new DockerError('DOCKER_BAD_NAME', `'${container}' is not a container id or name`, { node });
    }
    const body = await this.get(host, `/containers/${container}/json`, node);
    // `null` is valid JSON too: the parser reads any JSON value.
    let info: InspectReply | null;
    try {
      info = JSON.parse(body) as InspectReply | null;
    } catch (err) {
      throw new DockerError('DOCKER_BAD_REPLY', `Engine API on ${host} sent invalid JSON`, {
        node,
        cause: err,
      });
    }
    // As the catalog: a stopped or paused container is no node to connect to.
    if (!isRunning(info)) {
      throw new DockerError('DOCKER_NO_PORT', `container ${container} on ${host} is not running, or paused`, {
        node,
      });
    }
    const published = publishedNodePort(info, this.nodePort, [host]);
    if (published === undefined) {
      throw new DockerError(
        'DOCKER_NO_PORT',
        `container ${container} on ${host} does not publish its node port (${this.nodePort}/tcp unless labelled ${PORT_LABEL})`,
        { node },
      );
    }
    return { host, port: published.hostPort };
  }

  private get(host: string, path: string, node: string): Promise<string> {
    const tls = this.options.tls;
    const peer = `${host}:${this.enginePort}`;
    return new Promise((resolve, reject) => {
      const options = { host, port: this.enginePort, path, method: 'GET', timeout: this.timeoutMs };
      const req = tls === undefined ? httpRequest(options) : httpsRequest({ ...options, ...tls });
      req.on('timeout', () =>
        req.destroy(new DockerError('DOCKER_TIMEOUT', `Engine API on ${peer} timed out`, { node, peer })),
      );
      req.on('error', (err) =>
        reject(
          err instanceof DockerError
            ? err
            : new DockerError('DOCKER_UNREACHABLE', `Engine API on ${peer}: ${err.message}`, {
                node,
                peer,
                cause: err,
              }),
        ),
      );
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_INSPECT_BYTES)
            req.destroy(
              new DockerError('DOCKER_BAD_REPLY', `Engine API reply over ${MAX_INSPECT_BYTES} bytes`, {
                node,
                peer,
              }),
            );
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 404)
            reject(
              new DockerError('DOCKER_NO_CONTAINER', `no container ${node.split('@')[0]} on ${host}`, {
                node,
                peer,
              }),
            );
          else if (res.statusCode !== 200)
            reject(
              new DockerError(
                'DOCKER_API',
                `Engine API on ${peer} answered ${res.statusCode}: ${text.slice(0, MAX_ERROR_TEXT)}`,
                { node, peer },
              ),
            );
          else resolve(text);
        });
      });
      req.end();
    });
  }
}
