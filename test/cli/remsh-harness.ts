/**
 * What the `eid remsh` tests share: an operator's HOME (the cookie file, `eid` on the PATH), shell
 * command lines run in a test host's network namespace, and real terminals (tmux sessions) to
 * type into and read.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, type Host } from '../harness/hosts.ts';
import { eidBin } from '../support/processes.ts';

const exec = promisify(execFile);
/** The node name docs/operating.md uses. */
export const DOCS_NODE = '3f2a9c1b7d4e@10.0.0.1';
/** How long a screen may take to show what a step waits for: a liveness bound. */
const SCREEN_BOUND_MS = 60_000;

/** A fresh HOME whose ~/.erlang.cookie holds `cookie`, with an `eid` to put on the PATH. */
export async function operatorHome(cookie: string): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'eid-remsh-home-'));
  await writeFile(join(home, '.erlang.cookie'), cookie);
  await chmod(join(home, '.erlang.cookie'), 0o400);
  await writeFile(
    join(home, 'eid'),
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(eidBin)} "$@"\n`,
  );
  await chmod(join(home, 'eid'), 0o755);
  return home;
}

/**
 * The command line of `sh -c script` in `host`'s network namespace, with HOME=`home`, `eid` on the
 * PATH, no history file but the one under HOME, and `env` added.
 */
export function shellIn(
  host: Host,
  home: string,
  script: string,
  env: Record<string, string> = {},
): string[] {
  return [
    'nsenter',
    `--net=/run/netns/${host.netns}`,
    'env',
    '-u',
    'EID_REMSH_HISTORY',
    '-u',
    'XDG_STATE_HOME',
    `HOME=${home}`,
    `PATH=${home}:${process.env.PATH}`,
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    'sh',
    '-c',
    script,
  ];
}

/**
 * The `eid remsh` command lines in one part of docs/operating.md's remsh section: the part under
 * the `### ` heading that starts with `heading`, or with '' the text before the first one; the
 * docs' node name replaced by `node`.
 */
export async function remshDocCommands(heading: string, node: string): Promise<string[]> {
  const doc = await readFile(join(ROOT, 'docs/operating.md'), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('A shell on any node'))!;
  const [intro, ...parts] = section.split(/^### /m);
  const part = heading === '' ? intro : parts.find((p) => p.startsWith(heading));
  if (part === undefined) throw new Error(`docs/operating.md's remsh section has no part '${heading}'`);
  return [...part.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((m) => m[1]!.trim().split('\n'))
    .filter((line) => line.includes('eid remsh'))
    .map((line) => line.replaceAll(DOCS_NODE, node));
}

/** A tmux server of our own, so a test starts and stops only its own sessions. */
export class Tmux {
  readonly args: string[];

  constructor(label: string) {
    this.args = ['-L', `eid-${label}-${process.pid}`];
  }

  /** Fails when tmux is missing (.ci/run installs it). */
  async check(): Promise<void> {
    await exec('tmux', ['-V']);
  }

  /** A session running `argv` (from shellIn); the pane shows the exit status and stays after it. */
  async start(name: string, argv: string[]): Promise<Terminal> {
    const [nsenter, ...rest] = argv;
    const script = rest.at(-1)!;
    const line = [nsenter!, ...rest.slice(0, -1), `${script}; echo "[remsh exited $?]"; sleep 600`]
      .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
      .join(' ');
    await exec('tmux', [...this.args, 'new-session', '-d', '-s', name, '-x', '150', '-y', '50', line]);
    return new Terminal(this, name);
  }

  async stop(): Promise<void> {
    await exec('tmux', [...this.args, 'kill-server']).catch(() => undefined);
  }
}

/** One tmux session: its screen, and keys typed into it. */
export class Terminal {
  constructor(
    private readonly tmux: Tmux,
    readonly name: string,
  ) {}

  async screen(): Promise<string> {
    const { stdout } = await exec('tmux', [
      ...this.tmux.args,
      'capture-pane',
      '-p',
      '-J',
      '-S',
      '-',
      '-t',
      this.name,
    ]);
    return stdout;
  }

  /** Waits until the screen matches `pattern` (a liveness bound, not a timing). */
  async see(pattern: RegExp, what: string): Promise<void> {
    let last = '';
    for (const deadline = Date.now() + SCREEN_BOUND_MS; !pattern.test((last = await this.screen()));) {
      if (Date.now() > deadline) throw new Error(`no ${what} on the screen of ${this.name}:\n${last}`);
      // Each look runs tmux: a few a second keep three sessions cheap on a loaded machine.
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Types `text` literally, then the given keys (tmux key names). */
  async type(text: string, ...keys: string[]): Promise<void> {
    if (text !== '') await exec('tmux', [...this.tmux.args, 'send-keys', '-t', this.name, '-l', text]);
    if (keys.length > 0) await exec('tmux', [...this.tmux.args, 'send-keys', '-t', this.name, ...keys]);
  }
}
