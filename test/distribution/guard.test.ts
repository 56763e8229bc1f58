/**
 * Strangers at the handshake (issue 9, items 1, 2 and 9): a peer without the cookie can neither
 * cut a live connection nor keep a real node out, and one source address cannot hold every
 * handshake slot. The real nodes are OTP 25 `erl` nodes; the stranger is a raw socket speaking
 * the handshake with our own encoder, from another loopback address.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Fixture, COOKIE, type ErlNode } from './helpers.ts';
import { PortSlices } from '../support/ports.ts';
import { waitFor } from '../support/processes.ts';
import type { Node } from '../../src/distribution/node.ts';
import { FrameDecoder, encodeHandshakeFrame } from '../../src/distribution/framing.ts';
import { Handshake, HandshakeTag } from '../../src/distribution/handshake.ts';
import { DEFAULT_FLAGS, DistFlags } from '../../src/distribution/flags.ts';
import { atom } from '../../src/etf/terms.ts';
import { createLogger } from '../../src/log.ts';

const f = new Fixture(PortSlices.distribution.guard);
const lines: string[] = [];
const logger = createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(l) });
/** Strangers come from here; the real nodes from 127.0.0.1. */
const STRANGER_ADDRESS = '127.0.0.2';

interface Stranger {
  socket: net.Socket;
  /** Status strings the node sent (`ok`, `alive`, `nok`, ...). */
  statuses: string[];
  /** Bytes received in all. */
  received: number;
  /** Resolves once the node has sent its challenge (it has taken our send_name and status). */
  challenged: Promise<void>;
  /** Resolves once the node has acknowledged our challenge reply: the handshake is done. */
  done: Promise<void>;
  closed: Promise<void>;
}

/**
 * A raw connection to `target` that claims `claim`. With the wrong cookie it answers the
 * challenge with a wrong digest; with `stall` it never answers it. It answers `alive` with `true`.
 */
function stranger(
  target: Node,
  claim: string,
  options: { cookie?: string; stall?: boolean; from?: string } = {},
): Stranger {
  const socket = net.connect({
    host: '127.0.0.1',
    port: target.port,
    localAddress: options.from ?? STRANGER_ADDRESS,
  });
  socket.on('error', () => undefined);
  const hs = new Handshake('initiator', {
    thisName: claim,
    cookie: options.cookie ?? 'not-the-cookie',
    flags: DEFAULT_FLAGS | DistFlags.PUBLISHED,
    creation: 7,
    peerName: target.name,
  });
  const s: Partial<Stranger> & { statuses: string[]; received: number } = {
    socket,
    statuses: [],
    received: 0,
  };
  s.closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let challenged!: () => void;
  let done!: () => void;
  s.challenged = new Promise<void>((resolve) => (challenged = resolve));
  s.done = new Promise<void>((resolve) => (done = resolve));
  const frames = new FrameDecoder({ prefixSize: 2, maxFrame: 1024 });
  let up = false;
  socket.on('data', (chunk: Buffer) => {
    s.received += chunk.length;
    // Once up, what the node sends (ticks, global) is none of the stranger's business.
    if (up) return;
    for (const frame of frames.push(chunk)) {
      if (frame[0] === HandshakeTag.STATUS) s.statuses.push(frame.subarray(1).toString('latin1'));
      if (frame[0] === HandshakeTag.CHALLENGE) {
        challenged();
        if (options.stall === true) return;
      }
      try {
        const step = hs.receive(frame);
        for (const out of step.send) socket.write(encodeHandshakeFrame(out));
        if (step.done !== undefined) {
          up = true;
          done();
          return;
        }
      } catch {
        socket.destroy();
      }
    }
  });
  socket.once('connect', () => {
    for (const out of hs.start()) socket.write(encodeHandshakeFrame(out));
  });
  return s as Stranger;
}

after(async () => {
  await f.cleanup();
});

