/**
 * Reading Docker's container inspect reply (GET /containers/<id>/json): which host port publishes
 * a container's node port, and the names it answers to. The one parser of that reply, shared by the
 * catalog (through dockerode) and `DockerResolver` (plain HTTP): it imports nothing from dockerode,
 * so the resolver does not load it. Every field is read as whatever JSON it holds, since a
 * malformed reply must be "no port", never a TypeError.
 */
import net from 'node:net';
import { isLoopback, unmapped } from '../epmd/address.ts';
import { isPort, parsePort } from '../ports.ts';
import { isContainerId } from './events.ts';
import type { ContainerAbout, Skip } from './skips.ts';

export type { ContainerAbout } from './skips.ts';

/** Label overriding the node port for one container. */
export const PORT_LABEL = 'eid.port';
/** Label giving a container an extra node name. */
export const NAME_LABEL = 'eid.name';
/** Label naming the self-forming cluster a container's node belongs to (docs/clusters.md). */
export const CLUSTER_LABEL = 'eid.cluster';

/**
 * The fields of an inspect reply we read, typed as the JSON they may hold (dockerode's
 * `ContainerInspectInfo` fits, and so does anything `JSON.parse` returns for an object).
 */
export interface InspectReply {
  Id?: unknown;
  Name?: unknown;
  State?: unknown;
  Config?: unknown;
  NetworkSettings?: unknown;
}

/** What one container publishes, as the catalog keeps it. */
export interface CatalogEntry {
  id: string;
  name: string;
  hostname: string;
  labelName: string | undefined;
  /** The container port the node listens on. */
  nodePort: number;
  /**
   * The host port Docker published it on: for lookups that arrive on an address without a binding
   * of its own (see {@link portFor}), and where no address is known (NAMES).
   */
  hostPort: number;
  /**
   * Every usable binding of the node port, by host address ('0.0.0.0' and '::' for the wildcards).
   * Absent: `hostPort` serves every address.
   */
  bindings?: readonly HostBinding[] | undefined;
  /** Its `eid.cluster` label, when it has a well-formed one. */
  cluster?: string | undefined;
  /** What the operator sees of it (image, eid.* labels); for display only, never for lookups. */
  about?: ContainerAbout | undefined;
}

/** Longest label value kept for display; a longer one is cut. */
const LABEL_TEXT_MAX = 256;

