/**
 * Backpressure against a real OTP 25 consumer that reads 10 MB/s: TS producers that send as fast
 * as they can for 20 s stay under a stated peak RSS. The consumer's rate is set by a TCP relay in
 * this process that forwards what the producers write at 10 MB/s (BEAM reads distribution input
 * as fast as it arrives, whatever its processes do, so a slow Erlang process would not slow the
 * socket). A liveness and memory bound, not a timed test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { PortSlices } from '../support/ports.ts';
import { COOKIE, Fixture, type ErlNode } from './helpers.ts';

const PRODUCER = fileURLToPath(new URL('./backpressure-producer.ts', import.meta.url));
const SECONDS = 20;
const CONSUMER_BYTES_PER_SECOND = 10_000_000;
/**
 * The stated bound on a producer's peak RSS: Node and tsx (about 100 MiB here) plus the send
 * queue's 64 MiB bound (limits.maxSendQueue) and the garbage of 20 s of fresh messages. Without a
 * bound, 20 s of a producer outrunning the consumer holds gigabytes.
 */
const MAX_PRODUCER_RSS = 320 * 1024 * 1024;

const fx = new Fixture(PortSlices.groups.backpressure);
let consumer: ErlNode;
let relay: net.Server;
let relayPort: number;
const relayed = new Set<net.Socket>();

/** Forwards producer → consumer at CONSUMER_BYTES_PER_SECOND per connection, consumer → producer freely. */
function startRelay(target: number): net.Server {
  return net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    relayed.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      client.pause();
      setTimeout(() => client.resume(), (chunk.length / CONSUMER_BYTES_PER_SECOND) * 1000);
    });
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
}

before(async () => {
  await fx.startEpmd();
  consumer = await fx.startErl('consumer');
  relay = startRelay(consumer.port);
  relayPort = await fx.nextPort();
  await new Promise<void>((resolve) => relay.listen(relayPort, '127.0.0.1', resolve));
  // The consumer: a registered process that counts the bytes of the binaries it receives.
  const probe = await fx.startNode('probe', { hidden: true });
  await consumer.eval(
    probe,
    [
      'Sink = fun Loop(N) -> receive {total, P} -> P ! {total, N}, Loop(N);',
      ' B when is_binary(B) -> Loop(N + byte_size(B)); _ -> Loop(N) end end,',
      'register(sink, spawn(fun() -> Sink(0) end)), ok',
    ].join(''),
  );
});

after(async () => {
  for (const socket of relayed) socket.destroy();
  relay?.close();
  await fx.cleanup();
});

interface Report {
  sentBytes: number;
  refused: number;
  maxQueued: number;
  peakRss: number;
}

/** The send producer's bound: lower than the default 64 MiB so that a producer slowed by a busy machine still reaches it. */
const SEND_QUEUE_BOUND = 16 * 2 ** 20;

async function produce(name: string, mode: 'async' | 'send'): Promise<Report> {
  const config = {
    name: `${name}@127.0.0.1`,
    cookie: COOKIE,
    consumer: consumer.name,
    proxyPort: relayPort,
    port: await fx.nextPort(),
    mode,
    seconds: SECONDS,
    ...(mode === 'send' ? { maxSendQueue: SEND_QUEUE_BOUND } : {}),
  };
  // tsx by its resolved URL: the child runs in the temp directory, where no node_modules is.
  const tsx = import.meta.resolve('tsx');
  const child = fx.spawn(process.execPath, ['--import', tsx, PRODUCER, JSON.stringify(config)]);
  const { code, stdout, stderr } = await child.outcome();
  assert.equal(code, 0, `${mode} producer failed:\n${stdout}\n${stderr}`);
  return JSON.parse(stdout.trim().split('\n').pop()!) as Report;
}

test(
  `producers outrunning a 10 MB/s OTP consumer for ${SECONDS} s stay under ${MAX_PRODUCER_RSS / 2 ** 20} MiB RSS`,
  { timeout: 120_000 },
  async () => {
    // Both at once: one awaiting sendAsync (default limits), one calling send until
    // SendQueueFullError (limits.maxSendQueue 16 MiB), then waiting for 'drain'.
    const [byAsync, bySend] = await Promise.all([produce('async', 'async'), produce('sync', 'send')]);
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    const show = (r: Report) =>
      `sent ${mib(r.sentBytes)}, refused ${r.refused}, queue at most ${mib(r.maxQueued)}, peak RSS ${mib(r.peakRss)}`;
    for (const [mode, r] of [
      ['sendAsync', byAsync],
      ['send', bySend],
    ] as const) {
      assert.ok(r.peakRss < MAX_PRODUCER_RSS, `${mode} producer: ${show(r)}`);
      // Liveness: the relay passes 10 MB/s, so this is far below what arrives.
      assert.ok(r.sentBytes > 10 * 2 ** 20, `${mode} producer made no progress: ${show(r)}`);
    }
    // sendAsync waits at the high-water mark (8 MiB) and is never refused...
    assert.equal(byAsync.refused, 0, show(byAsync));
    assert.ok(byAsync.maxQueued < 8 * 2 ** 20 + 64 * 1024, show(byAsync));
    // ...send runs into limits.maxSendQueue and gets the typed error instead of queueing more.
    assert.ok(bySend.refused > 0, show(bySend));
    assert.ok(bySend.maxQueued < SEND_QUEUE_BOUND + 8 * 1024 * 2, show(bySend));
    const total = await consumer.eval(
      await fx.startNode('reader', { hidden: true }),
      'sink ! {total, self()}, receive {total, N} -> N end',
    );
    assert.ok(typeof total === 'number' && total > 10 * 2 ** 20, `the consumer got ${String(total)} bytes`);
    process.stdout.write(`# sendAsync: ${show(byAsync)}\n# send: ${show(bySend)}\n`);
  },
);
