/** The clusters file, cookie files and .hosts.erlang (src/daemon/cluster-config.ts); no sockets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_MEMBERSHIP_PORT,
  DEFAULT_RECONCILE_INTERVAL_MS,
  parseClustersConfig,
  parseHostsErlang,
  readCookieFile,
} from '../../src/daemon/cluster-config.ts';
import { Clusters } from '../../src/daemon/clusters.ts';
import { parseDaemonArgs } from '../../src/daemon/options.ts';
import { silentLogger } from '../../src/log.ts';
import { certPaths, makeCerts } from '../distribution/tls-helpers.ts';
import { ClusterError } from '../../src/errors.ts';

const MEMBERSHIP = { ca: 'ca.pem', cert: 'h1/cert.pem', key: 'h1/key.pem' };
const config = (clusters: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ host: '10.0.0.1', membership: MEMBERSHIP, clusters, ...extra });

test('a clusters file: paths from its folder, defaults, this host left out of the peers', () => {
  const c = parseClustersConfig(
    config({ shop: { cookieFile: 'shop.cookie', hosts: ['10.0.0.2', '10.0.0.1', 'h3.example'] } }),
    '/etc/eid',
  );
  assert.deepEqual(c, {
    host: '10.0.0.1',
    membership: {
      port: DEFAULT_MEMBERSHIP_PORT,
      listen: '10.0.0.1',
      ca: '/etc/eid/ca.pem',
      cert: '/etc/eid/h1/cert.pem',
      key: '/etc/eid/h1/key.pem',
    },
    clusters: [
      {
        name: 'shop',
        cookieFile: '/etc/eid/shop.cookie',
        hosts: ['10.0.0.2', 'h3.example'],
        hostsFile: undefined,
        dns: undefined,
        reconcileIntervalMs: DEFAULT_RECONCILE_INTERVAL_MS,
        tls: undefined,
      },
    ],
  });
});

test("a cluster's tls key: an ssl_dist_optfile and/or PEM files, paths from the file's folder", () => {
  const tls = (value: unknown) =>
    parseClustersConfig(config({ shop: { cookieFile: 'c', tls: value } }), '/etc/eid').clusters[0]?.tls;
  assert.deepEqual(tls({ sslDistOptfile: 'ssl_dist.conf' }), { optfile: '/etc/eid/ssl_dist.conf' });
  assert.deepEqual(tls({ ca: 'ca.pem', cert: '/certs/h1/cert.pem', key: 'h1/key.pem' }), {
    ca: '/etc/eid/ca.pem',
    cert: '/certs/h1/cert.pem',
    key: '/etc/eid/h1/key.pem',
  });
  // The files override the optfile's, as eid ping's --tls-* flags do.
  assert.deepEqual(tls({ sslDistOptfile: 'o.conf', cert: 'c.pem', key: 'k.pem' }), {
    optfile: '/etc/eid/o.conf',
    cert: '/etc/eid/c.pem',
    key: '/etc/eid/k.pem',
  });
});

test('a bad tls key, and any unknown key, is refused by name', () => {
  const refused = (json: string, pattern: RegExp) =>
    assert.throws(
      () => parseClustersConfig(json, '/'),
      (err: unknown) =>
        err instanceof ClusterError && err.code === 'CLUSTER_CONFIG' && pattern.test(err.message),
    );
  const withTls = (tls: unknown) => config({ shop: { cookieFile: 'c', tls } });
  refused(withTls({ ca: 'x', cert: 'c.pem' }), /clusters\.shop\.tls: cert and key go together/);
  refused(withTls({ cert: 'c.pem', key: 'k.pem' }), /clusters\.shop\.tls: name the CA/);
  refused(withTls({ ca: 'x', verify: 'verify_none' }), /clusters\.shop\.tls: unknown key 'verify'/);
  refused(withTls(true), /clusters\.shop\.tls: not an object/);
  refused(config({ shop: { cookieFile: 'c', cookie: 'secret' } }), /unknown key 'cookie'/);
  refused(config({ shop: { cookieFile: 'c' } }, { extra: 1 }), /unknown key 'extra'/);
  refused(config({ 'bad name!': { cookieFile: 'c' } }), /cluster name/);
  refused(config({ shop: { cookieFile: 'c', reconcileInterval: 0 } }), /reconcileInterval/);
  refused(config({ shop: { cookieFile: 'c', hosts: ['not a host'] } }), /not an IP address or DNS name/);
  refused(config({}), /at least one cluster/);
  refused('{', /not JSON/);
});

test('eid daemon --clusters reads the file; a bad file is a usage error naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eid-config-'));
  try {
    const file = join(dir, 'clusters.json');
    writeFileSync(file, config({ shop: { cookieFile: 'shop.cookie', reconcileInterval: 1.5 } }));
    const settings = parseDaemonArgs(['--clusters', file], {});
    assert.equal(settings.clusters?.clusters[0]?.cookieFile, join(dir, 'shop.cookie'));
    assert.equal(settings.clusters?.clusters[0]?.reconcileIntervalMs, 1500);
    assert.equal(parseDaemonArgs([], { EID_CLUSTERS: file }).clusters?.host, '10.0.0.1');
    writeFileSync(file, config({ shop: { cookieFile: 'c', tls: { ca: '' } } }));
    assert.throws(() => parseDaemonArgs(['--clusters', file], {}), new RegExp(`${file}: clusters.shop.tls`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a cookie file must be readable by its owner only; errors never show the cookie', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eid-cookie-'));
  try {
    const file = join(dir, 'cookie');
    writeFileSync(file, 'sEcReTcOoKiE\n');
    chmodSync(file, 0o600);
    assert.equal(readCookieFile(file), 'sEcReTcOoKiE');
    chmodSync(file, 0o400);
    assert.equal(readCookieFile(file), 'sEcReTcOoKiE');
    chmodSync(file, 0o644);
    assert.throws(
      () => readCookieFile(file),
      (err: unknown) =>
        err instanceof ClusterError &&
        err.code === 'CLUSTER_COOKIE' &&
        /mode 0644.*chmod 600/.test(err.message) &&
        !err.message.includes('sEcReT'),
    );
    writeFileSync(file, 'two words');
    chmodSync(file, 0o600);
    assert.throws(
      () => readCookieFile(file),
      (err: unknown) => err instanceof ClusterError && !err.message.includes('two'),
    );
    assert.throws(() => readCookieFile(join(dir, 'missing')), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('.hosts.erlang: quoted atoms and strings ending in a dot, comments skipped', () => {
  const text =
    "% the hosts\n'10.0.0.2'.\n\"h3.example\".  % third\nplainhost.\n'10.0.0.2'.\n'bad host'.\n% 'commented'.\n";
  assert.deepEqual(parseHostsErlang(text), ['10.0.0.2', 'h3.example', 'plainhost']);
});

test("a cluster's TLS files are read at start-up: an unusable one stops the daemon, named", () => {
  const dir = makeCerts(['10.0.0.1']);
  try {
    const own = certPaths(dir, '10.0.0.1');
    const catalog = { entries: () => [], find: () => undefined };
    const clusters = (tls: unknown) =>
      new Clusters(
        parseClustersConfig(
          JSON.stringify({
            host: '10.0.0.1',
            membership: own,
            clusters: { shop: { cookieFile: 'c', tls } },
          }),
          dir,
        ),
        catalog,
        silentLogger,
      );
    assert.ok(clusters(own) instanceof Clusters);
    assert.throws(
      () => clusters({ ...own, cert: 'missing.pem' }),
      (err: unknown) =>
        err instanceof ClusterError &&
        err.code === 'CLUSTER_CONFIG' &&
        /^clusters\.shop\.tls: cannot read the cert file .*missing\.pem/.test(err.message),
    );
    assert.throws(() => clusters({ ca: own.ca, cert: own.cert, key: own.ca }), /clusters\.shop\.tls: /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
