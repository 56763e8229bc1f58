/**
 * Child processes of a test file (stock epmd, erl, elixir, the eid CLI): output collected, always
 * stopped by pid even when a test fails, and waits that are liveness bounds, never timings.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { epmdNames } from '../../src/epmd/client.ts';

/** Polls `check` until it returns true; fails naming `what` after `timeoutMs` (a liveness bound). */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The eid command as users run it: bin/eid.js on the built dist/. */
export const eidBin = fileURLToPath(new URL('../../bin/eid.js', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How a process ended and all it printed. */
export interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One started process: its output so far, and how it ended once it has. */
export class Spawned {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for the end: the exit code and all output. */
  async outcome(): Promise<Outcome> {
    const { code } = await this.exited;
    return { code, stdout: this.stdout, stderr: this.stderr };
  }

  /**
   * Resolves when `stream` (stdout unless told) contains `text`; rejects when the process exits
   * first or after `timeoutMs`.
   */
  waitForOutput(text: string, timeoutMs = 20_000, stream: 'stdout' | 'stderr' = 'stdout'): Promise<void> {
    return waitFor(
      () => {
        if (this[stream].includes(text)) return true;
        if (!this.running) {
          throw new Error(
            `process exited before printing ${JSON.stringify(text)}:\n${this.stdout}\n${this.stderr}`,
          );
        }
        return false;
      },
      `output ${JSON.stringify(text)}:\n${this.stdout}\n${this.stderr}`,
      timeoutMs,
    );
  }

  /** Sends `signal` (SIGKILL unless told) by pid and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    if (this.child.pid !== undefined) process.kill(this.child.pid, signal);
    await exited;
  }
}

/** Tracks what a test file starts so it is all stopped, by pid, even when a test fails. */
export class Processes {
  private readonly children = new Set<Spawned>();

  /**
   * Runs `command` in `cwd`, the temp directory unless told (crash dumps never land in the
   * checkout), output piped, with `env` over this process's environment (an undefined value leaves
   * that variable out).
   */
  spawn(
    command: string,
    args: string[],
    env: Record<string, string | undefined> = {},
    cwd = tmpdir(),
  ): Spawned {
    const child = spawn(command, args, {
      env: { ...process.env, ERL_CRASH_DUMP_SECONDS: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd,
    });
    const spawned = new Spawned(child);
    this.children.add(spawned);
    child.once('exit', () => this.children.delete(spawned));
    return spawned;
  }

  /** SIGKILLs every child still running and waits for each to exit. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => c.kill()));
  }
}

/** Starts a stock `epmd` in the foreground on `port` and waits until it answers. */
export async function startStockEpmd(
  processes: Processes,
  port: number,
  extraArgs: string[] = [],
): Promise<Spawned> {
  const epmd = processes.spawn('epmd', ['-port', String(port), ...extraArgs]);
  await waitFor(async () => {
    if (!epmd.running) throw new Error(`epmd exited: ${epmd.stderr}`);
    return epmdNames('127.0.0.1', { epmdPort: port, timeoutMs: 1000 }).then(
      () => true,
      () => false,
    );
  }, `stock epmd on port ${port}`);
  return epmd;
}
