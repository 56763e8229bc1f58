/** Builds the daemon's image (the repo's Dockerfile) on a test host from a local base image. */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, type Host } from './hosts.ts';

const run = promisify(execFile);

/** package.json, bin/, dist/ and the production dependencies: what `npm install erlang-in-docker` gives. */
async function stageContext(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'eid-image-'));
  // npm ls exits non-zero on mere warnings (extraneous packages); its list is still complete.
  const { stdout } = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: ROOT,
    maxBuffer: 1 << 24,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const dependencies = stdout
    .split('\n')
    .filter((p) => p.includes('/node_modules/'))
    .map((p) => relative(ROOT, p));
  for (const path of ['Dockerfile', 'package.json', 'bin', ...dependencies]) {
    cpSync(join(ROOT, path), join(dir, path), { recursive: true });
  }
  // dist/ compiled from the sources as they are now, never a stale build lying in the checkout.
  // (Type errors are npm test's typecheck step to report; tsc still emits.)
  await run(
    join(ROOT, 'node_modules/.bin/tsc'),
    ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')],
    {
      cwd: ROOT,
      maxBuffer: 1 << 24,
    },
  ).catch(() => undefined);
  if (!existsSync(join(dir, 'dist/cli/main.js')))
    throw new Error('compiling src/ for the daemon image failed');
  return dir;
}

export async function buildDaemonImage(host: Host, base: string, tag = 'eid-daemon'): Promise<void> {
  const context = await stageContext();
  try {
    // The classic builder: BuildKit is not part of docker.io 20.10 on every machine.
    await run(
      'docker',
      ['-H', host.endpoint, 'build', '-q', '--build-arg', `BASE=${base}`, '-t', tag, context],
      {
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
        timeout: 300_000,
        maxBuffer: 1 << 24,
      },
    );
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}
