/** Pieces the EPMD and daemon benches share: servers, the C limit, and the lookup load generator. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { epmdNames } from '../src/epmd/client.ts';
import { decodePort2Reply, encodeRequest } from '../src/epmd/protocol.ts';
import { quantile, type Sample } from './harness.ts';

/** Whether an EPMD (stock or ours) answers a NAMES request on 127.0.0.1:`port`. */
export function epmdAnswers(port: number): Promise<boolean> {
  return epmdNames('127.0.0.1', { epmdPort: port, timeoutMs: 500 }).then(
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

/** Throws when something already answers EPMD on one of `ports` (a leftover from another run). */
export async function assertPortsFree(ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    if (await epmdAnswers(port)) throw new Error(`something already answers on port ${port}: stop it first`);
  }
}

/**
 * The servers a bench starts. Each dies with the bench (even on an uncaught error); one that
 * exits early (a port taken) fails `failed`, so the run cannot measure something else.
 */
export class Servers {
  readonly children: ChildProcess[] = [];
  private readonly exits: Promise<never>[] = [];

  constructor() {
    process.once('exit', () => this.killAll());
  }

  start(command: string, args: string[], stderr: 'inherit' | 'ignore' = 'inherit'): ChildProcess {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', stderr] });
    this.children.push(child);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))),
    );
    exited.catch(() => undefined);
    this.exits.push(exited);
    return child;
  }

  /** Resolves when `ready` does, rejects as soon as any server exits. */
  async until<T>(ready: Promise<T>): Promise<T> {
    return Promise.race([ready, ...this.exits]);
  }

  assertAlive(): void {
    if (this.children.some((c) => c.exitCode !== null || c.signalCode !== null))
      throw new Error('a server exited during the run');
  }

  killAll(): void {
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
  }
}

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));

/** Builds bench/accept-loop.c with the system's gcc into bench/.build (git-ignored); returns its path. */
export function buildAcceptLoop(): string {
  const source = `${BENCH_DIR}accept-loop.c`;
  const binary = `${BENCH_DIR}.build/accept-loop`;
  if (!existsSync(binary) || statSync(binary).mtimeMs < statSync(source).mtimeMs) {
    mkdirSync(`${BENCH_DIR}.build`, { recursive: true });
    execFileSync('gcc', ['-O2', '-o', binary, source], { stdio: 'inherit' });
  }
  return binary;
}

/** Starts the C accept-read-write-close loop on `port`, answering every request with `reply`. */
export async function startAcceptLoop(servers: Servers, port: number, reply: Buffer): Promise<ChildProcess> {
  const child = servers.start(buildAcceptLoop(), [String(port), reply.toString('hex')]);
  await servers.until(
    (async () => {
      for (let i = 0; i < 200; i++) {
        if (
          await rawLookup(port, 'x').then(
            () => true,
            () => false,
          )
        )
          return;
        await sleep(50);
      }
      throw new Error(`the accept loop does not answer on port ${port}`);
    })(),
  );
  return child;
}

/**
 * One PORT_PLEASE2 lookup of `name` on its own connection, as OTP's erl_epmd does (connect,
 * send, read until the server closes); resolves with the reply's bytes.
 */
export function rawLookup(port: number, name: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    const chunks: Buffer[] = [];
    socket.on('connect', () => socket.write(encodeRequest({ type: 'portPlease2', name })));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** A lookup that fails unless the reply names a node on `nodePort`. */
export function checkedLookup(port: number, name: string, nodePort: number): () => Promise<unknown> {
  return async () => {
    const received = await rawLookup(port, name);
    const reply = decodePort2Reply(received)?.reply;
    if (reply?.found !== true || reply.entry.port !== nodePort)
      throw new Error(`bad reply ${received.toString('hex')}`);
  };
}

/**
 * The load generator: `concurrency` workers calling `op` back to back for `seconds`. One sample:
 * `rate` (successful ops/s), `p50` and `p99` latency in ms, and `errors`.
 */
export async function load(
  op: (i: number) => Promise<unknown>,
  concurrency: number,
  seconds: number,
): Promise<Sample> {
  const latencies: number[] = [];
  let errors = 0;
  let i = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      try {
        await op(i++);
        latencies.push(performance.now() - t);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return {
    rate: latencies.length / ((performance.now() - start) / 1000),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    errors,
  };
}
