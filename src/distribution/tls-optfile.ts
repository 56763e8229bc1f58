/**
 * TLS distribution options, and OTP's `ssl_dist_optfile` read into them: the Erlang-terms file
 * `[{server, [Opt...]}, {client, [Opt...]}].` that `-ssl_dist_optfile` gives inet_tls_dist. Each
 * ssl option maps to a field below (docs/tls.md has the table); an option with no equivalent is
 * refused by name, never dropped.
 */
import { readFileSync } from 'node:fs';
import { consultTerms } from '../etf/literal.ts';
import { Atom, ExportFun, Tuple, type Term } from '../etf/terms.ts';
import { TlsError } from './errors.ts';

/** A file path, or the PEM bytes themselves. */
export type PemSource = string | Buffer;

export type TlsVersion = 'tlsv1.2' | 'tlsv1.3';

/** The options of one side: `client` (dialling) or `server` (accepting). */
export interface DistributionTlsSide {
  /** CA certificates trusted for peers (cacertfile). */
  ca?: PemSource | PemSource[];
  /** This node's certificate chain (certfile). */
  cert?: PemSource;
  /** Its private key (keyfile), and the key's passphrase (password). */
  key?: PemSource;
  passphrase?: string;
  /** `verify_peer` (default): the peer's chain must lead to `ca`. `verify_none` checks nothing. */
  verify?: 'verify_peer' | 'verify_none';
  /** Accepting: refuse a peer without a certificate (fail_if_no_peer_cert; default true). */
  failIfNoPeerCert?: boolean;
  /**
   * Dialling: the name the server's certificate must carry (server_name_indication), by default
   * the host part of the node name dialled, as OTP does; `false` skips the name check only.
   */
  serverName?: string | false;
  /**
   * Accepting: the client's certificate must also name the address it connects from (OTP's
   * `{verify_fun, {fun inet_tls_dist:verify_client/3, []}}`).
   */
  checkClientAddress?: boolean;
  /** Most intermediate CAs allowed between a peer's certificate and `ca` (depth). */
  depth?: number;
  /** Protocol versions (versions; default TLS 1.2 and 1.3). */
  versions?: TlsVersion[];
  /** OpenSSL cipher list (ciphers). */
  ciphers?: string;
  /** Accepting: prefer our cipher order (honor_cipher_order). */
  honorCipherOrder?: boolean;
  /** Accepting: Diffie-Hellman parameters (dhfile). */
  dhparam?: PemSource;
  /** Certificate revocation lists to check peers against (the stated equivalent of crl_check). */
  crl?: PemSource | PemSource[];
}

/**
 * `Node.start`'s `distributionTls`: fields here apply to both sides, `client` and `server`
 * override them per side, and `optfile` (an OTP ssl_dist_optfile) comes first, under them all.
 */
export interface DistributionTlsOptions extends DistributionTlsSide {
  optfile?: string;
  client?: DistributionTlsSide;
  server?: DistributionTlsSide;
}

export type TlsSideName = 'client' | 'server';

const refuse = (file: string, side: string, option: string, why: string): TlsError =>
  new TlsError(
    'DIST_TLS_CONFIG',
    option,
    `${file}: ssl option ${option} (${side}) is not supported by the TypeScript node: ${why}`,
  );

/** A string as Erlang writes one in a config file: a char list, a binary or an atom. */
function text(term: Term): string | undefined {
  if (typeof term === 'string') return term;
  if (term instanceof Atom) return term.name;
  if (Buffer.isBuffer(term)) return term.toString('utf8');
  if (Array.isArray(term) && term.every((c) => typeof c === 'number' && c >= 0 && c <= 0x10ffff))
    return String.fromCodePoint(...(term as number[]));
  return undefined;
}

const isAtom = (term: Term, name?: string): term is Atom =>
  term instanceof Atom && (name === undefined || term.name === name);

/** Reads an ssl_dist_optfile into per-side options; throws {@link TlsError} (DIST_TLS_CONFIG). */
export function readSslDistOptfile(file: string): Record<TlsSideName, DistributionTlsSide> {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TlsError(
      'DIST_TLS_CONFIG',
      'unreadable',
      `cannot read ssl_dist_optfile ${file}: ${String(err)}`,
      {
        cause: err,
      },
    );
  }
  return parseSslDistOptions(source, file);
}

/** The optfile's text into per-side options (`file` names it in errors). */
export function parseSslDistOptions(source: string, file: string): Record<TlsSideName, DistributionTlsSide> {
  let terms: Term[];
  try {
    terms = consultTerms(source, file);
  } catch (err) {
    throw new TlsError('DIST_TLS_CONFIG', 'syntax', (err as Error).message, { cause: err });
  }
  const shape = () =>
    new TlsError(
      'DIST_TLS_CONFIG',
      'shape',
      `${file}: expected one term, [{server, [...]}, {client, [...]}].`,
    );
  const [list, ...more] = terms;
  if (!Array.isArray(list) || more.length > 0) throw shape();
  const out: Record<TlsSideName, DistributionTlsSide> = { client: {}, server: {} };
  for (const entry of list) {
    if (!(entry instanceof Tuple) || entry.elements.length !== 2) throw shape();
    const [sideTerm, opts] = entry.elements as [Term, Term];
    if (
      !isAtom(sideTerm) ||
      (sideTerm.name !== 'server' && sideTerm.name !== 'client') ||
      !Array.isArray(opts)
    )
      throw shape();
    const side = sideTerm.name;
    for (const opt of opts) Object.assign(out[side], sideOption(file, side, opt));
  }
  return out;
}

