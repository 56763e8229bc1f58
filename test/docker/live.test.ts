/**
 * The catalog against a real dockerd (one test host from test/harness): built from the list, kept
 * current by events, every way of naming a container. Needs root.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { DockerCatalog } from '../../src/docker/catalog.ts';
import { CatalogSource } from '../../src/daemon/catalog-source.ts';
import { connectDocker } from '../../src/docker/client.ts';
import { HOST_MOUNTS, upHosts, type Host, type TestHosts } from '../harness/hosts.ts';

let hosts: TestHosts;
let host: Host;

/**
 * A container of test `t` that publishes `ports` and just sleeps (no Erlang needed to be
 * catalogued); removed when the test ends, so no test sees another's containers.
 */
async function sleeper(t: TestContext, args: string[], ports: string[] = ['12345']): Promise<string> {
  const publish = ports.flatMap((p) => ['-p', p]);
  const id = await host.docker([
    'run',
    '-d',
    ...publish,
    ...HOST_MOUNTS,
    ...args,
    'eid-otp25',
    'sleep',
    '3600',
  ]);
  t.after(() => host.docker(['rm', '-f', id]).catch(() => undefined));
  return id;
}

/** A catalog of test `t`, synced with the host's dockerd, stopped when the test ends. */
async function startCatalog(t: TestContext): Promise<{ catalog: DockerCatalog; source: CatalogSource }> {
  const catalog = new DockerCatalog({ endpoint: host.endpoint, minBackoffMs: 50, maxBackoffMs: 200 });
  t.after(() => catalog.stop());
  const synced = catalog.synced();
  catalog.start();
  await synced;
  return { catalog, source: new CatalogSource(catalog) };
}

/**
 * Waits for the catalog to reach a state that events bring in the background: 60 s, a liveness
 * bound (a loaded dockerd can take seconds to stop, restart or report a container).
 */
async function until<T>(read: () => T, ok: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const value = read();
    if (ok(value)) return value;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const publishedPort = async (id: string, port = 12345) =>
  Number((await host.docker(['port', id, `${port}/tcp`])).split('\n')[0]!.split(':').pop());

before(async () => {
  hosts = await upHosts(2);
  host = hosts.h1;
});

after(async () => {
  await hosts?.down();
});

test('the API version is negotiated with the daemon, not hard-coded', async () => {
  const { apiVersion } = await connectDocker(host.endpoint);
  const server = await host.docker(['version', '-f', '{{.Server.APIVersion}}']);
  assert.equal(apiVersion, server);
});

test('a catalog built from the container list finds containers by every name', async (t) => {
  const id = await sleeper(t, [
    '--name',
    'listed',
    '--hostname',
    'listedhost',
    '--label',
    'eid.name=listedlabel',
  ]);
  await sleeper(t, ['--name', 'unpublished'], []);
  const { source } = await startCatalog(t);
  const port = await publishedPort(id);
  for (const name of [id, id.slice(0, 12), id.slice(0, 8), 'listed', 'listedhost', 'listedlabel']) {
    assert.equal(source.lookup(name)?.port, port, name);
  }
  assert.equal(source.lookup('unpublished'), undefined);
  // NAMES lists the name the node uses: the eid.name label when set, else the hostname.
  assert.deepEqual([...source.names()], [{ name: 'listedlabel', port }]);
});

test('events: a started container appears, a renamed one changes name, a stopped one disappears', async (t) => {
  const { source } = await startCatalog(t);
  const id = await sleeper(t, ['--name', 'late']);
  const port = await publishedPort(id);
  await until(
    () => source.lookup('late')?.port,
    (p) => p === port,
    'the started container',
  );
  assert.equal(source.lookup(id.slice(0, 12))?.port, port);

  await host.docker(['rename', 'late', 'later']);
  await until(
    () => source.lookup('later'),
    (e) => e !== undefined,
    'the rename',
  );
  assert.equal(source.lookup('late'), undefined);

  await host.docker(['pause', id]);
  await until(
    () => source.lookup('later'),
    (e) => e === undefined,
    'the pause',
  );
  await host.docker(['unpause', id]);
  await until(
    () => source.lookup('later'),
    (e) => e !== undefined,
    'the unpause',
  );

  await host.docker(['stop', '-t', '0', id]);
  await until(
    () => source.lookup('later'),
    (e) => e === undefined,
    'the stop',
  );
  await host.docker(['start', id]);
  const newPort = await publishedPort(id);
  await until(
    () => source.lookup('later')?.port,
    (p) => p === newPort,
    'the restart',
  );

  await host.docker(['rm', '-f', id]);
  await until(
    () => source.lookup(id),
    (e) => e === undefined,
    'the removal',
  );
});

test('the eid.port label picks the node port per container', async (t) => {
  const { source } = await startCatalog(t);
  const id = await sleeper(t, ['--name', 'custom', '--label', 'eid.port=9000'], ['12345', '9000']);
  const port = await publishedPort(id, 9000);
  await until(
    () => source.lookup('custom')?.port,
    (p) => p === port,
    'the labelled container',
  );
});

test('Docker going away: the catalog keeps its entries, reconnects and resyncs (changes made meanwhile included)', async (t) => {
  await sleeper(t, ['--name', 'doomed']);
  const { catalog, source } = await startCatalog(t);
  const before = catalog.stats();
  assert.equal(before.connected, true);
  const known = source.lookup('doomed');
  assert.ok(known !== undefined);
  const pid = Number(await host.docker(['inspect', '-f', '{{.State.Pid}}', 'doomed']));

  await hosts.stopDocker(host);
  try {
    await until(
      () => catalog.stats().connected,
      (c) => !c,
      'the catalog to notice',
    );
    assert.deepEqual(source.lookup('doomed'), known);
    // The container dies while no dockerd watches (it lived on thanks to --live-restore):
    // no event will ever say so; only the resync can notice.
    process.kill(pid, 'SIGKILL');
  } finally {
    await hosts.startDocker(host);
  }
  await until(
    () => catalog.stats().connected,
    (c) => c,
    'the reconnection',
  );
  await until(
    () => source.lookup('doomed'),
    (e) => e === undefined,
    'the resync',
  );
  assert.ok(catalog.stats().reconnects > before.reconnects);
  assert.ok(catalog.stats().syncs > before.syncs);
});
