/**
 * What the soak scenarios share: `eid daemon` as users run it (bin/eid.js on the built dist/, no
 * Docker), RSS from /proc, a lookup load generator that reports per interval, and JSON summaries.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { decodePort2Reply, encodeRequest } from '../src/epmd/protocol.ts';
import { quantile } from '../bench/harness.ts';
import { PortSlices, portAllocator } from '../test/support/ports.ts';
import { Processes, waitFor, type Spawned } from '../test/support/processes.ts';

export const eidBin = fileURLToPath(new URL('../bin/eid.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
/** A Docker endpoint that does not exist: the daemon serves registrations and logs Docker as down. */
export const NO_DOCKER = 'unix:///nonexistent/eid-soak.sock';

/** Ports of the soak run (test/support/ports.ts: PortSlices.soak). */
export const nextPort = portAllocator([PortSlices.soak.load[0], 44699]);

export const processes = new Processes();
process.once('exit', () => void processes.stopAll());

/** Resident set size of `pid` in MiB, from /proc/PID/status (NaN once it has exited). */
export function rssMiB(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return Number(line?.split(/\s+/)[1]) / 1024;
  } catch {
    return NaN;
  }
}

/** `eid daemon` on 127.0.0.1:`port` with Docker unreachable and `args` added; resolves once it serves. */
export async function startDaemon(port: number, args: string[] = []): Promise<Spawned> {
  const daemon = processes.spawn(process.execPath, [
    eidBin,
    'daemon',
    ...['--port', String(port), '--address', '127.0.0.1', '--docker', NO_DOCKER, '--log-level', 'warn'],
    ...args,
  ]);
  await waitFor(
    async () => {
      if (!daemon.running) throw new Error(`eid daemon exited: ${daemon.stderr}`);
      return lookupOnce(port, 'nobody').then(
        () => true,
        () => false,
      );
    },
    'eid daemon to answer',
    60_000,
  );
  return daemon;
}

/** Where and how {@link lookupOnce} asks. */
export interface LookupOptions {
  /** The daemon's address (127.0.0.1). */
  host?: string;
  localAddress?: string;
  /** No answer within this long is an error (10 s). */
  timeoutMs?: number;
}

/**
 * One PORT_PLEASE2 of `name` on its own connection, as OTP's erl_epmd does; resolves with the port
 * it names, or undefined for "not found"; rejects on anything else.
 */
export function lookupOnce(
  port: number,
  name: string,
  options: LookupOptions = {},
): Promise<number | undefined> {
  const { host = '127.0.0.1', localAddress, timeoutMs = 10_000 } = options;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, noDelay: true, ...(localAddress ? { localAddress } : {}) });
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    socket.on('connect', () => socket.write(encodeRequest({ type: 'portPlease2', name })));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', (hadError) => {
      if (hadError) return;
      try {
        const reply = decodePort2Reply(Buffer.concat(chunks))?.reply;
        if (reply === undefined) reject(new Error('connection closed without a reply'));
        else resolve(reply.found ? reply.entry.port : undefined);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

/** One interval of a load run. */
export interface Interval {
  atSeconds: number;
  lookups: number;
  errors: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  daemonRssMiB?: number;
}

export interface LoadOptions {
  /** The lookup: resolves when answered as expected, rejects otherwise. */
  op: (i: number) => Promise<unknown>;
  concurrency: number;
  seconds: number;
  intervalSeconds: number;
  /** Called at the end of each interval; what it returns is added to the interval's figures. */
  sample?: () => Partial<Interval>;
  /** Stops the run early when it returns true (checked between lookups). */
  stop?: () => boolean;
  print?: (interval: Interval) => void;
}

/**
 * The bounded load generator: `concurrency` workers, each one lookup at a time back to back, for
 * `seconds`; figures per interval and for the whole run.
 */
export async function loadIntervals(
  options: LoadOptions,
): Promise<{ intervals: Interval[]; total: Interval }> {
  const start = performance.now();
  const deadline = start + options.seconds * 1000;
  const all: number[] = [];
  let current: number[] = [];
  let errors = 0;
  let totalErrors = 0;
  let intervalStart = start;
  let i = 0;
  const intervals: Interval[] = [];
  const figures = (latencies: number[], errs: number, from: number, to: number): Interval => ({
    atSeconds: Math.round((to - start) / 100) / 10,
    lookups: latencies.length,
    errors: errs,
    perSecond: Math.round(latencies.length / ((to - from) / 1000)),
    p50Ms: round(quantile(latencies, 0.5)),
    p99Ms: round(quantile(latencies, 0.99)),
    maxMs: round(latencies.reduce((a, b) => Math.max(a, b), 0)),
  });
  const close = () => {
    const now = performance.now();
    const interval = { ...figures(current, errors, intervalStart, now), ...options.sample?.() };
    intervals.push(interval);
    options.print?.(interval);
    for (const l of current) all.push(l);
    current = [];
    errors = 0;
    intervalStart = now;
  };
  const timer = setInterval(close, options.intervalSeconds * 1000);
  const worker = async () => {
    while (performance.now() < deadline && !(options.stop?.() ?? false)) {
      const t = performance.now();
      try {
        await options.op(i++);
        current.push(performance.now() - t);
      } catch {
        errors++;
        totalErrors++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  clearInterval(timer);
  // A last partial interval is reported only when it is long enough to mean something.
  if (performance.now() - intervalStart >= (options.intervalSeconds * 1000) / 2) close();
  for (const l of current) all.push(l);
  return { intervals, total: { ...figures(all, totalErrors, start, performance.now()) } };
}

export const round = (x: number, places = 2): number => Math.round(x * 10 ** places) / 10 ** places;

/** Prints one line of figures. */
export function say(scenario: string, text: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${scenario}: ${text}`);
}

export function formatInterval(i: Interval): string {
  const rss = i.daemonRssMiB === undefined ? '' : `, daemon RSS ${round(i.daemonRssMiB, 1)} MiB`;
  return (
    `t=${i.atSeconds}s ${i.perSecond} lookups/s, p50 ${i.p50Ms} ms, p99 ${i.p99Ms} ms, ` +
    `max ${i.maxMs} ms, ${i.errors} errors${rss}`
  );
}

/** Writes soak/results/<scenario>.json (git-ignored); returns its path. */
export function writeSummary(scenario: string, summary: Record<string, unknown>): string {
  mkdirSync(RESULTS, { recursive: true });
  const path = `${RESULTS}${scenario}.json`;
  writeFileSync(path, `${JSON.stringify({ scenario, at: new Date().toISOString(), ...summary }, null, 2)}\n`);
  return path;
}

/** Closes `sockets` and waits for each to be closed. */
export async function closeAll(sockets: net.Socket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.destroyed) return resolve();
          s.once('close', () => resolve());
          s.destroy();
        }),
    ),
  );
}
