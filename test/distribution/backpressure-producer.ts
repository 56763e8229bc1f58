/**
 * A producer for test/distribution/backpressure.test.ts, in a process of its own so that its
 * peak RSS is its own: a TS node that sends fresh 8 KiB binaries to `{sink, Consumer}` as fast as
 * it can for the given time, then prints one JSON line.
 *   mode 'async': `await node.sendAsync(...)` for each message;
 *   mode 'send':  `node.send` in batches, and on SendQueueFullError waits for the 'drain' event.
 *
 * Usage: node --import tsx test/distribution/backpressure-producer.ts '{"name":..,"cookie":..,
 *   "consumer":..,"proxyPort":..,"port":..,"mode":"async"|"send","seconds":20,"maxSendQueue":..}'
 */
import { once } from 'node:events';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import { SendQueueFullError } from '../../src/distribution/errors.ts';
import { Node } from '../../src/distribution/node.ts';
import { StaticResolver } from '../../src/distribution/resolver.ts';
import { atom, tuple } from '../../src/etf/terms.ts';

interface Config {
  name: string;
  cookie: string;
  consumer: string;
  proxyPort: number;
  port: number;
  mode: 'async' | 'send';
  seconds: number;
  /** limits.maxSendQueue (default: the node's). */
  maxSendQueue?: number;
}

const MESSAGE_BYTES = 8 * 1024;
/** Sends between yields in 'send' mode: enough to outrun a 10 MB/s consumer many times over. */
const BATCH = 256;

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const node = await Node.start({
  name: config.name,
  cookie: config.cookie,
  port: config.port,
  epmd: { register: false },
  ...(config.maxSendQueue === undefined ? {} : { limits: { maxSendQueue: config.maxSendQueue } }),
  resolver: new StaticResolver({ [config.consumer]: { host: '127.0.0.1', port: config.proxyPort } }),
});
const dest = tuple(atom('sink'), atom(config.consumer));
const message = (i: number) => Buffer.alloc(MESSAGE_BYTES, i & 0xff);
let sent = 0;
let refused = 0;
let maxQueued = 0;
const end = Date.now() + config.seconds * 1000;
if (config.mode === 'async') {
  while (Date.now() < end) {
    await node.sendAsync(dest, message(sent));
    sent++;
    maxQueued = Math.max(maxQueued, node.queuedBytes(config.consumer));
  }
} else {
  await node.connect(config.consumer);
  while (Date.now() < end) {
    for (let i = 0; i < BATCH; i++) {
      try {
        node.send(dest, message(sent));
        sent++;
      } catch (err) {
        if (!(err instanceof SendQueueFullError)) throw err;
        refused++;
        maxQueued = Math.max(maxQueued, node.queuedBytes(config.consumer));
        await once(node, 'drain');
        break;
      }
    }
    maxQueued = Math.max(maxQueued, node.queuedBytes(config.consumer));
    await yieldToIo();
  }
}
const peakRss = process.resourceUsage().maxRSS * 1024;
await node.stop();
process.stdout.write(`${JSON.stringify({ sentBytes: sent * MESSAGE_BYTES, refused, maxQueued, peakRss })}\n`);
