/**
 * The lookup side of the Docker-host soak scenarios, run inside a test host's network namespace
 * (the only place the other host's daemon can be reached from). It takes one JSON request per
 * stdin line and answers each with one JSON line carrying the request's `id`:
 *
 *   {"op":"load","names":{"NAME":PORT},"concurrency":4}  steady lookups of NAMEs, each expected to give PORT
 *   {"op":"stats"}                 the load's figures since the last stats, then starts counting again
 *   {"op":"check","expect":{"NAME":PORT|null}}  each NAME looked up once: {"wrong":{NAME:GOT}}
 *   {"op":"lookup","name":N,"timeoutMs":T}      one lookup: {"port"} or {"failure"}, and "ms"
 *   {"op":"get","url":U}           an HTTP GET (the daemon's /healthz and /metrics): {"status","text"}
 *   {"op":"stop"}                  stops the load and exits
 *
 *   node --import tsx soak/agent.ts '{"host":"10.213.10.1","port":4369}'
 */
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { quantile } from '../bench/harness.ts';
import { lookupOnce, round } from './lib.ts';

const target = JSON.parse(process.argv[2] ?? '{}') as { host: string; port: number };
const lookup = (name: string, timeoutMs?: number) =>
  lookupOnce(target.port, name, { host: target.host, ...(timeoutMs === undefined ? {} : { timeoutMs }) });

interface Request {
  id: number;
  op: string;
  names?: Record<string, number>;
  concurrency?: number;
  expect?: Record<string, number | null>;
  name?: string;
  timeoutMs?: number;
  url?: string;
}

let load: { stop: boolean; workers: Promise<void>[] } | undefined;
let latencies: number[] = [];
let failed = 0;
let wrong = 0;
let since = performance.now();
/** The first few distinct failures of the interval, with their counts. */
let failures: Record<string, number> = {};

function startLoad(names: Record<string, number>, concurrency: number): void {
  const list = Object.entries(names);
  const running = { stop: false, workers: [] as Promise<void>[] };
  let i = 0;
  const worker = async () => {
    while (!running.stop && list.length > 0) {
      const [name, port] = list[i++ % list.length]!;
      const t = performance.now();
      try {
        const got = await lookup(name);
        latencies.push(performance.now() - t);
        if (got !== port) wrong++;
      } catch (err) {
        failed++;
        const key = String((err as Error).message).slice(0, 80);
        if (key in failures || Object.keys(failures).length < 3) failures[key] = (failures[key] ?? 0) + 1;
        await sleep(10);
      }
    }
  };
  running.workers = Array.from({ length: concurrency }, worker);
  load = running;
}

async function stopLoad(): Promise<void> {
  if (load === undefined) return;
  load.stop = true;
  await Promise.all(load.workers);
  load = undefined;
}

function stats(): Record<string, unknown> {
  const seconds = (performance.now() - since) / 1000;
  const out = {
    seconds: round(seconds, 1),
    answered: latencies.length,
    wrong,
    failed,
    perSecond: Math.round(latencies.length / seconds),
    p50Ms: round(quantile(latencies, 0.5)),
    p99Ms: round(quantile(latencies, 0.99)),
    maxMs: round(latencies.reduce((a, b) => Math.max(a, b), 0)),
    failures,
  };
  latencies = [];
  failed = 0;
  wrong = 0;
  failures = {};
  since = performance.now();
  return out;
}

/** Looks up every name once, 16 at a time; what differs from `expect` (an error as its message). */
async function check(expect: Record<string, number | null>): Promise<Record<string, unknown>> {
  const queue = Object.entries(expect);
  const differ: Record<string, number | string | null> = {};
  const worker = async () => {
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
      const [name, want] = next;
      const got = await lookup(name).then(
        (p) => p ?? null,
        (err: Error) => `error: ${err.message}`,
      );
      if (got !== want) differ[name] = got;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { wrong: differ, differing: Object.keys(differ).length };
}

async function handle(request: Request): Promise<Record<string, unknown>> {
  switch (request.op) {
    case 'load':
      await stopLoad();
      stats();
      startLoad(request.names ?? {}, request.concurrency ?? 4);
      return {};
    case 'stats':
      return stats();
    case 'check':
      return check(request.expect ?? {});
    case 'lookup': {
      const t = performance.now();
      const result = await lookup(request.name ?? '', request.timeoutMs).then(
        (port) => ({ port: port ?? null }),
        (err: Error) => ({ failure: err.message }),
      );
      return { ...result, ms: Math.round(performance.now() - t) };
    }
    case 'get': {
      const res = await fetch(request.url ?? '', { signal: AbortSignal.timeout(5_000) });
      return { status: res.status, text: await res.text() };
    }
    case 'stop':
      await stopLoad();
      process.exit(0);
    // falls through (exit does not return)
    default:
      throw new Error(`unknown op ${request.op}`);
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  const request = JSON.parse(line) as Request;
  // Requests run concurrently: a stats or health poll must not wait behind a slow check.
  void handle(request).then(
    (reply) => console.log(JSON.stringify({ id: request.id, ...reply })),
    (err: unknown) => console.log(JSON.stringify({ id: request.id, error: String(err) })),
  );
}
await stopLoad();