/** The container's name, image and eid.* labels from an inspect reply, as untrusted text. */
export function aboutContainer(info: InspectReply | null | undefined): ContainerAbout {
  const name = info?.Name;
  const image = field(info?.Config, 'Image');
  const labels = field(info?.Config, 'Labels');
  const eid: Record<string, string> = {};
  if (typeof labels === 'object' && labels !== null)
    for (const [key, value] of Object.entries(labels).slice(0, 64))
      if (key.startsWith('eid.') && typeof value === 'string')
        eid[key.slice(0, LABEL_TEXT_MAX)] = value.slice(0, LABEL_TEXT_MAX);
  return {
    name: typeof name === 'string' ? name.replace(/^\//, '').slice(0, LABEL_TEXT_MAX) : '',
    image: typeof image === 'string' ? image.slice(0, LABEL_TEXT_MAX) : '',
    labels: eid,
  };
}

/** One published binding: a host address and port. */
export interface HostBinding {
  address: string;
  port: number;
}

/**
 * Names that can reach the catalog's index: container names, hostnames, IDs and label values all
 * fit. Anything else is a miss before it touches anything.
 */
const VALID_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

export function isValidLookupName(name: string): boolean {
  return VALID_NAME.test(name);
}

/** Docker shows a container's hostname as its ID cut to this length unless one was set. */
export const SHORT_ID_LENGTH = 12;

interface PortBinding {
  HostIp?: unknown;
  HostPort?: unknown;
}

const IPV4_ANY = new Set(['', '0.0.0.0']);
const IPV6_ANY = '::';
const IPV4_WILDCARD = '0.0.0.0';

/** `value[key]` when `value` is a JSON object; undefined for anything else (null, arrays' keys aside). */
function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** A port Docker wrote as decimal text; anything else (numbers, "0x50", " 80") is none. */
function textPort(value: unknown): number | undefined {
  return typeof value === 'string' ? parsePort(value) : undefined;
}

/**
 * The published port reachable on the addresses the daemon serves: a binding on one of those
 * addresses first, then the IPv4 wildcard, then the IPv6 wildcard (dual-stack); bindings on other
 * specific addresses (127.0.0.1, say) are not reachable from other hosts.
 */
export function chooseBinding(
  bindings: readonly PortBinding[],
  served: readonly string[],
): number | undefined {
  const usable = bindings.filter((b) => textPort(b.HostPort) !== undefined);
  const ipv4Any = (b: PortBinding) => {
    // Docker leaves HostIp out (or empty) for the IPv4 wildcard.
    const ip = b.HostIp ?? '';
    return typeof ip === 'string' && IPV4_ANY.has(ip);
  };
  const chosen =
    usable.find((b) => typeof b.HostIp === 'string' && served.includes(b.HostIp)) ??
    usable.find(ipv4Any) ??
    usable.find((b) => b.HostIp === IPV6_ANY);
  return chosen === undefined ? undefined : textPort(chosen.HostPort);
}

/** The bindings of one published port: a list of objects in Docker's replies, anything else read as none. */
function bindingsOf(published: unknown): PortBinding[] {
  if (!Array.isArray(published)) return [];
  return published.filter((b): b is PortBinding => typeof b === 'object' && b !== null);
}

/**
 * The container's node port (its `eid.port` label, else `nodePort`) and the host port publishing
 * it as {@link chooseBinding} picks it; undefined when the label is not a port or nothing usable
 * publishes it. Running state and names are not looked at: callers check {@link isRunning} first.
 */
export function publishedNodePort(
  info: InspectReply | null | undefined,
  nodePort: number,
  served: readonly string[],
): { nodePort: number; hostPort: number } | undefined {
  const label = field(field(info?.Config, 'Labels'), PORT_LABEL);
  const port = label === undefined ? nodePort : textPort(label);
  if (port === undefined || !isPort(port)) return undefined;
  const published = field(field(info?.NetworkSettings, 'Ports'), `${port}/tcp`);
  const hostPort = chooseBinding(bindingsOf(published), served);
  return hostPort === undefined ? undefined : { nodePort: port, hostPort };
}

/**
 * A catalog entry from `docker inspect` output (see {@link readContainer}), or undefined when the
 * container is not running, publishes no node port the daemon can serve to other hosts, or the
 * reply has no well-formed ID.
 */
export function entryFromInspect(
  info: InspectReply | null | undefined,
  nodePort: number,
  served: readonly string[],
): CatalogEntry | undefined {
  const reading = readContainer(info, nodePort, served);
  return reading?.skip === undefined ? reading?.entry : undefined;
}

/**
 * The host port that serves a lookup arriving on `local` (the daemon's own address of that
 * connection): a binding on that very address, else a wildcard binding (the same IP family's
 * first). Undefined when the container is not reachable on that address. Without a local address,
 * or for entries without bindings, `hostPort`.
 */
export function portFor(entry: CatalogEntry, local: string | undefined): number | undefined {
  if (entry.bindings === undefined || local === undefined) return entry.hostPort;
  const address = unmapped(local);
  const on = (a: string) => entry.bindings?.find((b) => b.address === a)?.port;
  const [first, second] = net.isIPv6(address) ? [IPV6_ANY, IPV4_WILDCARD] : [IPV4_WILDCARD, IPV6_ANY];
  return on(address) ?? on(first) ?? on(second);
}

/**
 * Whether the container is in the state eid serves it in: running and not paused (a paused node
 * would take the connection and never answer the handshake). The catalog and `DockerResolver`
 * both follow it.
 */
export function isRunning(info: InspectReply | null | undefined): boolean {
  return field(info?.State, 'Running') === true && field(info?.State, 'Paused') !== true;
}

/** What the catalog makes of one inspect reply. */
export type ContainerReading =
  /** Served (with a warning, for `loopback_only`). */
  | { entry: CatalogEntry; skip?: Skip | undefined }
  /** Not served, and why (the container looked like an Erlang node). */
  | { entry?: undefined; skip: Skip }
  /** Not a candidate: not running, paused, no well-formed ID, or nothing about it names the node port. */
  | undefined;

/**
 * Reads a running container for the catalog: its entry with every usable binding, or why it cannot
 * be served. `served` are the addresses the daemon listens on (empty: all); bindings on other
 * specific addresses can never be asked for, so they are left out. Loopback bindings serve lookups
 * from this host. A container is a candidate (and a skip is worth a warning) when it exposes or
 * publishes the node port or carries an eid.* label; any other container is no Erlang node.
 */
export function readContainer(
  info: InspectReply | null | undefined,
  nodePort: number,
  served: readonly string[],
): ContainerReading {
  const id = info?.Id;
  if (!isRunning(info) || !isContainerId(id)) return undefined;
  const labels = field(info?.Config, 'Labels');
  const portLabel = field(labels, PORT_LABEL);
  const labelled =
    portLabel !== undefined ||
    field(labels, NAME_LABEL) !== undefined ||
    field(labels, CLUSTER_LABEL) !== undefined;
  const port = portLabel === undefined ? nodePort : textPort(portLabel);
  const about = aboutContainer(info);
  if (port === undefined || !isPort(port)) return { skip: { id, reason: 'bad_port_label', about } };
  const key = `${port}/tcp`;
  const ports = field(info?.NetworkSettings, 'Ports');
  const exposed =
    labelled ||
    field(field(info?.Config, 'ExposedPorts'), key) !== undefined ||
    (typeof ports === 'object' && ports !== null && key in ports);
  const all: HostBinding[] = [];
  for (const b of bindingsOf(field(ports, key))) {
    const hostPort = textPort(b.HostPort);
    const ip = b.HostIp ?? '';
    if (hostPort === undefined || typeof ip !== 'string') continue;
    all.push({ address: IPV4_ANY.has(ip) ? IPV4_WILDCARD : ip, port: hostPort });
  }
  if (all.length === 0) return exposed ? { skip: { id, reason: 'no_node_port', about } } : undefined;
  const wildcard = (a: string) => a === IPV4_WILDCARD || a === IPV6_ANY;
  const bindings = all.filter(
    (b) => wildcard(b.address) || isLoopback(b.address) || served.length === 0 || served.includes(b.address),
  );
  if (bindings.length === 0) return { skip: { id, reason: 'unserved_address', about } };
  const remote = bindings.filter((b) => !isLoopback(b.address));
  const hostPort =
    chooseBinding(
      bindings.map((b) => ({ HostIp: b.address, HostPort: String(b.port) })),
      served,
    ) ?? (remote[0] ?? bindings[0]!).port;
  const name = info?.Name;
  const hostname = field(info?.Config, 'Hostname');
  const labelName = field(labels, NAME_LABEL);
  const cluster = field(labels, CLUSTER_LABEL);
  const entry: CatalogEntry = {
    id,
    name: typeof name === 'string' ? name.replace(/^\//, '') : '',
    hostname: typeof hostname === 'string' ? hostname : id.slice(0, SHORT_ID_LENGTH),
    labelName: typeof labelName === 'string' && isValidLookupName(labelName) ? labelName : undefined,
    nodePort: port,
    hostPort,
    bindings,
    ...(typeof cluster === 'string' && isValidLookupName(cluster) ? { cluster } : {}),
    about,
  };
  return remote.length === 0 ? { entry, skip: { id, reason: 'loopback_only' } } : { entry };
}
