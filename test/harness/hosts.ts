/**
 * Two Docker hosts for tests (scripts/hosts.sh does the system work), the eid daemon on them, and
 * stock Erlang/Elixir nodes in containers. Everything started here is stopped by `down()`, which
 * is also safe after a crash: `up()` tears down leftovers of the same set first.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOSTS_SH = `${ROOT}scripts/hosts.sh`;
const MAIN_TS = `${ROOT}src/cli/main.ts`;

/** The container port every test node listens on (the daemon's default --node-port). */
export const NODE_PORT = 12345;
/** The host's OTP and Elixir, read-only, for the tiny eid-otp25 rootfs. */
export const HOST_MOUNTS = ['-v', '/usr:/usr:ro'];

const MAX_BUFFER = 16 * 1024 * 1024;

/** What a probe script reported: the last line of its output, one JSON object. */
export function lastJsonLine<T = Record<string, unknown>>(output: string): T {
  return JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as T;
}

/** Node arguments that run the `eid` command from the TypeScript sources (add the command's own after them). */
export function eidFromSource(): string[] {
  return [
    '--import',
    'tsx',
    '--input-type=module',
    '--eval',
    `import { main } from ${JSON.stringify(MAIN_TS)}; process.exitCode = await main(process.argv.slice(1));`,
  ];
}

export interface NodeContainer {
  id: string;
  /** The container's hostname (its 12-character short ID unless set). */
  hostname: string;
  /** Its Erlang node name: hostname@host-ip. */
  node: string;
  host: Host;
}

export interface StartNodeOptions {
  cookie: string;
  /** Container name (`--name`). */
  name?: string;
  /** Container hostname (`--hostname`). */
  hostname?: string;
  labels?: Record<string, string>;
  /** Port to listen on inside the container (published with -p); default NODE_PORT. */
  nodePort?: number;
  /** `-p HOSTPORT:nodePort` instead of a port Docker picks. */
  hostPort?: number;
  /** Default eid-otp25; eid-otp27 and eid-otp29 (see `image()`) run their own OTP. */
  image?: string;
  /** Elixir instead of erl. */
  elixir?: boolean;
  /** `--restart` policy. */
  restart?: string;
  /** More emulator flags (`-proto_dist inet_tls -ssl_dist_optfile FILE`, say); with elixir, inside --erl. */
  erlArgs?: string;
  /** Bind mounts, each a `-v` value. */
  volumes?: string[];
  /** More container ports to publish (a sidecar's, say). */
  publish?: number[];
  /** A shell command started in the background in the container just before the node (a relay, say). */
  sidecar?: string;
}

export interface DaemonProcess {
  child: ChildProcess;
  /** Everything it logged so far. */
  log(): string;
  stop(): Promise<void>;
}

/** The lines of a log that contain every one of `texts`. */
export const logLines = (log: string, ...texts: string[]): string[] =>
  log.split('\n').filter((l) => texts.every((t) => l.includes(t)));

export class Host {
  readonly index: 1 | 2;
  readonly ip: string;
  readonly netns: string;
  readonly socket: string;
  readonly #set: number;
  readonly #daemons = new Set<DaemonProcess>();

  constructor(set: number, index: 1 | 2, vars: Record<string, string>) {
    this.#set = set;
    this.index = index;
    this.ip = vars[`EID_HOST${index}_IP`]!;
    this.netns = vars[`EID_HOST${index}_NETNS`]!;
    this.socket = vars[`EID_HOST${index}_SOCKET`]!;
  }

  get endpoint(): string {
    return `unix://${this.socket}`;
  }

  /** The docker CLI against this host; resolves to trimmed stdout. */
  async docker(args: string[], timeoutMs = 120_000): Promise<string> {
    const { stdout } = await run('docker', ['-H', this.endpoint, ...args], {
      timeout: timeoutMs,
      maxBuffer: MAX_BUFFER,
    });
    return stdout.trim();
  }

  /**
   * Runs `script` (a TypeScript file of this checkout) with `arg` in a container of eid-otp25, which
   * has the host's node and sees the checkout read-only, under `hostname` with the node port
   * published; resolves once it exits, to its exit status and output.
   */
  async runScript(
    script: string,
    arg: string,
    options: { hostname: string; timeoutMs: number },
  ): Promise<{ status: string; logs: string }> {
    const id = await this.docker([
      'run',
      '-d',
      '--hostname',
      options.hostname,
      '-p',
      String(NODE_PORT),
      ...HOST_MOUNTS,
      '-v',
      `${ROOT}:${ROOT}:ro`,
      '-w',
      ROOT,
      'eid-otp25',
      process.execPath,
      '--import',
      'tsx',
      script,
      arg,
    ]);
    const status = await this.docker(['wait', id], options.timeoutMs);
    return { status, logs: await this.logs(id) };
  }

  /** A container's output, standard output and error together. */
  async logs(id: string): Promise<string> {
    const { stdout, stderr } = await run('docker', ['-H', this.endpoint, 'logs', id], {
      timeout: 30_000,
      maxBuffer: MAX_BUFFER,
    });
    return stdout + stderr;
  }

