/**
 * Shared helpers for the EPMD tests: ports from this area's range, stock `epmd`/`erl` processes
 * that are always stopped by pid, raw socket exchanges, and the table of malformed requests.
 */
import net from 'node:net';
import os from 'node:os';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { names } from '../../src/epmd/client.ts';

/**
 * The EPMD area owns TCP ports 43000-43999; each test file takes its own slice so files running in
 * parallel never collide. Bench uses 43900-43999.
 */
export const PortSlices = {
  server: [43000, 43199],
  otp: [43200, 43499],
  cli: [43500, 43699],
  client: [43700, 43799],
  limits: [43800, 43849],
  restart: [43850, 43899],
} as const;

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, ipv6Only: host === '::' }, () => s.close(() => resolve(true)));
  });
}

/** A port of [from, to] that is free on all IPv4 and IPv6 interfaces, not handed out before by this process. */
export function portAllocator(from: number, to: number): () => Promise<number> {
  let next = from;
  return async () => {
    while (next <= to) {
      const port = next++;
      if ((await canBind(port, '0.0.0.0')) && (await canBind(port, '::'))) return port;
    }
    throw new Error(`no free port left in ${from}-${to}`);
  };
}

/** Tracks what a test file starts so it is all stopped, by pid, even when a test fails. */
export class Processes {
  private readonly children = new Set<ChildProcess>();

  spawn(command: string, args: string[], env: Record<string, string> = {}): Spawned {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    const spawned = new Spawned(child);
    child.once('exit', () => this.children.delete(child));
    return spawned;
  }

  /** SIGKILLs every child still running and waits for it to exit. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => stop(c)));
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
}

export class Spawned {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves when stdout contains `text`; rejects when the process exits first or after `timeoutMs`. */
  waitForOutput(text: string, timeoutMs = 20_000): Promise<void> {
    return waitFor(
      () => {
        if (this.stdout.includes(text)) return true;
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          throw new Error(
            `process exited before printing ${JSON.stringify(text)}:\n${this.stdout}\n${this.stderr}`,
          );
        }
        return false;
      },
      `output ${JSON.stringify(text)}`,
      timeoutMs,
    );
  }

  kill(): Promise<void> {
    return stop(this.child);
  }
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export function waitForListening(port: number): Promise<void> {
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
  return waitFor(accepts, `a listener on port ${port}`);
}

/**
 * A stock node `name@127.0.0.1` that uses the EPMD on `epmdPort` and listens for distribution on
 * `distPort` only (so a test knows the port it registers), running `evalCode` without a shell.
 */
export function spawnErlNode(
  processes: Processes,
  options: { name: string; cookie: string; epmdPort: number; distPort: number; evalCode: string },
): Spawned {
  const { name, cookie, epmdPort, distPort, evalCode } = options;
  return processes.spawn(
    'erl',
    [
      '-name',
      `${name}@127.0.0.1`,
      '-setcookie',
      cookie,
      '-start_epmd',
      'false',
      '-kernel',
      'inet_dist_listen_min',
      String(distPort),
      'inet_dist_listen_max',
      String(distPort),
      '-noshell',
      '-eval',
      evalCode,
    ],
    { ERL_EPMD_PORT: String(epmdPort) },
  );
}

/** Starts a stock `epmd` in the foreground on `port` and waits until it answers. */
export async function startStockEpmd(
  processes: Processes,
  port: number,
  extraArgs: string[] = [],
): Promise<Spawned> {
  const epmd = processes.spawn('epmd', ['-port', String(port), ...extraArgs]);
  await waitFor(async () => {
    if (epmd.child.exitCode !== null) throw new Error(`epmd exited: ${epmd.stderr}`);
    return names('127.0.0.1', { epmdPort: port, timeoutMs: 1000 }).then(
      () => true,
      () => false,
    );
  }, `stock epmd on port ${port}`);
  return epmd;
}

/** What a server did with one request: the bytes it sent back, and whether it then closed. */
export interface Outcome {
  reply: string;
  closed: boolean;
}

/**
 * Connects, writes `chunks` one after another (letting each leave before the next so the server
 * sees the split), then reads until the server closes or `settleMs` passes with it still open.
 */
