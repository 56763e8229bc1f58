/**
 * Certificates and ssl_dist_optfiles for the TLS distribution tests, made the way docs/tls.md
 * tells operators to: scripts/dist-certs.sh, then openssl only for what the recipe must not make
 * (an expired certificate).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DIST_CERTS = fileURLToPath(new URL('../../scripts/dist-certs.sh', import.meta.url));

/** A fresh directory of certificates: one CA (in `dir`), one certificate per host. */
export function makeCerts(hosts: string[], dir = mkdtempSync(join(tmpdir(), 'eid-tls-'))): string {
  execFileSync('bash', [DIST_CERTS, '--dir', dir, ...hosts], { stdio: 'pipe' });
  return dir;
}

/** The paths of `host`'s certificate and key in a certs directory, and its CA. */
export function certPaths(dir: string, host: string): { ca: string; cert: string; key: string } {
  return { ca: join(dir, 'ca.pem'), cert: join(dir, host, 'cert.pem'), key: join(dir, host, 'key.pem') };
}

/**
 * An ssl_dist_optfile as docs/tls.md gives it: verify_peer both ways, fail_if_no_peer_cert, the
 * same certificate for dialling and accepting. Returns its path.
 */
export function writeOptfile(path: string, files: { ca: string; cert: string; key: string }): string {
  const common = `{certfile, "${files.cert}"}, {keyfile, "${files.key}"}, {cacertfile, "${files.ca}"}, {verify, verify_peer}, {secure_renegotiate, true}`;
  writeFileSync(
    path,
    `%% TLS distribution, both sides (docs/tls.md).\n[{server, [${common}, {fail_if_no_peer_cert, true}]},\n {client, [${common}]}].\n`,
  );
  return path;
}

/** `erl` flags for TLS distribution with `optfile`. */
export const erlTlsArgs = (optfile: string): string[] => [
  '-proto_dist',
  'inet_tls',
  '-ssl_dist_optfile',
  optfile,
];

/** A certificate for `host` signed by `dir`'s CA that expired yesterday (openssl ca with explicit dates). */
export function makeExpiredCert(dir: string, host: string): { cert: string; key: string } {
  const out = join(dir, `${host}-expired`);
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe', cwd: dir });
  execFileSync('mkdir', ['-p', out, join(out, 'db')]);
  writeFileSync(join(out, 'db', 'index.txt'), '');
  writeFileSync(join(out, 'db', 'serial'), '1000\n');
  writeFileSync(
    join(out, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = expired',
      '[expired]',
      `database = ${join(out, 'db', 'index.txt')}`,
      `serial = ${join(out, 'db', 'serial')}`,
      `new_certs_dir = ${join(out, 'db')}`,
      'default_md = sha256',
      'policy = any',
      'copy_extensions = none',
      'x509_extensions = ext',
      '[any]',
      'commonName = supplied',
      '[ext]',
      `subjectAltName = IP:${host},DNS:${host}`,
      'extendedKeyUsage = serverAuth,clientAuth',
      '',
    ].join('\n'),
  );
  const key = join(out, 'key.pem');
  const cert = join(out, 'cert.pem');
  run([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    `/CN=${host}`,
    '-keyout',
    key,
    '-out',
    join(out, 'req.csr'),
  ]);
  const day = (offset: number) => {
    const d = new Date(Date.now() + offset * 86_400_000);
    return `${d.toISOString().slice(0, 10).replace(/-/g, '')}000000Z`;
  };
  run([
    'ca',
    '-batch',
    '-config',
    join(out, 'ca.cnf'),
    '-cert',
    join(dir, 'ca.pem'),
    '-keyfile',
    join(dir, 'ca.key'),
    '-startdate',
    day(-30),
    '-enddate',
    day(-1),
    '-in',
    join(out, 'req.csr'),
    '-out',
    cert,
    '-notext',
  ]);
  return { cert, key };
}
