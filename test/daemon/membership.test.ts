/**
 * The membership endpoint and its client over real mutual TLS on loopback, with certificates from
 * scripts/dist-certs.sh; forged replies (another CA, another host's certificate, members that are
 * not the cluster's or not that host's) must never reach the reconciler as members to dial.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { fetchMembership, type MembershipCredentials } from '../../src/daemon/membership-client.ts';
import {
  MEMBERSHIP_VERSION,
  readPeerMembers,
  type Member,
  type MembershipDocument,
} from '../../src/daemon/membership-document.ts';
import { MembershipServer, certificateNames } from '../../src/daemon/membership-server.ts';
import { Clusters } from '../../src/daemon/clusters.ts';
import { parseClustersConfig } from '../../src/daemon/cluster-config.ts';
import { ClusterError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { fuzzing } from '../fuzz.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';
import { ROOT } from '../harness/hosts.ts';

const HOST = '127.0.0.1';
const FAR = '10.99.0.2';
const nextPort = portAllocator(PortSlices.clusters.daemon);
const { runs, guarded } = fuzzing('MEMBERSHIP_FUZZ_SEED', 0x3e3b, ClusterError);

let dir: string;
const servers: MembershipServer[] = [];

/** Certificates of one CA for `hosts`, made by the script the docs use. */
function certs(name: string, ...hosts: string[]): string {
  const out = join(dir, name);
  execFileSync('bash', [`${ROOT}scripts/dist-certs.sh`, '--dir', out, ...hosts]);
  return out;
}

function files(ca: string, host: string, hostDir = ca) {
  return {
    ca: join(ca, 'ca.pem'),
    cert: join(hostDir, host, 'cert.pem'),
    key: join(hostDir, host, 'key.pem'),
  };
}

function credentials(f: { ca: string; cert: string; key: string }): MembershipCredentials {
  return { ca: readFileSync(f.ca), cert: readFileSync(f.cert), key: readFileSync(f.key) };
}

const member = (node: string | null, extra: Partial<Member> = {}): Member => ({
  node,
  container: 'abcdef012345',
  name: 'c',
  mesh: true,
  state: 'up',
  connected: [],
  ...extra,
});

function doc(host: string, members: Member[], cluster = 'shop'): MembershipDocument {
  return {
    version: MEMBERSHIP_VERSION,
    host,
    generated: new Date().toISOString(),
    clusters: [{ name: cluster, reconcileIntervalMs: 3000, lastReconcile: null, members, hosts: [] }],
    containers: [],
    registered: [],
    peers: [],
  };
}

async function serve(tls: { ca: string; cert: string; key: string }, body: () => MembershipDocument) {
  const server = new MembershipServer(tls, () => body(), silentLogger);
  servers.push(server);
  const { port } = await server.listen(HOST, await nextPort());
  return port;
}

let good: string;
let forger: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'eid-membership-'));
  good = certs('good', HOST, FAR);
  forger = certs('forger', HOST);
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

test('a peer with a certificate of the private CA gets the document, and its members are read', async () => {
  const port = await serve(files(good, HOST), () => doc(HOST, [member(`a@${HOST}`), member(`b@${HOST}`)]));
  const json = await fetchMembership(HOST, port, credentials(files(good, HOST)));
  assert.deepEqual(readPeerMembers(json, 'shop', HOST), [
    { node: `a@${HOST}`, mesh: true, connected: [], stats: undefined },
    { node: `b@${HOST}`, mesh: true, connected: [], stats: undefined },
  ]);
});

test('a server with a certificate of another CA is refused before a byte of its reply is read', async () => {
  let asked = 0;
  const port = await serve(files(forger, HOST), () => {
    asked += 1;
    return doc(HOST, [member(`evil@${HOST}`)]);
  });
  await assert.rejects(
    fetchMembership(HOST, port, credentials(files(good, HOST))),
    (err: unknown) =>
      err instanceof ClusterError && err.code === 'CLUSTER_MEMBERSHIP' && /certificate/i.test(err.message),
  );
  assert.equal(asked, 0);
});

test("a server with the CA's certificate for another host is refused", async () => {
  const port = await serve(files(good, FAR), () => doc(HOST, [member(`evil@${HOST}`)]));
  await assert.rejects(
    fetchMembership(HOST, port, credentials(files(good, HOST))),
    (err: unknown) => err instanceof ClusterError && /ALTNAME|does not match|IP/i.test(err.message),
  );
});