  /** Imports a test image (otp25, otp27, otp29) into this host. */
  async image(kind: string): Promise<void> {
    await hostsSh(this.#set, ['image', String(this.index), kind], 3_600_000);
  }

  /** Runs a command in this host's network namespace (not in a container). */
  spawn(command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
    return spawn(HOSTS_SH, ['exec', String(this.index), command, ...args], {
      env: { ...process.env, ...env, EID_SET: String(this.#set) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  async exec(command: string, args: string[], timeoutMs = 60_000): Promise<string> {
    const { stdout } = await run(HOSTS_SH, ['exec', String(this.index), command, ...args], {
      env: { ...process.env, EID_SET: String(this.#set) },
      timeout: timeoutMs,
      maxBuffer: MAX_BUFFER,
    });
    return stdout.trim();
  }

  /**
   * `eid daemon`'s arguments for this host's Docker, logging at debug in the pretty format (the
   * tests read its lines as a person does; off a terminal the default is JSON).
   */
  daemonArgs(): string[] {
    return ['daemon', '--docker', this.endpoint, '--log-level', 'debug', '--log-format', 'pretty'];
  }

  /**
   * `eid daemon` on this host, as a process in its namespace; resolves once the catalog first synced.
   * `args` come last, so they can override --docker; `env` adds variables (DOCKER_TLS_VERIFY, say).
   */
  async startDaemon(args: string[] = [], env: Record<string, string> = {}): Promise<DaemonProcess> {
    const child = this.spawn(process.execPath, [...eidFromSource(), ...this.daemonArgs(), ...args], env);
    return this.#track(child, /Docker catalog synced/);
  }

  /** Tracks a daemon process (plain or in a container) until its log shows `ready`. */
  async #track(child: ChildProcess, ready: RegExp): Promise<DaemonProcess> {
    let output = '';
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const daemon: DaemonProcess = {
      child,
      log: () => output,
      stop: async () => {
        this.#daemons.delete(daemon);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        }
      },
    };
    this.#daemons.add(daemon);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`daemon on host ${this.index} not ready:\n${output}`)),
        // A liveness bound: a daemon run from source compiles its TypeScript first, which took
        // over 30 s with three Docker-host files in flight on two cores.
        90_000,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (ready.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`daemon on host ${this.index} exited with ${code}:\n${output}`));
      });
    }).catch(async (err: unknown) => {
      await daemon.stop();
      throw err;
    });
    return daemon;
  }

  /** A process that is not `eid daemon` but should be stopped with the host (a stock node, a daemon container's CLI). */
  adopt(child: ChildProcess, ready: RegExp): Promise<DaemonProcess> {
    return this.#track(child, ready);
  }

  async stopDaemons(): Promise<void> {
    await Promise.all([...this.#daemons].map((d) => d.stop()));
  }

  /**
   * A stock Erlang (or Elixir) node in a container, named hostname@host-ip, listening on a fixed
   * port published with -p. Resolves once the node is up.
   */
  async startNode(options: StartNodeOptions): Promise<NodeContainer> {
    const nodePort = options.nodePort ?? NODE_PORT;
    const image = options.image ?? 'eid-otp25';
    const args = ['run', '-d', '-e', `HOST_IP=${this.ip}`, '-e', `COOKIE=${options.cookie}`];
    // Only the tiny rootfs borrows the host's OTP; the debootstrapped images bring their own.
    if (image === 'eid-otp25') args.push(...HOST_MOUNTS);
    args.push('-p', options.hostPort === undefined ? String(nodePort) : `${options.hostPort}:${nodePort}`);
    if (options.name !== undefined) args.push('--name', options.name);
    if (options.hostname !== undefined) args.push('--hostname', options.hostname);
    if (options.restart !== undefined) args.push('--restart', options.restart);
    for (const [k, v] of Object.entries(options.labels ?? {})) args.push('--label', `${k}=${v}`);
    for (const volume of options.volumes ?? []) args.push('-v', volume);
    for (const port of options.publish ?? []) args.push('-p', String(port));
    const dist = `-kernel inet_dist_listen_min ${nodePort} inet_dist_listen_max ${nodePort} ${options.erlArgs ?? ''}`;
    const command = options.elixir
      ? `exec elixir --name "$(hostname)@$HOST_IP" --cookie "$COOKIE" --erl "${dist}" --no-halt -e ':ok'`
      : `exec erl -noshell -name "$(hostname)@$HOST_IP" -setcookie "$COOKIE" ${dist}`;
    const sidecar = options.sidecar === undefined ? '' : `${options.sidecar} & `;
    args.push(image, 'sh', '-c', sidecar + command);
    const id = await this.docker(args);
    const hostname = await this.docker(['inspect', '-f', '{{.Config.Hostname}}', id]);
    const container: NodeContainer = { id, hostname, node: `${hostname}@${this.ip}`, host: this };
    await this.waitForNode(container);
    return container;
  }

  /** Waits until the node in `container` is up again (after a restart, say). */
  waitForNode(container: NodeContainer): Promise<void> {
    return waitForNode(container);
  }

  /**
   * Evaluates Erlang expressions (a sequence ending in the result) with a hidden helper node run
   * inside `container`, and returns what the expressions print. The helper talks to the container's
   * node like any other node would: through this host's daemon. `erlArgs` go to the helper's erl
   * (the node's `-proto_dist inet_tls ...`, say).
   */
  async evalIn(
    container: NodeContainer,
    cookie: string,
    expressions: string,
    timeoutMs = 60_000,
    erlArgs: string[] = [],
  ): Promise<string> {
    return this.docker(
      ['exec', container.id, 'erl', ...erlArgs, ...helperNodeArgs(this, cookie, expressions)],
      timeoutMs,
    );
  }
}

/** Runs a hidden helper node in the host's namespace (not in a container) that evaluates `expressions`. */
export async function evalOnHost(
  host: Host,
  cookie: string,
  expressions: string,
  timeoutMs = 60_000,
  erlArgs: string[] = [],
): Promise<string> {
  // -start_epmd false: the daemon is this host's EPMD; never leave a stock one behind in its place.
  return host.exec(
    'erl',
    ['-start_epmd', 'false', ...erlArgs, ...helperNodeArgs(host, cookie, expressions)],
    timeoutMs,
  );
}

/** `erl` arguments for a hidden, uniquely named node on `host` that evaluates `expressions` and halts. */
function helperNodeArgs(host: Host, cookie: string, expressions: string): string[] {
  const name = `probe${randomBytes(4).toString('hex')}@${host.ip}`;
  return ['-noshell', '-hidden', '-name', name, '-setcookie', cookie, '-eval', `${expressions}, halt().`];
}

async function waitForNode(container: NodeContainer): Promise<void> {
  // The node is up once the epmd inside its container knows it.
  for (let i = 0; i < 150; i++) {
    const names = await container.host
      .docker(['exec', container.id, 'epmd', '-names'], 10_000)
      .catch(() => '');
    if (names.includes(`name ${container.hostname} at port`)) return;
    const state = await container.host.docker(['inspect', '-f', '{{.State.Running}}', container.id]);
    if (state !== 'true') {
      const logs = await container.host.logs(container.id).catch(() => '');
      throw new Error(`node container ${container.hostname} exited: ${logs}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`node ${container.node} did not start`);
}

async function hostsSh(
  set: number,
  args: string[],
  timeoutMs = 300_000,
  env: Record<string, string> = {},
): Promise<string> {
  const { stdout } = await run(HOSTS_SH, args, {
    // This process owns the set it brings up: another run's `up` of the same set will refuse.
    env: { ...process.env, ...env, EID_SET: String(set), EID_OWNER_PID: String(process.pid) },
    timeout: timeoutMs,
    maxBuffer: MAX_BUFFER,
  });
  return stdout;
}

export interface TestHosts {
  set: number;
  h1: Host;
  h2: Host;
  /** Stops one host's dockerd; its containers keep running (the hosts run with --live-restore). */
  stopDocker(host: Host): Promise<void>;
  startDocker(host: Host): Promise<void>;
  down(): Promise<void>;
}

export interface HostsOptions {
  /** Added to both dockerd command lines (for example a TCP listener with TLS). */
  dockerdArgs?: string[];
}

/**
 * Creates hosts set `set` (0-29; each test file uses its own) and imports eid-otp25 on both.
 * Fails, never skips, when a prerequisite is missing.
 */
export async function upHosts(set: number, options: HostsOptions = {}): Promise<TestHosts> {
  const dockerdEnv = { EID_DOCKERD_EXTRA_ARGS: (options.dockerdArgs ?? []).join(' ') };
  const down = async () => {
    await Promise.all([hosts.h1.stopDaemons(), hosts.h2.stopDaemons()]).catch(() => undefined);
    await hostsSh(set, ['down']);
  };
  let hosts: TestHosts;
  try {
    await hostsSh(set, ['up'], 300_000, dockerdEnv);
    const vars = Object.fromEntries(
      (await hostsSh(set, ['env']))
        .trim()
        .split('\n')
        .map((line) => line.split('=') as [string, string]),
    );
    hosts = {
      set,
      h1: new Host(set, 1, vars),
      h2: new Host(set, 2, vars),
      stopDocker: async (host) => {
        await hostsSh(set, ['stop-docker', String(host.index)]);
      },
      startDocker: async (host) => {
        await hostsSh(set, ['start-docker', String(host.index)], 300_000, dockerdEnv);
      },
      down,
    };
    await Promise.all([hosts.h1.image('otp25'), hosts.h2.image('otp25')]);
  } catch (err) {
    await hostsSh(set, ['down']).catch(() => undefined);
    throw err;
  }
  return hosts;
}
