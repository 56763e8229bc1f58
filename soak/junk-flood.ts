/**
 * The junk flood of the `junk` soak scenario, in its own process so that it does not slow the
 * lookups measured beside it: `senders` connections from 127.0.0.2..127.0.0.40, each writing
 * random bytes or an EPMD length prefix of 65,535 with some of it, then reconnecting after
 * `pauseMs`, until SIGTERM; then prints `{"junkConnections": N}`.
 *
 *   node --import tsx soak/junk-flood.ts PORT SENDERS PAUSE_MS
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const [port, senders, pauseMs] = process.argv.slice(2).map(Number) as [number, number, number];
let flooding = true;
let sent = 0;

async function sender(localAddress: string): Promise<void> {
  while (flooding) {
    await new Promise<void>((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1', localAddress });
      socket.on('error', () => undefined);
      socket.once('close', () => resolve());
      socket.once('connect', () => {
        const oversized = sent % 2 === 1;
        sent++;
        socket.write(
          oversized
            ? Buffer.concat([Buffer.from([0xff, 0xff]), randomBytes(2048)])
            : randomBytes(1 + (sent % 4096)),
        );
        // The daemon closes a malformed request; one still waiting for the rest of 65,535 bytes
        // is given up by the sender after 2 s (the daemon's own deadlines are longer).
        setTimeout(() => socket.destroy(), 2000).unref();
      });
    });
    await sleep(pauseMs);
  }
}

const all = Array.from({ length: senders }, (_, i) => sender(`127.0.0.${2 + (i % 39)}`));
process.once('SIGTERM', () => {
  flooding = false;
  void Promise.all(all).then(() => {
    console.log(JSON.stringify({ junkConnections: sent }));
    process.exit(0);
  });
});
console.log('FLOODING');
