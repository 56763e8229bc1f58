/** Pieces the benches share. */
import { setTimeout as sleep } from 'node:timers/promises';
import { names } from '../src/epmd/client.ts';

/** Whether an EPMD (stock or ours) answers a NAMES request on 127.0.0.1:`port`. */
export function epmdAnswers(port: number): Promise<boolean> {
  return names('127.0.0.1', { epmdPort: port, timeoutMs: 500 }).then(
    () => true,
    () => false,
  );
}

/** Waits up to 10 s for an EPMD to answer on `port`. */
export async function waitForEpmd(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await epmdAnswers(port)) return;
    await sleep(50);
  }
  throw new Error(`nothing answers EPMD on port ${port}`);
}

/** The `fraction` (0..1) percentile of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}
