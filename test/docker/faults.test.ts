/**
 * Faults a real dockerd does not produce, from a fake Engine API on a unix socket: an event line
 * that never ends, and garbage on the event stream. The catalog must drop the stream, reconnect
 * and resync, never buffer without bound or crash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DockerCatalog, type CatalogOptions } from '../../src/docker/catalog.ts';
import { MAX_EVENT_LINE } from '../../src/docker/events.ts';
import { Daemon } from '../../src/daemon/daemon.ts';
import { epmdNames, epmdPortPlease } from '../../src/epmd/client.ts';

interface FakeDocker {
  endpoint: string;
  requests: string[];
  close(): Promise<void>;
}

/** A fake Engine API: `containers` (inspect replies; none by default), and `events` decides what each /events stream sends. */
async function fakeDocker(
  events: (res: http.ServerResponse, n: number) => void,
  containers: { Id: string }[] = [],
): Promise<FakeDocker> {
  const dir = mkdtempSync(join(tmpdir(), 'eid-fake-docker-'));
  const socketPath = join(dir, 'docker.sock');
  const requests: string[] = [];
  let streams = 0;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    requests.push(path);
    if (path === '/version') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ApiVersion: '1.41' }));
    } else if (path === '/v1.41/containers/json') {
      const list = JSON.stringify(containers.map((c) => ({ Id: c.Id })));
      res.writeHead(200, { 'content-type': 'application/json' }).end(list);
    } else if (containers.some((c) => path === `/v1.41/containers/${c.Id}/json`)) {
      const info = containers.find((c) => path === `/v1.41/containers/${c.Id}/json`);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(info));
    } else if (path === '/v1.41/events') {
      res.statusCode = 200;
      res.setHeader('content-type', 'application/json');
      events(res, streams++);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    endpoint: `unix://${socketPath}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(50);
  assert.ok(condition(), `timed out waiting for ${what}`);
}

/** Runs `body` with a started catalog on `docker`; both are stopped afterwards, even on failure. */
async function withCatalog(
  docker: FakeDocker,
  options: Partial<CatalogOptions>,
  body: (catalog: DockerCatalog) => Promise<void>,
): Promise<void> {
  const catalog = new DockerCatalog({ endpoint: docker.endpoint, ...options });
  try {
    catalog.start();
    await body(catalog);
  } finally {
    await catalog.stop();
    await docker.close();
  }
}

const FAST_RETRY = { minBackoffMs: 20, maxBackoffMs: 50 };

test(
  'an event line that never ends is cut at the cap; the catalog reconnects and resyncs',
  { timeout: 60_000 },
  async () => {
    let written = 0;
    const docker = await fakeDocker((res, n) => {
      // Later streams stay open and quiet (headers sent, as dockerd does at once).
      if (n > 0) return void res.flushHeaders();
      res.flushHeaders();
      // Chunks of 64 KiB with no newline, far past the cap, as long as the client reads.
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        while (written < 4 * MAX_EVENT_LINE && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      pump();
    });
    await withCatalog(docker, FAST_RETRY, async (catalog) => {
      await until(() => catalog.stats().syncs >= 2 && catalog.stats().connected, 'a resync after the cut');
      assert.ok(catalog.stats().reconnects >= 1);
      assert.ok(written < 4 * MAX_EVENT_LINE, `the client kept reading past the cap (${written} bytes sent)`);
      assert.ok(docker.requests.filter((p) => p === '/v1.41/events').length >= 2);
    });
  },
);

test(
  'garbage and foreign events on the stream are ignored; a stream that ends is reopened',
  { timeout: 60_000 },
  async () => {
    const docker = await fakeDocker((res, n) => {
      res.flushHeaders();
      res.write('not json\n{"Type":"container","Action":"start","Actor":{"ID":"../../etc"}}\n[]\n');
      if (n === 0) res.end();
    });
    await withCatalog(docker, FAST_RETRY, async (catalog) => {
      await until(() => catalog.stats().syncs >= 2 && catalog.stats().connected, 'the reopened stream');
      // Nothing but the API's own paths was ever asked: the bad ID never reached a URL.
      for (const path of docker.requests) {
        assert.ok(['/version', '/v1.41/containers/json', '/v1.41/events'].includes(path), path);
      }
      assert.equal(catalog.stats().size, 0);
    });
  },
);

test(
  'a Docker that never answers the event stream request does not hold up stop()',
  { timeout: 30_000 },
  async () => {
    // Headers never sent: the request stays open with no response.
    const docker = await fakeDocker(() => undefined);
    await withCatalog(docker, {}, async (catalog) => {
      await until(() => docker.requests.includes('/v1.41/events'), 'the events request');
      assert.equal(catalog.stats().connected, false);
    });
  },
);

test(
  'nothing sent to the EPMD port reaches Docker: lookups, NAMES, DUMP and junk are answered from memory',
  { timeout: 60_000 },
  async () => {
    const id = 'c'.repeat(64);
    const container = {
      Id: id,
      Name: '/web',
      State: { Running: true, Paused: false },
      Config: { Hostname: 'webhost', Labels: {} },
      NetworkSettings: { Ports: { '12345/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }] } },
    };
    const docker = await fakeDocker((res) => res.flushHeaders(), [container]);
    const daemon = new Daemon({ port: 0, addresses: ['127.0.0.1'], docker: docker.endpoint });
    try {
      const synced = daemon.catalog.synced();
      await daemon.start();
      await synced;
      const asked = docker.requests.length;
      const epmdPort = daemon.server.port;
      assert.equal((await epmdPortPlease('web', '127.0.0.1', { epmdPort })).port, 32768);
      for (const name of [
        'nobody',
        'f'.repeat(64),
        id.slice(0, 12),
        '..%2fcontainers%2fjson',
        'x'.repeat(255),
      ]) {
        await epmdPortPlease(name, '127.0.0.1', { epmdPort }).catch(() => undefined);
      }
      await epmdNames('127.0.0.1', { epmdPort });
      // DUMP, an HTTP request for the Engine API, and random bytes, each on its own connection.
      for (const bytes of [
        Buffer.from([0, 1, 100]),
        Buffer.from(`GET /v1.41/containers/${id}/json HTTP/1.1\r\nHost: docker\r\n\r\n`),
        Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff)),
      ]) {
        const socket = net.connect({ port: epmdPort, host: '127.0.0.1' });
        socket.on('error', () => undefined);
        socket.resume();
        socket.end(bytes);
        await new Promise((resolve) => socket.once('close', resolve));
      }
      assert.deepEqual(docker.requests.slice(asked), []);
    } finally {
      await daemon.stop();
      await docker.close();
    }
  },
);
