/**
 * What the Docker-host soak scenarios (dockerd.ts, churn.ts, netcut.ts) share: the two test hosts
 * (test/harness/hosts.ts), `eid daemon` as users run it (bin/eid.js on the built dist/) inside a
 * host's network namespace, the lookup agent (agent.ts) inside the other one, and sleeping
 * containers the catalog serves.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  HOST_MOUNTS,
  NODE_PORT,
  type DaemonProcess,
  type Host,
  type TestHosts,
} from '../test/harness/hosts.ts';
import { PortSlices } from '../test/support/ports.ts';
import { eidBin, rssMiB, say } from './lib.ts';

/** The daemon's metrics listener, on every address of its host's namespace. */
export const METRICS_PORT = PortSlices.soak.docker[0];
const AGENT = fileURLToPath(new URL('./agent.ts', import.meta.url));

export interface HostDaemon extends DaemonProcess {
  pid: number;
  running(): boolean;
  rssMiB(): number;
}

/** `eid daemon` (built) on `host`, serving EPMD on port 4369 and metrics on METRICS_PORT; resolves once synced (its info log says so: `args` must keep that level). */
export async function startHostDaemon(host: Host, args: string[] = []): Promise<HostDaemon> {
  // hosts.sh exec replaces itself with nsenter, which execs node: the child is the daemon itself.
  const child = host.spawn(process.execPath, [
    eidBin,
    'daemon',
    ...['--docker', host.endpoint, '--metrics', `0.0.0.0:${METRICS_PORT}`, '--log-level', 'info'],
    ...args,
  ]);
  const daemon = await host.adopt(child, /Docker catalog synced/);
  return {
    ...daemon,
    pid: child.pid!,
    running: () => child.exitCode === null && child.signalCode === null,
    rssMiB: () => round1(rssMiB(child.pid!)),
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** The lookup agent (agent.ts) in `from`'s namespace, asking the daemon on `to`. */
export class Agent {
  readonly #child;
  readonly #pending = new Map<number, (reply: Record<string, unknown>) => void>();
  #next = 0;
  #stderr = '';
  readonly #exited: Promise<void>;

  constructor(
    from: Host,
    readonly to: Host,
  ) {
    this.#child = spawn(
      'nsenter',
      [
        `--net=/run/netns/${from.netns}`,
        process.execPath,
        ...['--import', 'tsx', AGENT, JSON.stringify({ host: to.ip, port: 4369 })],
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.#child.stderr.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    void this.#exited.then(() => {
      for (const reject of this.#pending.values()) reject({ error: `agent exited: ${this.#stderr}` });
      this.#pending.clear();
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const reply = JSON.parse(line) as Record<string, unknown> & { id: number };
      this.#pending.get(reply.id)?.(reply);
      this.#pending.delete(reply.id);
    });
  }

  /** One request (see agent.ts); rejects when the agent answers with an error. */
  async ask(request: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.#next++;
    const reply = await new Promise<Record<string, unknown>>((resolve) => {
      this.#pending.set(id, resolve);
      this.#child.stdin.write(`${JSON.stringify({ id, ...request })}\n`);
    });
    if (reply.error !== undefined) throw new Error(`agent: ${String(reply.error)}`);
    return reply;
  }

  /** Steady lookups of `names`, each expected to give its port. */
  load(names: Map<string, number>, concurrency: number): Promise<unknown> {
    return this.ask({ op: 'load', names: Object.fromEntries(names), concurrency });
  }

  stats(): Promise<Record<string, unknown>> {
    return this.ask({ op: 'stats' });
  }

  /** Names whose lookup differs from `expect` (null: not found). */
  async differing(expect: Map<string, number | null>): Promise<Record<string, unknown>> {
    return (await this.ask({ op: 'check', expect: Object.fromEntries(expect) })).wrong as Record<
      string,
      unknown
    >;
  }

  /** The daemon's /healthz text (trimmed), or what went wrong asking. */
  async health(): Promise<string> {
    return this.ask({ op: 'get', url: `http://${this.to.ip}:${METRICS_PORT}/healthz` }).then(
      (r) => String(r.text).trim(),
      (err: Error) => `unanswered: ${err.message}`,
    );
  }

  /** One gauge or counter of the daemon's /metrics. */
  async metric(name: string): Promise<number> {
    const { text } = await this.ask({ op: 'get', url: `http://${this.to.ip}:${METRICS_PORT}/metrics` });
    const line = String(text)
      .split('\n')
      .find((l) => l.startsWith(`${name} `));
    return Number(line?.split(' ').pop());
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null) this.#child.stdin.write(`${JSON.stringify({ id: -1, op: 'stop' })}\n`);
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

/**
 * Starts one sleeping container per name on `host`, `concurrency` at a time, each publishing the
 * node port as the catalog needs it (-p 12345: a wildcard binding on a port Docker picks); resolves
 * with each name's ID and host port. eid-otp25 borrows the host's /usr, so `sleep` costs nothing.
 */
export async function startSleepers(
  host: Host,
  names: string[],
  concurrency = 8,
): Promise<Map<string, { id: string; port: number }>> {
  const queue = [...names];
  const ids = new Map<string, string>();
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const run = () =>
        host.docker(
          [
            'run',
            '-d',
            '--name',
            name,
            '-p',
            String(NODE_PORT),
            ...HOST_MOUNTS,
            'eid-otp25',
            'sleep',
            '3600',
          ],
          300_000,
        );
      // A loaded dockerd sometimes fails a start: remove what it left under the name and try once more.
      const id = await run().catch(async (err: Error) => {
        say('docker', `docker run ${name} failed, trying again: ${err.message.slice(0, 300)}`);
        await host.docker(['rm', '-f', name], 300_000).catch(() => undefined);
        return run();
      });
      ids.set(name, id);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return publishedPorts(host, ids);
}

/** The host port each container publishes the node port on, from one `docker inspect`. */
async function publishedPorts(
  host: Host,
  ids: Map<string, string>,
): Promise<Map<string, { id: string; port: number }>> {
  const out = new Map<string, { id: string; port: number }>();
  if (ids.size === 0) return out;
  const format = `{{.Name}} {{(index (index .NetworkSettings.Ports "${NODE_PORT}/tcp") 0).HostPort}}`;
  const lines = await host.docker(['inspect', '-f', format, ...ids.values()], 300_000);
  for (const line of lines.split('\n')) {
    const [name, port] = line.trim().replace(/^\//, '').split(' ') as [string, string];
    out.set(name, { id: ids.get(name)!, port: Number(port) });
  }
  return out;
}

/** Removes containers (by ID or name) at once, in batches of 50. */
export async function removeContainers(host: Host, refs: string[]): Promise<void> {
  for (let i = 0; i < refs.length; i += 50)
    await host.docker(['rm', '-f', ...refs.slice(i, i + 50)], 300_000);
}

/**
 * Polls `check` (every `everyMs`) until it returns true; resolves with the milliseconds it took, or
 * undefined after `timeoutMs` (a bound, never a figure).
 */
export async function timeUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 250,
  from = performance.now(),
): Promise<number | undefined> {
  while (performance.now() - from < timeoutMs) {
    if (await check()) return Math.round(performance.now() - from);
    await sleep(everyMs);
  }
  return undefined;
}

/** The host's 1-, 5- and 15-minute load averages, for the record. */
export async function loadAverage(): Promise<number[]> {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).map(Number);
}

/**
 * Takes the hosts down; tries a second time when the first fails (hundreds of containers on a
 * loaded machine can outlast one `hosts.sh down`), which finds less left to remove.
 */
export async function takeDown(hosts: TestHosts | undefined): Promise<void> {
  if (hosts === undefined) return;
  try {
    await hosts.down();
  } catch (err) {
    say('hosts', `set ${hosts.set} not down at the first try (${String(err).slice(0, 200)}); again`);
    await hosts.down();
  }
}
