/**
 * Soak scenario: a TS node (in this process) receives fragmented messages from a raw peer that is
 * killed mid-fragment, again and again, while a real OTP node stays connected. What the node holds
 * (`node.inboundBytes`) must go back to zero each time, its RSS back near its baseline, and the OTP
 * node must keep answering.
 */
import { performance } from 'node:perf_hooks';
import { Fixture, distFrame, fragmentBody, handshakePeer } from '../test/distribution/helpers.ts';
import { HeaderTag } from '../src/distribution/header.ts';
import { atom } from '../src/etf/terms.ts';
import { termEquals } from '../src/etf/equals.ts';
import { waitFor } from '../test/support/processes.ts';
import { PortSlices } from '../test/support/ports.ts';
import { round, say } from './lib.ts';

const MiB = 1024 * 1024;

/**
 * This process's RSS, and the memory of its ArrayBuffers (where received bytes live), in MiB after
 * a full collection (the run starts node with --expose-gc).
 */
function settledMemory(): { rss: number; arrayBuffers: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, arrayBuffers } = process.memoryUsage();
  return { rss: round(rss / MiB, 1), arrayBuffers: round(arrayBuffers / MiB, 1) };
}

export async function fragments(options: { cycles: number }): Promise<Record<string, unknown>> {
  const f = new Fixture([44700, PortSlices.soak.load[1]]);
  try {
    await f.startEpmd();
    const erl = await f.startErl('soak_frag_otp');
    const node = await f.startNode('soak_frag_ts');
    const answers = async () => termEquals(await node.rpc(erl.name, 'erlang', 'node', []), atom(erl.name));
    if (!(await answers())) throw new Error('the OTP node does not answer before the run');
    const baseline = settledMemory();
    say('fragments', `baseline ${JSON.stringify(baseline)} MiB, inboundBytes ${node.inboundBytes}`);
    const chunk = Buffer.alloc(MiB, 7);
    let peakInbound = 0;
    let peakRss = baseline.rss;
    let otpAnswered = 0;
    const started = performance.now();
    for (let c = 0; c < options.cycles; c++) {
      const peer = await handshakePeer(node, `soak_frag_raw${c}@127.0.0.1`);
      // A message of 64 fragments: the first and 7 more arrive whole, then half of the 9th.
      const frames = [distFrame(fragmentBody(HeaderTag.FRAGMENT_FIRST, c + 1, 64, chunk))];
      for (let id = 63; id > 56; id--)
        frames.push(distFrame(fragmentBody(HeaderTag.FRAGMENT_NEXT, c + 1, id, chunk)));
      const half = distFrame(fragmentBody(HeaderTag.FRAGMENT_NEXT, c + 1, 56, chunk));
      frames.push(half.subarray(0, half.length >> 1));
      peer.socket.write(Buffer.concat(frames));
      await waitFor(() => node.inboundBytes >= 8 * chunk.length, 'the fragments held', 30_000);
      peakInbound = Math.max(peakInbound, node.inboundBytes);
      peakRss = Math.max(peakRss, process.memoryUsage().rss / MiB);
      peer.socket.destroy();
      await peer.closed;
      await waitFor(() => node.inboundBytes === 0, 'the node to give the fragments back', 30_000);
      if (!(await answers())) throw new Error(`cycle ${c + 1}: the OTP node does not answer`);
      otpAnswered++;
      if ((c + 1) % Math.max(1, Math.floor(options.cycles / 5)) === 0)
        say(
          'fragments',
          `cycle ${c + 1}: inboundBytes back to 0, RSS ${round(process.memoryUsage().rss / MiB, 1)} MiB`,
        );
    }
    const end = settledMemory();
    const summary = {
      ok: node.inboundBytes === 0 && otpAnswered === options.cycles,
      cycles: options.cycles,
      seconds: round((performance.now() - started) / 1000, 1),
      heldPerCycleBytes: 8 * chunk.length,
      peakInboundBytes: peakInbound,
      inboundBytesAtEnd: node.inboundBytes,
      rssMiB: { baseline: baseline.rss, peak: round(peakRss, 1), end: end.rss },
      arrayBuffersMiB: { baseline: baseline.arrayBuffers, end: end.arrayBuffers },
      otpNodeAnsweredAfterEveryCycle: otpAnswered === options.cycles,
    };
    say('fragments', JSON.stringify(summary));
    return summary;
  } finally {
    await f.cleanup();
  }
}
