/**
 * The clusters file of `eid daemon --clusters FILE` (docs/clusters.md, "Configuration"): which
 * clusters this daemon forms, where each cluster's cookie is, which other hosts it spans, and the
 * mutual-TLS files of the membership endpoint, and a cluster's TLS distribution files. Reading
 * only; no sockets. Unknown keys are refused by name, so a misspelt setting never passes silently.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import net from 'node:net';
import { ClusterError } from '../errors.ts';
import { isPort } from '../ports.ts';
import type { DistributionTlsOptions } from '../distribution/tls-optfile.ts';

/** The membership endpoint's default port (TCP, mutual TLS). */
export const DEFAULT_MEMBERSHIP_PORT = 4370;
/** A few seconds: a new container joins, and a partition heals, within about one interval. */
export const DEFAULT_RECONCILE_INTERVAL_MS = 3_000;
const MAX_RECONCILE_INTERVAL_S = 3_600;
/** Cluster names: what a Docker label value and a node name's alive part both allow. */
const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
/** A host as it appears after the @ of node names: an IP address or a DNS name. */
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const MAX_COOKIE_BYTES = 255;

export interface MembershipTls {
  /** PEM files: the private CA, and this host's certificate and key (scripts/dist-certs.sh). */
  ca: string;
  cert: string;
  key: string;
}

export interface ClusterConfig {
  name: string;
  /** Path of the cookie file (mode 0600 or stricter); read with {@link readCookieFile}. */
  cookieFile: string;
  /** Other hosts, as their nodes' names spell them after the @. */
  hosts: string[];
  /** A `.hosts.erlang` file, read again at every reconcile. */
  hostsFile: string | undefined;
  /** A DNS name whose A/AAAA records are further hosts, resolved at every reconcile. */
  dns: string | undefined;
  reconcileIntervalMs: number;
  /**
   * TLS distribution (the members run -proto_dist inet_tls): the hidden node dials them over TLS
   * only. The `tls` key's `sslDistOptfile`, `ca`, `cert`, `key`, as `eid ping`'s flags of the same
   * names; undefined: plain distribution.
   */
  tls: DistributionTlsOptions | undefined;
}

export interface ClustersConfig {
  /** This host as node names spell it after the @ (its IP, in eid's `ContainerID@HostIP` model). */
  host: string;
  membership: MembershipTls & { port: number; listen: string };
  clusters: ClusterConfig[];
}

function bad(message: string): ClusterError {
  return new ClusterError('CLUSTER_CONFIG', message);
}

/** Whether `text` can be the host part of a node name eid forms clusters of. */
export function isHostName(text: string): boolean {
  return net.isIP(text) !== 0 || DNS_NAME.test(text);
}

function object(value: unknown, where: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad(`${where}: not an object`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw bad(`${where}: unknown key '${key}' (known: ${allowed.join(', ')})`);
  }
  return value as Record<string, unknown>;
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') throw bad(`${where}: a non-empty string`);
  return value;
}

function optionalText(value: unknown, where: string): string | undefined {
  return value === undefined ? undefined : text(value, where);
}

function hostName(value: unknown, where: string): string {
  const h = text(value, where);
  if (!isHostName(h)) throw bad(`${where}: not an IP address or DNS name: '${h}'`);
  return h;
}

/** A cluster's `tls` key: an OTP ssl_dist_optfile and/or PEM files, paths from the clusters file's folder. */
function parseTls(value: unknown, where: string, base: string): DistributionTlsOptions {
  const t = object(value, where, ['sslDistOptfile', 'ca', 'cert', 'key']);
  const path = (key: string) => {
    const p = optionalText(t[key], `${where}.${key}`);
    return p === undefined ? undefined : resolve(base, p);
  };
  const [optfile, ca, cert, key] = [path('sslDistOptfile'), path('ca'), path('cert'), path('key')];
  if ((cert === undefined) !== (key === undefined)) throw bad(`${where}: cert and key go together`);
  if (optfile === undefined && ca === undefined)
    throw bad(`${where}: name the CA that signs the members' certificates (ca, or sslDistOptfile)`);
  return {
    ...(optfile === undefined ? {} : { optfile }),
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
  };
}