before(async () => {
  await f.startEpmd();
});

describe('a stranger claiming a connected node leaves its connection untouched', () => {
  let ts: Node;
  let b: ErlNode;
  const downs: string[] = [];

  before(async () => {
    b = await f.startErl('guard_b');
    // A short setup time, so the stalled stranger is timed out within the test.
    ts = await f.startNode('ts_guard1', { logger, connectTimeoutMs: 2000 });
    ts.on('nodedown', (node, { reason }) => downs.push(`${node} ${reason}`));
    assert.equal(await ts.ping(b.name), true);
  });

  test('it answers `true` to `alive`, then fails the challenge', { timeout: 60_000 }, async () => {
    const s = stranger(ts, b.name);
    await s.closed;
    // It got as far as OTP lets it: alive, its `true`, a challenge; then the wrong digest ended it.
    assert.deepEqual(s.statuses, ['alive']);
    assert.deepEqual(downs, [], 'the real connection was never dropped');
    assert.ok(ts.nodes().includes(b.name));
    assert.equal(await ts.rpc(b.name, 'erlang', 'node', []), atom(b.name));
    assert.deepEqual(downs, []);
  });

  test('it answers `true`, then stalls until the setup timer closes it', { timeout: 60_000 }, async () => {
    const s = stranger(ts, b.name, { stall: true });
    // The node has our `true` (it sent the challenge after it): the old connection still works...
    await s.challenged;
    assert.equal(await ts.rpc(b.name, 'erlang', 'node', []), atom(b.name));
    // ...and B, asked over it, still sees this very connection (no nodedown on either side).
    assert.equal(await b.eval(ts, `lists:member('${ts.name}', nodes())`), true);
    assert.deepEqual(downs, []);
    // The node's setup timer ends the stalled handshake, and only that.
    await s.closed;
    assert.ok(lines.some((l) => l.includes('DIST_HANDSHAKE_TIMEOUT')));
    assert.equal(await ts.rpc(b.name, 'erlang', 'node', []), atom(b.name));
    assert.deepEqual(downs, []);
  });

  test(
    'a peer with the cookie claiming the name still replaces the connection (a restarted node)',
    { timeout: 60_000 },
    async () => {
      const name = 'restarted@127.0.0.1';
      const first = stranger(ts, name, { cookie: COOKIE, from: '127.0.0.1' });
      await first.done;
      await waitFor(() => ts.nodes().includes(name), `${name} up`, 5000);
      const second = stranger(ts, name, { cookie: COOKIE, from: '127.0.0.1' });
      await second.done;
      assert.deepEqual(second.statuses, ['alive']);
      await first.closed;
      await waitFor(() => downs.includes(`${name} connection_replaced`), 'connection_replaced', 5000);
      assert.ok(ts.nodes().includes(name));
      second.socket.destroy();
    },
  );
});