test('a client without a certificate of the CA gets nothing', async () => {
  let asked = 0;
  const port = await serve(files(good, HOST), () => {
    asked += 1;
    return doc(HOST, []);
  });
  const stranger = { ...credentials(files(forger, HOST)), ca: readFileSync(join(good, 'ca.pem')) };
  await assert.rejects(fetchMembership(HOST, port, stranger), ClusterError);
  assert.equal(asked, 0);
});

test('forged members are dropped: other hosts, other clusters, bad names, not up', () => {
  const forged = doc(HOST, [
    member(`ok@${HOST}`),
    member(`elsewhere@${FAR}`),
    member(`x@${HOST}@${HOST}`),
    member(`bad name@${HOST}`),
    member(`down@${HOST}`, { state: 'refused' }),
    member(null),
    member(`solo@${HOST}`, { mesh: false }),
    member(`ok@${HOST}`),
  ]);
  forged.clusters.push(...doc(HOST, [member(`intruder@${HOST}`)], 'other').clusters);
  const json = JSON.stringify(forged);
  assert.deepEqual(readPeerMembers(json, 'shop', HOST), [
    { node: `ok@${HOST}`, mesh: true, connected: [], stats: undefined },
    { node: `solo@${HOST}`, mesh: false, connected: [], stats: undefined },
  ]);
  assert.deepEqual(readPeerMembers(json, 'nosuch', HOST), []);
  const refused = (text: string, pattern: RegExp) =>
    assert.throws(
      () => readPeerMembers(text, 'shop', HOST),
      (e: unknown) => e instanceof ClusterError && pattern.test(e.message),
    );
  refused(JSON.stringify(doc(FAR, [member(`a@${FAR}`)])), /describes another host/);
  refused(JSON.stringify({ ...doc(HOST, []), version: 2 }), /version 1/);
  refused('{"version":1', /not JSON/);
});

test('a document lists only the clusters the client host belongs to, and never a cookie or a path', () => {
  const config = parseClustersConfig(
    JSON.stringify({
      host: HOST,
      membership: files(good, HOST),
      clusters: {
        shop: { cookieFile: join(dir, 'shop.cookie'), hosts: [FAR] },
        internal: { cookieFile: join(dir, 'internal.cookie') },
      },
    }),
    dir,
  );
  const clusters = new Clusters(config, { entries: () => [], find: () => undefined }, silentLogger);
  assert.deepEqual(
    clusters.document([FAR]).clusters.map((c) => c.name),
    ['shop'],
  );
  assert.deepEqual(
    clusters.document(['10.99.0.3']).clusters.map((c) => c.name),
    [],
  );
  const own = JSON.stringify(clusters.document([HOST]));
  assert.deepEqual(
    (JSON.parse(own) as MembershipDocument).clusters.map((c) => c.name),
    ['shop', 'internal'],
  );
  assert.doesNotMatch(own, /cookie|\.pem/);
});

test('subjectAltName text: IP addresses and DNS names', () => {
  assert.deepEqual(certificateNames('IP Address:10.0.0.1, DNS:10.0.0.1, DNS:h1.example, email:x@y'), [
    '10.0.0.1',
    '10.0.0.1',
    'h1.example',
  ]);
  assert.deepEqual(certificateNames(undefined), []);
});

test('fuzz: any reply text yields members of that host or a ClusterError, nothing else', () => {
  const valid = JSON.stringify(doc(HOST, [member(`a@${HOST}`), member(`b@${HOST}`, { mesh: false })]));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc
          .tuple(fc.nat(valid.length), fc.nat(valid.length), fc.string({ maxLength: 8 }))
          .map(
            ([at, cut, insert]) =>
              valid.slice(0, at) + insert + valid.slice(Math.min(valid.length, at + (cut % 5))),
          ),
      ),
      (text) => {
        const result = guarded('readPeerMembers', () => readPeerMembers(text, 'shop', HOST));
        if (result instanceof ClusterError) return;
        for (const m of result)
          assert.ok(m.node.endsWith(`@${HOST}`) && m.node.indexOf('@') === m.node.lastIndexOf('@'));
      },
    ),
    runs(2000),
  );
});