function parseCluster(name: string, value: unknown, base: string, self: string): ClusterConfig {
  const where = `clusters.${name}`;
  if (!CLUSTER_NAME.test(name))
    throw bad(`${where}: a cluster name is letters, digits, _ and - (63 at most)`);
  const c = object(value, where, ['cookieFile', 'hosts', 'hostsFile', 'dns', 'reconcileInterval', 'tls']);
  const hosts = c['hosts'] ?? [];
  if (!Array.isArray(hosts)) throw bad(`${where}.hosts: a list of hosts`);
  const interval = c['reconcileInterval'] ?? DEFAULT_RECONCILE_INTERVAL_MS / 1000;
  if (typeof interval !== 'number' || !(interval >= 0.5 && interval <= MAX_RECONCILE_INTERVAL_S))
    throw bad(`${where}.reconcileInterval: seconds from 0.5 to ${MAX_RECONCILE_INTERVAL_S}`);
  const hostsFile = optionalText(c['hostsFile'], `${where}.hostsFile`);
  const dns = c['dns'] === undefined ? undefined : hostName(c['dns'], `${where}.dns`);
  return {
    name,
    cookieFile: resolve(base, text(c['cookieFile'], `${where}.cookieFile`)),
    hosts: [...new Set(hosts.map((h, i) => hostName(h, `${where}.hosts[${i}]`)))].filter((h) => h !== self),
    hostsFile: hostsFile === undefined ? undefined : resolve(base, hostsFile),
    dns,
    reconcileIntervalMs: Math.round(interval * 1000),
    tls: c['tls'] === undefined ? undefined : parseTls(c['tls'], `${where}.tls`, base),
  };
}

/** Parses the clusters file's JSON text; relative paths are taken from `base` (the file's folder). */
export function parseClustersConfig(json: string, base: string): ClustersConfig {
  let root: unknown;
  try {
    root = JSON.parse(json);
  } catch (err) {
    throw bad(`not JSON: ${(err as Error).message}`);
  }
  const r = object(root, 'clusters file', ['version', 'host', 'membership', 'clusters']);
  if (r['version'] !== undefined && r['version'] !== 1) throw bad(`version: only 1 is known`);
  const host = hostName(r['host'], 'host');
  const m = object(r['membership'], 'membership', ['port', 'listen', 'ca', 'cert', 'key']);
  const port = m['port'] ?? DEFAULT_MEMBERSHIP_PORT;
  if (typeof port !== 'number' || !isPort(port)) throw bad('membership.port: a port number');
  const listen = m['listen'] === undefined ? host : text(m['listen'], 'membership.listen');
  const file = (key: string) => resolve(base, text(m[key], `membership.${key}`));
  const clusters = object(r['clusters'], 'clusters', Object.keys(r['clusters'] ?? {}));
  const list = Object.entries(clusters).map(([name, c]) => parseCluster(name, c, base, host));
  if (list.length === 0) throw bad('clusters: name at least one cluster');
  return {
    host,
    membership: { port, listen, ca: file('ca'), cert: file('cert'), key: file('key') },
    clusters: list,
  };
}

/** Reads and parses a clusters file. */
export function readClustersConfig(path: string): ClustersConfig {
  let json: string;
  try {
    json = readFileSync(path, 'utf8');
  } catch (err) {
    throw bad(`cannot read the clusters file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return parseClustersConfig(json, dirname(resolve(path)));
  } catch (err) {
    if (err instanceof ClusterError) throw bad(`${path}: ${err.message}`);
    throw err;
  }
}

/**
 * A cluster's cookie. The file must be readable by its owner only (mode 0600 or 0400), as OTP
 * demands of ~/.erlang.cookie. Errors name the file and what is wrong with it, never its content.
 */
export function readCookieFile(path: string): string {
  let mode: number;
  let content: string;
  try {
    mode = statSync(path).mode & 0o777;
    content = readFileSync(path, 'latin1');
  } catch (err) {
    throw new ClusterError(
      'CLUSTER_COOKIE',
      `cannot read cookie file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  if ((mode & 0o077) !== 0)
    throw new ClusterError(
      'CLUSTER_COOKIE',
      `cookie file ${path} has mode 0${mode.toString(8)}; it must be readable by its owner only (chmod 600)`,
    );
  const cookie = content.replace(/[\r\n]+$/, '');
  // Printable Latin-1 without spaces, as OTP's own cookie files; an empty one is a mistake.
  if (cookie.length === 0 || cookie.length > MAX_COOKIE_BYTES || !/^[\x21-\x7e\xa1-\xff]+$/.test(cookie))
    throw new ClusterError(
      'CLUSTER_COOKIE',
      `cookie file ${path}: the cookie must be 1 to ${MAX_COOKIE_BYTES} printable characters without spaces`,
    );
  return cookie;
}

/**
 * The hosts of a `.hosts.erlang` file (Erlang terms, one quoted atom or string per line, each
 * ending in a dot; `%` comments). Entries that are not host names are left out.
 */
export function parseHostsErlang(content: string): string[] {
  const out: string[] = [];
  const uncommented = content
    .split('\n')
    .map((line) => line.replace(/%.*$/, ''))
    .join('\n');
  for (const m of uncommented.matchAll(/(?:'([^'\\\n]*)'|"([^"\\\n]*)"|([a-z][A-Za-z0-9_@]*))\s*\./g)) {
    const h = m[1] ?? m[2] ?? m[3] ?? '';
    if (isHostName(h) && !out.includes(h)) out.push(h);
  }
  return out;
}