/** One `{Name, Value}` of a side, as the fields it sets. */
function sideOption(file: string, side: TlsSideName, opt: Term): DistributionTlsSide {
  if (!(opt instanceof Tuple) || opt.elements.length !== 2 || !isAtom(opt.elements[0]!))
    throw new TlsError('DIST_TLS_CONFIG', 'shape', `${file}: ${side} options must be {Name, Value} tuples`);
  const name = opt.elements[0].name;
  const value = opt.elements[1]!;
  const bad = (why: string) => refuse(file, side, name, why);
  const str = (): string => text(value) ?? badValue(file, side, name, value);
  const bool = (): boolean => (typeof value === 'boolean' ? value : badValue(file, side, name, value));
  const serverOnly = () => {
    if (side !== 'server') throw bad('it is a server option');
  };
  switch (name) {
    case 'certfile':
      return { cert: str() };
    case 'keyfile':
      return { key: str() };
    case 'cacertfile':
      return { ca: str() };
    case 'password':
      return { passphrase: str() };
    case 'dhfile':
      serverOnly();
      return { dhparam: str() };
    case 'verify':
      if (isAtom(value, 'verify_peer') || isAtom(value, 'verify_none'))
        return { verify: value.name as 'verify_peer' | 'verify_none' };
      return badValue(file, side, name, value);
    case 'fail_if_no_peer_cert':
      serverOnly();
      return { failIfNoPeerCert: bool() };
    case 'honor_cipher_order':
      serverOnly();
      return { honorCipherOrder: bool() };
    case 'depth':
      if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return { depth: value };
      return badValue(file, side, name, value);
    case 'versions': {
      const versions = Array.isArray(value) ? value.map((v) => text(v)) : [];
      if (versions.length === 0) return badValue(file, side, name, value);
      for (const v of versions)
        if (v !== 'tlsv1.2' && v !== 'tlsv1.3')
          throw bad(`only tlsv1.2 and tlsv1.3 are offered, not ${v ?? '?'}`);
      return { versions: versions as TlsVersion[] };
    }
    case 'ciphers': {
      // OpenSSL-style names ("ECDHE-ECDSA-AES256-GCM-SHA384"), as a list or one colon-separated string.
      const one = text(value);
      const names = one !== undefined ? [one] : Array.isArray(value) ? value.map((v) => text(v)) : [];
      if (names.length === 0 || names.some((n) => n === undefined))
        throw bad('give cipher suites by their OpenSSL names (strings); maps and tuples are not read');
      return { ciphers: names.join(':') };
    }
    case 'server_name_indication':
      if (side !== 'client') throw bad('it is a client option');
      if (isAtom(value, 'disable')) return { serverName: false };
      return { serverName: str() };
    case 'secure_renegotiate':
      // OpenSSL never renegotiates insecurely, and TLS 1.3 does not renegotiate at all.
      if (bool()) return {};
      throw bad('insecure renegotiation is never allowed');
    case 'reuse_sessions':
    case 'hibernate_after':
    case 'log_level':
    case 'log_alert':
      // No effect on what is checked: every dial is a full handshake; logging is eid's logger.
      return {};
    case 'ktls':
      if (value === false) return {};
      throw bad('kernel TLS offload is not used by node:tls');
    case 'customize_hostname_check':
      if (Array.isArray(value) && value.length === 0) return {};
      throw bad('the name check matches wildcards as HTTPS does; an Erlang match_fun cannot run here');
    case 'verify_fun':
      if (side === 'server' && isVerifyClient(value)) return { checkClientAddress: true };
      throw bad(
        'an Erlang fun cannot run here; inet_tls_dist:verify_client/3 on the server side maps to checkClientAddress',
      );
    case 'crl_check':
    case 'crl_cache':
      throw bad('give the revocation lists as files with distributionTls.crl');
    default:
      throw bad('it has no node:tls equivalent');
  }
}

/** `{fun inet_tls_dist:verify_client/3, State}` or `{inet_tls_dist, verify_client, State}`. */
function isVerifyClient(value: Term): boolean {
  if (!(value instanceof Tuple)) return false;
  const [first, second] = value.elements;
  if (first instanceof ExportFun)
    return first.module.name === 'inet_tls_dist' && first.name.name === 'verify_client' && first.arity === 3;
  return (
    value.elements.length === 3 &&
    first !== undefined &&
    second !== undefined &&
    isAtom(first, 'inet_tls_dist') &&
    isAtom(second, 'verify_client')
  );
}

function badValue(file: string, side: string, name: string, value: Term): never {
  const shown = Array.isArray(value) ? 'a list' : typeof value;
  throw new TlsError(
    'DIST_TLS_CONFIG',
    name,
    `${file}: ssl option ${name} (${side}) has a value it cannot take (${shown})`,
  );
}
