/**
 * Reading Docker's container inspect reply (GET /containers/<id>/json): which host port publishes
 * a container's node port, and the names it answers to. The one parser of that reply, shared by the
 * catalog (through dockerode) and `DockerResolver` (plain HTTP): it imports nothing from dockerode,
 * so the resolver does not load it. Every field is read as whatever JSON it holds, since a
 * malformed reply must be "no port", never a TypeError.
 */
import { isPort, parsePort } from '../ports.ts';
import { isContainerId } from './events.ts';

/** Label overriding the node port for one container. */
export const PORT_LABEL = 'eid.port';
/** Label giving a container an extra node name. */
export const NAME_LABEL = 'eid.name';

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
  /** The host port Docker published it on. */
  hostPort: number;
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
 * publishes it. Running state and names are not looked at: {@link entryFromInspect} does that.
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
 * A catalog entry from `docker inspect` output, or undefined when the container is not running,
 * publishes no node port, or the reply has no well-formed ID.
 */
export function entryFromInspect(
  info: InspectReply | null | undefined,
  nodePort: number,
  served: readonly string[],
): CatalogEntry | undefined {
  const id = info?.Id;
  if (field(info?.State, 'Running') !== true || field(info?.State, 'Paused') === true || !isContainerId(id))
    return undefined;
  const published = publishedNodePort(info, nodePort, served);
  if (published === undefined) return undefined;
  const name = info?.Name;
  const hostname = field(info?.Config, 'Hostname');
  const labelName = field(field(info?.Config, 'Labels'), NAME_LABEL);
  return {
    id,
    name: typeof name === 'string' ? name.replace(/^\//, '') : '',
    hostname: typeof hostname === 'string' ? hostname : id.slice(0, SHORT_ID_LENGTH),
    labelName: typeof labelName === 'string' && isValidLookupName(labelName) ? labelName : undefined,
    ...published,
  };
}
