/**
 * epmd's address rules, without sockets: which peers count as local (only they may register, dump,
 * kill and stop), which addresses a server listens on, how a peer is written in logs, and which
 * peers share a per-source connection cap.
 */
import net from 'node:net';
import { EpmdError } from '../errors.ts';

const IPV4_MAPPED_PREFIX = '::ffff:';

/** An IPv4 peer of a dual-stack listener arrives as ::ffff:a.b.c.d; epmd sees a.b.c.d. */
export function unmapped(address: string): string {
  return address.startsWith(IPV4_MAPPED_PREFIX) ? address.slice(IPV4_MAPPED_PREFIX.length) : address;
}

/** epmd's notion of a local peer: 127.0.0.0/8, ::1, or the very address the connection came in on. */
export function isLocalPeer(remote: string | undefined, local: string | undefined): boolean {
  if (remote === undefined) return false;
  const peer = unmapped(remote);
  if (net.isIPv4(peer) && peer.startsWith('127.')) return true;
  if (peer === '::1') return true;
  return local !== undefined && unmapped(local) === peer;
}

/** 127.0.0.0/8 or ::1 (IPv4-mapped included). */
export function isLoopback(address: string): boolean {
  return isLocalPeer(address, undefined);
}

export interface ListenSpec {
  host: string;
  /** A failure to bind it is logged, not fatal (IPv6 may be unavailable). */
  optional: boolean;
}

/**
 * What to bind for a list of addresses, as epmd does: none given means every interface (IPv6 where
 * available); a given list always gets the loopback addresses added. EPMD_CONFIG for a non-IP.
 */
export function listenSpecs(addresses: readonly string[] | undefined): ListenSpec[] {
  if (addresses === undefined || addresses.length === 0) {
    return [
      { host: '0.0.0.0', optional: false },
      { host: '::', optional: true },
    ];
  }
  for (const a of addresses) {
    if (net.isIP(a) === 0) throw new EpmdError('EPMD_CONFIG', `cannot parse IP address ${JSON.stringify(a)}`);
  }
  return [
    { host: '127.0.0.1', optional: true },
    { host: '::1', optional: true },
    ...addresses.filter((a) => !isLoopback(a)).map((host) => ({ host, optional: false })),
  ];
}

/** `host:port` for logs, `[v6]:port` for IPv6; 'unknown' once the socket has no address. */
export function peerText(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'unknown';
  return net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The eight 16-bit groups of an IPv6 address (zone dropped, embedded IPv4 tail included); undefined if not IPv6. */
function ipv6Groups(address: string): number[] | undefined {
  const text = address.split('%')[0]!;
  if (!net.isIPv6(text)) return undefined;
  const [head = '', tail] = text.split('::');
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [parseInt(g, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * The group a peer's connections are counted in for the per-source cap: an IPv4 address itself
 * (IPv4-mapped included), an IPv6 address by its /64, since one IPv6 host usually holds a whole /64.
 */
export function addressGroup(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const peer = unmapped(address);
  const groups = ipv6Groups(peer);
  if (groups === undefined) return peer;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}
