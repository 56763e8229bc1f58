/**
 * `/metrics` as Prometheus scrapes it from a running daemon (no Docker here: lookups of registered
 * and unknown names): lookups counted by outcome and timed in a histogram, the daemon's gauges, and
 * the standard process and Node.js metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon } from '../../src/daemon/daemon.ts';
import { epmdPortPlease, epmdRegister } from '../../src/epmd/client.ts';
import { metricSamples } from '../support/metrics.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';

const nextPort = portAllocator(PortSlices.deploy.metrics);

test(
  'lookups by outcome, a lookup latency histogram, catalog gauges and process metrics',
  { timeout: 60_000 },
  async () => {
    const epmdPort = await nextPort();
    const metricsPort = await nextPort();
    const daemon = new Daemon({
      port: epmdPort,
      addresses: ['127.0.0.1'],
      docker: 'unix:///nonexistent/eid-metrics-test.sock',
      metrics: { host: '127.0.0.1', port: metricsPort },
    });
    await daemon.start();
    const reg = await epmdRegister('metrics_node', 40200, { epmdPort });
    try {
      const options = { epmdPort };
      for (let i = 0; i < 3; i++) await epmdPortPlease('metrics_node', '127.0.0.1', options);
      await assert.rejects(epmdPortPlease('nobody', '127.0.0.1', options));
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      const m = metricSamples(text);
      assert.equal(m.get('eid_epmd_lookups_total{outcome="registered"}'), 3, text);
      assert.equal(m.get('eid_epmd_lookups_total{outcome="unknown"}'), 1);
      assert.equal(m.get('eid_epmd_lookups_total{outcome="container"}'), 0);
      assert.equal(m.get('eid_lookup_duration_seconds_count'), 4);
      assert.equal(m.get('eid_lookup_duration_seconds_bucket{le="+Inf"}'), 4);
      assert.ok(m.get('eid_lookup_duration_seconds_sum')! > 0);
      // The unknown name reached the catalog (the registered ones did not): the older counters.
      assert.equal(m.get('eid_lookups_total'), 1);
      assert.equal(m.get('eid_lookup_misses_total'), 1);
      assert.equal(m.get('eid_registered_nodes'), 1);
      assert.equal(m.get('eid_docker_connected'), 0);
      assert.equal(m.get('eid_catalog_containers'), 0);
      assert.ok(m.get('eid_epmd_connections')! >= 1, 'the registration holds a connection');
      assert.equal(m.get('eid_skipped_containers{reason="ambiguous_name"}'), 0);
      for (const name of [
        'process_resident_memory_bytes',
        'process_open_fds',
        'process_cpu_seconds_total',
        'nodejs_eventloop_lag_seconds',
      ]) {
        assert.ok(m.get(name)! > 0 || name === 'nodejs_eventloop_lag_seconds', name);
        assert.ok(m.has(name), name);
      }
      assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
      assert.match(text, /^# TYPE eid_lookup_duration_seconds histogram$/m);
      assert.match(text, /^# TYPE eid_epmd_lookups_total counter$/m);
    } finally {
      await reg.close();
      await daemon.stop();
    }
  },
);
