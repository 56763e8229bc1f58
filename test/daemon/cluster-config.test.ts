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
import { parseDaemonArgs } from '../../src/daemon/options.ts';
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
      },
    ],
  });
});

test("a cluster's tls key is refused by name, and so is any unknown key", () => {
  const refused = (json: string, pattern: RegExp) =>
    assert.throws(
      () => parseClustersConfig(json, '/'),
      (err: unknown) =>
        err instanceof ClusterError && err.code === 'CLUSTER_CONFIG' && pattern.test(err.message),
    );
  refused(
    config({ shop: { cookieFile: 'c', tls: { ca: 'x' } } }),
    /clusters\.shop\.tls: TLS distribution .*not supported yet/,
  );
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
    writeFileSync(file, config({ shop: { cookieFile: 'c', tls: {} } }));
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
