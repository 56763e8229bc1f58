/**
 * The client's failure modes, each with the code that says what happened: refused, timeout (a
 * stock epmd told to delay its writes), name not registered, closed without a reply, a reply that
 * does not parse (a fake server: real epmds do not send garbage), duplicate name, and the
 * registration's `closed` promise when epmd goes away.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { epmdNames, epmdPortPlease, epmdRegister } from '../../src/epmd/client.ts';
import { EpmdServer } from '../../src/epmd/server.ts';
import { EpmdError } from '../../src/errors.ts';
import { PortSlices, portAllocator, waitForListening } from '../support/ports.ts';
import { Processes } from '../support/processes.ts';

const nextPort = portAllocator(PortSlices.epmd.client);
const processes = new Processes();
const cleanups: (() => Promise<void> | void)[] = [];

after(async () => {
  for (const c of cleanups) await c();
  await processes.stopAll();
});

const code = (expected: string, peer?: string) => (err: unknown) => {
  assert.ok(err instanceof EpmdError, String(err));
  assert.equal(err.code, expected, err.message);
  if (peer !== undefined) assert.equal(err.peer, peer);
  return true;
};

test('nothing listening: EPMD_REFUSED with the peer', async () => {
  const port = await nextPort();
  await assert.rejects(epmdNames('127.0.0.1', { epmdPort: port }), code('EPMD_REFUSED', `127.0.0.1:${port}`));
  await assert.rejects(epmdPortPlease('x', '::1', { epmdPort: port }), code('EPMD_REFUSED', `[::1]:${port}`));
  await assert.rejects(epmdRegister('x', 1, { epmdPort: port }), code('EPMD_REFUSED'));
});

test('an epmd slower than timeoutMs: EPMD_TIMEOUT', async () => {
  const port = await nextPort();
  // -delay_write makes stock epmd sleep before every reply (its own "busy server" test switch).
  processes.spawn('epmd', ['-port', String(port), '-delay_write', '2']);
  await waitForListening(port);
  await assert.rejects(
    epmdPortPlease('x', '127.0.0.1', { epmdPort: port, timeoutMs: 300 }),
    code('EPMD_TIMEOUT', `127.0.0.1:${port}`),
  );
});

test('unknown name: EPMD_NOT_REGISTERED; a name epmd will not look up: EPMD_CLOSED', async () => {
  const server = new EpmdServer({ port: await nextPort() });
  cleanups.push(() => server.close());
  await server.listen();
  await assert.rejects(epmdPortPlease('ghost', '127.0.0.1', { epmdPort: server.port }), (err) => {
    code('EPMD_NOT_REGISTERED', `127.0.0.1:${server.port}`)(err);
    assert.equal((err as EpmdError).node, 'ghost');
    return true;
  });
  await assert.rejects(epmdPortPlease('a\0b', '127.0.0.1', { epmdPort: server.port }), code('EPMD_CLOSED'));
});

test('registration.closed stays pending while the EPMD keeps the name, resolves when the EPMD goes away', async () => {
  const server = new EpmdServer({ port: await nextPort() });
  await server.listen();
  const reg = await epmdRegister('orphan', 43799, { epmdPort: server.port });
  let closed = false;
  void reg.closed.then(() => (closed = true));
  // A NAMES round trip after the registration: the EPMD still holds the name and nothing closed it.
  assert.deepEqual((await epmdNames('127.0.0.1', { epmdPort: server.port })).nodes, [
    { name: 'orphan', port: 43799 },
  ]);
  assert.equal(closed, false, 'closed settled while the registration was live');
  await server.close();
  await reg.closed;
  assert.equal(closed, true);
  await assert.rejects(epmdNames('127.0.0.1', { epmdPort: server.port }), code('EPMD_REFUSED'));
});

test('a reply that does not parse: EPMD_MALFORMED (fault injection)', async () => {
  const port = await nextPort();
  const garbage = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end(Buffer.from('HTTP/1.0 400\r\n')));
  });
  cleanups.push(() => new Promise<void>((r) => garbage.close(() => r())));
  await new Promise<void>((r) => garbage.listen(port, '127.0.0.1', r));
  await assert.rejects(
    epmdPortPlease('x', '127.0.0.1', { epmdPort: port }),
    code('EPMD_MALFORMED', `127.0.0.1:${port}`),
  );
  await assert.rejects(epmdRegister('x', 1, { epmdPort: port }), code('EPMD_MALFORMED'));
  await assert.rejects(epmdNames('127.0.0.1', { epmdPort: port }), code('EPMD_MALFORMED'));
});

test('a NAMES reply that never ends is cut at 1 MiB: EPMD_MALFORMED (fault injection)', async () => {
  const port = await nextPort();
  const line = Buffer.from('name x at port 1\n'.repeat(4096));
  const endless = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => {
      s.write(Buffer.from([0, 0, 0x11, 0x11]));
      const more = () => {
        while (!s.destroyed && s.write(line));
        if (!s.destroyed) s.once('drain', more);
      };
      more();
    });
  });
  cleanups.push(() => new Promise<void>((r) => endless.close(() => r())));
  await new Promise<void>((r) => endless.listen(port, '127.0.0.1', r));
  await assert.rejects(epmdNames('127.0.0.1', { epmdPort: port }), (err) => {
    code('EPMD_MALFORMED', `127.0.0.1:${port}`)(err);
    assert.match((err as EpmdError).message, /more than 1048576 bytes/);
    return true;
  });
});
