/**
 * The daemon reaching Docker over TCP with TLS, configured the docker CLI's way (DOCKER_HOST,
 * DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), against a real dockerd that demands client certificates.
 * Needs root and openssl.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HOST_MOUNTS, eidFromSource, upHosts, type TestHosts } from '../harness/hosts.ts';

const run = promisify(execFile);
const SET = 5;
/** Inside each host's own network namespace, so no root-namespace port is used. */
const TLS_ENDPOINT = 'tcp://127.0.0.1:2376';

let hosts: TestHosts;
let certs: string;

const openssl = (args: string[]) => run('openssl', args, { cwd: certs });

/** A CA, a server certificate for 127.0.0.1 and a client certificate, as `docker` expects them. */
async function makeCertificates(): Promise<void> {
  await openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=eid test CA'].concat([
      '-keyout',
      'ca-key.pem',
      '-out',
      'ca.pem',
    ]),
  );
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    const key = name === 'client' ? 'key.pem' : `${name}-key.pem`;
    const cert = name === 'client' ? 'cert.pem' : `${name}-cert.pem`;
    writeFileSync(join(certs, `${name}.ext`), ext);
    await openssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      key,
      '-out',
      `${name}.csr`,
    ]);
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca-key.pem',
        '-CAcreateserial',
      ].concat(['-days', '1', '-extfile', `${name}.ext`, '-out', cert]),
    );
  }
}

before(async () => {
  certs = mkdtempSync(join(tmpdir(), 'eid-tls-'));
  await makeCertificates();
  hosts = await upHosts(SET, {
    dockerdArgs: ['-H', TLS_ENDPOINT, '--tlsverify', `--tlscacert=${certs}/ca.pem`].concat([
      `--tlscert=${certs}/server-cert.pem`,
      `--tlskey=${certs}/server-key.pem`,
    ]),
  });
});

after(async () => {
  await hosts?.down();
  if (certs !== undefined) rmSync(certs, { recursive: true, force: true });
});

test(
  'with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH the daemon follows a TLS-only Docker endpoint',
  { timeout: 120_000 },
  async () => {
    const { h1 } = hosts;
    const id = await h1.docker(['run', '-d', '-p', '12345', ...HOST_MOUNTS, 'eid-otp25', 'sleep', '3600']);
    const daemon = await h1.startDaemon(['--docker', TLS_ENDPOINT], {
      DOCKER_TLS_VERIFY: '1',
      DOCKER_CERT_PATH: certs,
    });
    assert.match(
      daemon.log(),
      /Docker catalog synced [^\n]*endpoint=tcp:\/\/127\.0\.0\.1:2376 [^\n]*containers=1/,
    );
    // The stock epmd client on that host sees the container, by hostname, through the daemon.
    const names = await h1.exec('epmd', ['-names']);
    assert.match(names, new RegExp(`name ${id.slice(0, 12)} at port \\d+`));
    await daemon.stop();
  },
);

test(
  'without DOCKER_TLS_VERIFY (plain HTTP to the TLS port) Docker is unreachable and the daemon serves plain EPMD',
  { timeout: 120_000 },
  async () => {
    const { h1 } = hosts;
    const daemon = await h1.adopt(
      h1.spawn(process.execPath, [...eidFromSource(), 'daemon', '--docker', TLS_ENDPOINT]),
      /Docker is not reachable; serving as plain EPMD/,
    );
    await daemon.stop();
  },
);