export function exchange(
  port: number,
  chunks: Uint8Array[],
  options: { host?: string; localAddress?: string; settleMs?: number } = {},
): Promise<Outcome> {
  const settleMs = options.settleMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    const socket = net.connect({
      port,
      host: options.host ?? '127.0.0.1',
      noDelay: true,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    let settled = false;
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply: Buffer.concat(received).toString('hex'), closed });
    };
    const timer = setTimeout(() => done(false), settleMs);
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('close', () => done(true));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset is the server closing with our bytes unread; anything else is a test failure.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') done(true);
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        await new Promise<void>((r) => socket.write(chunk, () => r()));
        if (chunks.length > 1) await new Promise((r) => setTimeout(r, 2));
      }
    });
  });
}

/**
 * A non-loopback IPv4 address of this machine. A connection to 127.0.0.1 from this source address
 * is, by epmd's rule, not from a local peer (neither 127.x nor the address it arrived on), which
 * lets tests play a remote peer without another host.
 */
export function nonLoopbackAddress(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address to play a remote peer from');
}

/** Every way of cutting `bytes` in two, then one byte at a time. */
export function splits(bytes: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  if (bytes.length > 2) out.push([...bytes].map((b) => Uint8Array.of(b)));
  return out;
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const withLength = (body: Buffer) =>
  Buffer.concat([Buffer.from([body.length >> 8, body.length & 0xff]), body]);

/** ALIVE2_REQ body: port 43999, type 77, proto 0, versions 6/5, then the given name and extra parts. */
const alive2 = (rest: string) => withLength(hex(`78 abdf 4d 00 0006 0005 ${rest}`));

/**
 * Malformed requests and what OTP's epmd does with each (epmd_srv.c): `reply` is the hex it sends
 * before closing ('' for a close without a reply).
 */
export const malformedRequests: { name: string; bytes: Buffer; reply: string; epmdKeepsOpen?: boolean }[] = [
  { name: 'zero length', bytes: hex('0000'), reply: '' },
  { name: 'length over the limit', bytes: hex('0bf2 7a41'), reply: '' },
  { name: 'unknown request tag', bytes: withLength(hex('01 02 03')), reply: '' },
  {
    name: 'ALIVE2_REQ of only its fixed fields',
    bytes: withLength(hex('78 abdf 4d 00 0006 0005 0000 0000')),
    reply: '',
  },
  { name: 'ALIVE2_REQ name longer than the request', bytes: alive2('0009 616263 0000'), reply: '' },
  { name: 'ALIVE2_REQ extra longer than the request', bytes: alive2('0003 616263 0009 01'), reply: '' },
  { name: 'ALIVE2_REQ name with a NUL byte', bytes: alive2('0003 610063 0000'), reply: '' },
  // epmd keeps this connection open after the refusal until the client closes; eid closes it.
  {
    name: 'ALIVE2_REQ name not UTF-8',
    bytes: alive2('0003 61ff63 0000'),
    reply: '760100000063',
    epmdKeepsOpen: true,
  },
  { name: 'PORT_PLEASE2_REQ without a name', bytes: withLength(hex('7a')), reply: '' },
  { name: 'PORT_PLEASE2_REQ name with a NUL byte', bytes: withLength(hex('7a 61 00 62')), reply: '' },
  { name: 'PORT_PLEASE2_REQ name not UTF-8', bytes: withLength(hex('7a 61 c0 80')), reply: '' },
  {
    name: 'PORT_PLEASE2_REQ name of 255 characters',
    bytes: withLength(Buffer.concat([hex('7a'), Buffer.from('n'.repeat(255))])),
    reply: '',
  },
  {
    name: 'STOP_REQ (not allowed without relaxed command check)',
    bytes: withLength(hex('73 61')),
    reply: '',
  },
];

/**
 * A lookup followed by one byte more than its length declares, sent in one write: epmd reads it
 * in one go, sees more than it wanted and closes without a reply. (Split, the extra byte could
 * arrive after the reply, so this one is only sent whole.)
 */
export const trailingByteRequest = Buffer.concat([withLength(hex('7a 6e6f6e65')), hex('00')]);

/** Well-formed requests for an unknown name and their replies, for comparison with stock epmd. */
export const unknownNameRequests: { name: string; bytes: Buffer; reply: string }[] = [
  { name: 'PORT_PLEASE2_REQ for an unknown name', bytes: withLength(hex('7a 6e6f6e65')), reply: '7701' },
  { name: 'PORT_PLEASE2_REQ with a trailing NUL', bytes: withLength(hex('7a 6e6f6e65 00')), reply: '7701' },
];
