/** The two-host harness cleans up after itself, also after a crashed run. Needs root. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { HOST_MOUNTS, ROOT, upHosts } from './hosts.ts';

const run = promisify(execFile);
const SET = 4;

/** Running, as opposed to gone or a zombie waiting for a parent outside our control to reap it. */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

test(
  'down after a crash (dockerd and containerd killed, containers left running) removes everything',
  { timeout: 180_000 },
  async () => {
    const hosts = await upHosts(SET);
    let pids: number[] = [];
    try {
      const { h1, h2 } = hosts;
      const id = await h1.docker(['run', '-d', '-p', '12345', ...HOST_MOUNTS, 'eid-otp25', 'sleep', '3600']);
      const containerPid = Number(await h1.docker(['inspect', '-f', '{{.State.Pid}}', id]));
      const daemon = await h2.startDaemon();
      const runDir = `/run/eid/${SET}h1`;
      const dockerd = Number(readFileSync(`${runDir}/dockerd.pid`, 'utf8'));
      const containerd = Number(readFileSync(`${runDir}/containerd.pid`, 'utf8'));
      pids = [containerPid, dockerd, containerd, daemon.child.pid!];
      for (const pid of pids) assert.ok(alive(pid), `pid ${pid} should run before the crash`);
      // The crash: the host's engines die without stopping anything.
      process.kill(dockerd, 'SIGKILL');
      process.kill(containerd, 'SIGKILL');
    } finally {
      // What `up` does first, and what a later run's `down` does: twice, to show it is idempotent.
      const env = { ...process.env, EID_SET: String(SET) };
      await run(`${ROOT}scripts/hosts.sh`, ['down'], { env, timeout: 120_000 });
      await run(`${ROOT}scripts/hosts.sh`, ['down'], { env, timeout: 120_000 });
    }
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} survived down`);
    const { stdout: namespaces } = await run('ip', ['netns', 'list']);
    assert.doesNotMatch(namespaces, new RegExp(`eid${SET}h[12]`));
    const mounts = readFileSync('/proc/mounts', 'utf8');
    assert.ok(!mounts.includes(`/var/lib/eid/hosts/${SET}h`), 'overlay mounts left behind');
    for (const dir of [`/run/eid/${SET}h1`, `/var/lib/eid/hosts/${SET}h1`, `/run/eid/${SET}h2`]) {
      assert.equal(existsSync(dir), false, dir);
    }
    const { stdout: links } = await run('ip', ['-o', 'link']);
    assert.doesNotMatch(links, new RegExp(`eid${SET}v[12]`));
  },
);
