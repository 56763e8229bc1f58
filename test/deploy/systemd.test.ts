/**
 * docs/deploying.md's systemd units, as written: `systemd-analyze verify` loads each of them (the
 * socket units, the service they activate, the unit that runs the daemon container) in a root made
 * for it, where every program an Exec line names exists, with no warning at all; and the
 * documented `systemctl enable` line enables them as their [Install] sections say.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Doc } from '../support/doc-blocks.ts';
import { eidBin } from '../support/processes.ts';

const run = promisify(execFile);
const doc = new Doc('docs/deploying.md');
const UNIT_DIR = '/etc/systemd/system';
/** Where `npm install -g` puts the command with Debian's npm (global prefix /usr/local). */
const INSTALLED_EID = '/usr/local/bin/eid';

/** The documented units: each `ini` block that starts with `# /etc/systemd/system/NAME`. */
const units = new Map(
  doc
    .blocks('ini')
    .map((text) => [/^# \/etc\/systemd\/system\/(\S+)\n/.exec(text)?.[1], text] as const)
    .filter((entry): entry is [string, string] => entry[0] !== undefined),
);

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'eid-systemd-'));
  // The machine's own units (sockets.target, docker.service, ...), which the documented ones name.
  await cp('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
  await mkdir(join(root, UNIT_DIR), { recursive: true });
  for (const [name, text] of units) await writeFile(join(root, UNIT_DIR, name), text);
  for (const program of execPrograms([...units.values()])) {
    // The installed eid is the checkout's bin/eid.js; every other program must be on this Debian
    // Docker host as the unit names it. The root gets a stand-in that runs the real one.
    const real = program === INSTALLED_EID ? eidBin : program;
    assert.ok(existsSync(real), `${program}, named by a documented unit, exists`);
    await mkdir(join(root, dirname(program)), { recursive: true });
    await writeFile(join(root, program), `#!/bin/sh\nexec ${real} "$@"\n`);
    await chmod(join(root, program), 0o755);
  }
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The absolute programs of every Exec*= line (after systemd's `-@:+!` prefixes). */
function execPrograms(texts: string[]): Set<string> {
  const programs = new Set<string>();
  for (const text of texts) {
    for (const m of text.matchAll(/^Exec\w+=[-@:+!]*(\/\S+)/gm)) programs.add(m[1]!);
  }
  return programs;
}

/** `systemd-analyze verify` of `names` (unit files under the root's /etc/systemd/system). */
async function verify(names: string[]): Promise<{ code: number; output: string }> {
  const args = ['verify', `--root=${root}`, '--man=no', ...names.map((n) => join(UNIT_DIR, n))];
  return run('systemd-analyze', args).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({
      code: err.code,
      output: err.stdout + err.stderr,
    }),
  );
}

test('deploying.md documents the socket units, the service and the container unit', () => {
  assert.deepEqual([...units.keys()].sort(), [
    'eid-container.service',
    'eid-metrics.socket',
    'eid.service',
    'eid.socket',
  ]);
  assert.match(units.get('eid.service')!, new RegExp(`^ExecStart=${INSTALLED_EID} daemon$`, 'm'));
  // `npm install -g` installs the package's `eid` command under that name.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    bin: Record<string, string>;
  };
  assert.match(pkg.bin['eid'] ?? '', /bin\/eid\.js$/);
});

test('systemd-analyze verify: every documented unit loads with no warning', async () => {
  assert.deepEqual(await verify([...units.keys()]), { code: 0, output: '' });
  // The check is real: a misspelt key and a bad value are reported for the same unit.
  const broken = units
    .get('eid.service')!
    .replace('RestartSec=1', 'RestartSek=1')
    .replace('Restart=always', 'Restart=alway');
  await writeFile(join(root, UNIT_DIR, 'eid-broken.service'), broken);
  const bad = await verify(['eid-broken.service']);
  assert.match(bad.output, /Unknown key 'RestartSek'/);
  assert.match(bad.output, /Failed to parse service restart specifier/);
  await rm(join(root, UNIT_DIR, 'eid-broken.service'));
});

test('the documented systemctl enable line enables the socket units and the service as their [Install] says', async () => {
  const line = /^systemctl daemon-reload && systemctl enable --now (.+)$/m.exec(doc.text);
  assert.ok(line, 'deploying.md has the systemctl enable line');
  const enabled = line[1]!.split(' ');
  assert.deepEqual(enabled, ['eid.socket', 'eid-metrics.socket', 'eid.service']);
  // --now and daemon-reload need a running systemd; the enabling is the same offline, in the root.
  await run('systemctl', [`--root=${root}`, 'enable', ...enabled]);
  const wants = join(root, UNIT_DIR);
  for (const [link, unit] of [
    ['sockets.target.wants/eid.socket', 'eid.socket'],
    ['sockets.target.wants/eid-metrics.socket', 'eid-metrics.socket'],
    ['multi-user.target.wants/eid.service', 'eid.service'],
  ] as const) {
    assert.equal(await readlink(join(wants, link)), join(UNIT_DIR, unit), link);
  }
});