describe('a stranger holding a pending handshake cannot keep the real node out', () => {
  let ts: Node;
  let driver: Node;

  before(async () => {
    // A long setup time: one stranger's pending handshake outlives every attempt below.
    ts = await f.startNode('ts_guard2', { logger, connectTimeoutMs: 60_000 });
    driver = await f.startNode('ts_driver');
  });

  // One name sorts before the node's, one after: the rule must not depend on name order.
  for (const alive of ['aa_guard_c', 'zz_guard_c']) {
    test(`${alive} connects in while a stranger claims its name`, { timeout: 60_000 }, async () => {
      const c = await f.startErl(alive);
      const s = stranger(ts, c.name, { stall: true });
      await s.challenged;
      // The real node dials the TS node: pong on its first attempt, or at worst its second.
      const pings: string[] = [];
      for (let i = 0; i < 2 && pings.at(-1) !== 'pong'; i++) {
        const r = await c.eval(driver, `net_adm:ping('${ts.name}')`);
        pings.push(String(r));
      }
      assert.equal(pings.at(-1), 'pong', `pings: ${pings.join(', ')}`);
      assert.ok(ts.nodes().includes(c.name));
      // The stranger's unproven handshake went with it.
      await s.closed;
      await c.proc.kill();
      await waitFor(() => !ts.nodes().includes(c.name), `${c.name} down`, 10_000);
    });
  }

  test('the node dials a name a stranger claims: ping succeeds at once', { timeout: 60_000 }, async () => {
    const c = await f.startErl('guard_dialled');
    const s = stranger(ts, c.name, { stall: true });
    await s.challenged;
    assert.equal(await ts.ping(c.name, 15_000), true);
    await s.closed;
    await c.proc.kill();
  });

  test('strangers reconnecting in a loop do not keep the real node out', { timeout: 60_000 }, async () => {
    const c = await f.startErl('guard_looped');
    let running = true;
    let attempts = 0;
    const loop = async (): Promise<void> => {
      while (running) {
        attempts++;
        const s = stranger(ts, c.name, { stall: true });
        await Promise.race([s.challenged, s.closed]);
        s.socket.destroy();
        await s.closed;
      }
    };
    const loops = [loop(), loop(), loop()];
    try {
      await waitFor(() => attempts > 10, 'strangers running', 10_000);
      const pings: string[] = [];
      for (let i = 0; i < 2 && pings.at(-1) !== 'pong'; i++) {
        const r = await c.eval(driver, `net_adm:ping('${ts.name}')`);
        pings.push(String(r));
      }
      assert.equal(pings.at(-1), 'pong', `pings: ${pings.join(', ')}`);
      assert.equal(await ts.rpc(c.name, 'erlang', 'node', []), atom(c.name));
    } finally {
      running = false;
      await Promise.all(loops);
    }
    await c.proc.kill();
  });
});

describe('handshake slots per source address and in total', () => {
  test(
    'over the per-address cap a connection is closed at once; other addresses still get in',
    { timeout: 60_000 },
    async () => {
      const ts = await f.startNode('ts_guard3', {
        logger,
        connectTimeoutMs: 60_000,
        limits: { maxHandshakes: 5, maxHandshakesPerAddress: 3 },
      });
      lines.length = 0;
      // Three stalled handshakes from one address take its slots (each proven taken: challenged).
      const held = [1, 2, 3].map((i) => stranger(ts, `held${i}@127.0.0.1`, { stall: true }));
      await Promise.all(held.map((s) => s.challenged));
      const over = stranger(ts, 'over@127.0.0.1', { stall: true });
      await over.closed;
      assert.equal(over.received, 0, 'closed without a word');
      assert.ok(
        lines.some((l) => l.includes('too many connections in the handshake') && l.includes('per-address')),
      );
      // Another address completes a whole handshake.
      const other = stranger(ts, 'other@127.0.0.1', { cookie: COOKIE, from: '127.0.0.3' });
      await other.done;
      await waitFor(() => ts.nodes().includes('other@127.0.0.1'), 'other up', 5000);
      // Its slot was given back when it came up: two more from a third address fill the total of 5.
      const third = [1, 2].map((i) =>
        stranger(ts, `third${i}@127.0.0.1`, { stall: true, from: '127.0.0.4' }),
      );
      await Promise.all(third.map((s) => s.challenged));
      const full = stranger(ts, 'full@127.0.0.1', { stall: true, from: '127.0.0.5' });
      await full.closed;
      assert.equal(full.received, 0);
      // Slots come back when the stalled handshakes end: the first address gets in again.
      for (const s of held) s.socket.destroy();
      await Promise.all(held.map((s) => s.closed));
      const again = stranger(ts, 'again@127.0.0.1', { cookie: COOKIE });
      await again.done;
      await waitFor(() => ts.nodes().includes('again@127.0.0.1'), 'again up', 5000);
      for (const s of [...third, other, again]) s.socket.destroy();
    },
  );
});
