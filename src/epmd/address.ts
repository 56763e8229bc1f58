/**
 * epmd's address rules, without sockets: which peers count as local (only they may register, dump,
 * kill and stop), which addresses a server listens on, and how a peer is written in logs.
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

/**
 * The source a per-address limit counts: an IPv4 address, or the /64 of an IPv6 one (a single
 * host is usually given a whole /64, so counting addresses would let it take every slot).
 */
export function addressGroup(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const peer = unmapped(address).replace(/%.*$/, '');
  if (!net.isIPv6(peer)) return peer;
  const [head = '', tail] = peer.split('::');
  const groups = head === '' ? [] : head.split(':');
  // Only the first four groups matter; `::` there stands for zeros up to the tail's groups.
  if (tail !== undefined) {
    const rest = tail === '' ? [] : tail.split(':');
    const restGroups = rest.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
    groups.push(...Array<string>(8 - groups.length - restGroups).fill('0'), ...rest);
  }
  const prefix = groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16));
  return `${prefix.join(':')}::/64`;
}
