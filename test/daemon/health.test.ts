/** `/healthz` and the catalog's metrics: degraded is still 200, only a closed EPMD listener is 503. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon } from '../../src/daemon/daemon.ts';
import { health, MetricsServer, renderMetrics, type MetricsSnapshot } from '../../src/daemon/metrics.ts';
import { parseDaemonArgs } from '../../src/daemon/options.ts';
import { EidError } from '../../src/errors.ts';

const healthy: MetricsSnapshot = {
  lookups: 0,
  hits: 0,
  misses: 0,
  catalogSize: 1,
  dockerReconnects: 0,
  dockerConnected: true,
  registeredNodes: 0,
  catalogSyncAgeSeconds: 5,
  catalogMaxSyncAgeSeconds: 180,
  epmdListening: true,
};

test('health: ok; degraded (200) when Docker is away or the catalog is stale; 503 only when EPMD is down', () => {
  assert.deepEqual(health(healthy), { status: 200, text: 'ok' });
  assert.deepEqual(health({ ...healthy, dockerConnected: false }), {
    status: 200,
    text: 'degraded: docker unreachable',
  });
  assert.deepEqual(health({ ...healthy, catalogSyncAgeSeconds: 200 }), {
    status: 200,
    text: 'degraded: catalog not synced for 200 s',
  });
  assert.equal(health({ ...healthy, epmdListening: false, dockerConnected: false }).status, 503);
});

test('metrics: skipped containers by reason (every reason, zero included), sync age, inspect failures', async () => {
  const text = await renderMetrics({
    ...healthy,
    inspectFailures: 3,
    skipped: { ambiguous_name: 2, name_taken: 1 },
  });
  for (const line of [
    'eid_skipped_containers{reason="ambiguous_name"} 2',
    'eid_skipped_containers{reason="name_taken"} 1',
    'eid_skipped_containers{reason="no_node_port"} 0',
    'eid_skipped_containers{reason="loopback_only"} 0',
    'eid_catalog_sync_age_seconds 5',
    'eid_inspect_failures_total 3',
    '# TYPE eid_skipped_containers gauge',
  ]) {
    assert.ok(text.split('\n').includes(line), line);
  }
});

test('a daemon without Docker is degraded but healthy (200); with its EPMD listener closed, 503', async () => {
  const daemon = new Daemon({ port: 0, addresses: ['127.0.0.1'], docker: 'unix:///nonexistent/docker.sock' });
  const metrics = new MetricsServer(() => daemon.snapshot());
  await daemon.start();
  const { port } = await metrics.listen('127.0.0.1', 0);
  try {
    const first = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(first.status, 200);
    assert.equal(await first.text(), 'degraded: docker unreachable\n');
    await daemon.server.close();
    const down = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(down.status, 503);
    assert.match(await down.text(), /^down: /);
  } finally {
    await metrics.close();
    await daemon.stop();
  }
});

test('settings: --resync-interval (EID_RESYNC_INTERVAL) in whole seconds', () => {
  assert.equal(parseDaemonArgs(['--resync-interval', '5'], {}).resyncIntervalMs, 5_000);
  assert.equal(parseDaemonArgs([], { EID_RESYNC_INTERVAL: '120' }).resyncIntervalMs, 120_000);
  assert.equal(parseDaemonArgs([], {}).resyncIntervalMs, undefined);
  for (const bad of ['0', '-1', '1.5', 'x', '86401']) {
    assert.throws(
      () => parseDaemonArgs(['--resync-interval', bad], {}),
      (e: unknown) => e instanceof EidError && e.code === 'CLI_USAGE',
      bad,
    );
  }
});

test('settings: --metrics PORT listens on 127.0.0.1; ADDR:PORT as given; --expose-page is a switch', () => {
  assert.deepEqual(parseDaemonArgs(['--metrics', '9369'], {}).metrics, { host: '127.0.0.1', port: 9369 });
  assert.deepEqual(parseDaemonArgs([], { EID_METRICS: '0.0.0.0:9369' }).metrics, {
    host: '0.0.0.0',
    port: 9369,
  });
  assert.equal(parseDaemonArgs(['--metrics', '9369'], {}).exposePage, false);
  assert.equal(parseDaemonArgs(['--expose-page', '--metrics', '9369'], {}).exposePage, true);
  assert.equal(parseDaemonArgs([], { EID_EXPOSE_PAGE: '1' }).exposePage, true);
  assert.equal(parseDaemonArgs(['--expose-page=0'], { EID_EXPOSE_PAGE: '1' }).exposePage, false);
  assert.throws(
    () => parseDaemonArgs(['--expose-page=yes'], {}),
    (e: unknown) => e instanceof EidError && e.code === 'CLI_USAGE',
  );
});
