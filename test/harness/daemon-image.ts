/** The npm tarball of the checkout, and the daemon image built from it on a test host. */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, type Host } from './hosts.ts';

const run = promisify(execFile);

/**
 * `npm pack` of the checkout into `dir`; resolves to the tarball's path. Without its prepack build:
 * scripts/test.sh has just built dist/ from the sources.
 */
export async function packProject(dir: string): Promise<string> {
  await run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], {
    cwd: ROOT,
    timeout: 300_000,
    maxBuffer: 1 << 24,
  });
  const packed = readdirSync(dir).filter((f) => /^erlang-in-docker-.*\.tgz$/.test(f));
  if (packed.length !== 1) throw new Error(`npm pack left ${packed.length} tarballs in ${dir}`);
  return join(dir, packed[0]!);
}

/**
 * The repository's Dockerfile built on `host` from `tarball` and nothing else (the context its
 * .dockerignore leaves of a checkout), FROM `base` (default eid-node: trixie with Debian's nodejs).
 */
export async function buildDaemonImage(
  host: Host,
  tarball: string,
  base = 'eid-node',
  tag = 'eid-daemon',
): Promise<void> {
  const context = mkdtempSync(join(tmpdir(), 'eid-image-'));
  try {
    for (const file of ['Dockerfile', '.dockerignore']) copyFileSync(join(ROOT, file), join(context, file));
    copyFileSync(tarball, join(context, basename(tarball)));
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
