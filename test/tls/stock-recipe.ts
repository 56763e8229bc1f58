/**
 * docs/tls.md's recipe as the stock-node TLS tests run it: the document's certificate commands,
 * per-host install and ssl_dist_optfile are read from it and run, with /etc/eid/tls standing for a
 * temporary directory per host (mounted at /etc/eid/tls in containers).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, type Host, type StartNodeOptions } from '../harness/hosts.ts';
import { Doc } from '../support/doc-blocks.ts';

export const run = promisify(execFile);
export const COOKIE = 'eidtlsstockcookie';
/** Where docs/tls.md installs a host's certificates and options file. */
export const TLS_DIR = '/etc/eid/tls';
/** The node flags docs/tls.md gives (checked against the document). */
export const TLS_FLAGS = `-proto_dist inet_tls -ssl_dist_optfile ${TLS_DIR}/dist.conf`;
const doc = new Doc('docs/tls.md');

/** The first fenced block of `lang` after the line `heading` in docs/tls.md. */
export function docBlock(heading: string, lang: string): string {
  return doc.block(heading, lang);
}

/** Runs a docs/tls.md shell block with bash in the repository, lines ending in `# yours` left out. */
export async function runDocBlock(
  heading: string,
  env: Record<string, string>,
  tlsDir = TLS_DIR,
): Promise<void> {
  const script = docBlock(heading, 'sh')
    .split('\n')
    .filter((line) => !line.endsWith('# yours'))
    .join('\n')
    .replaceAll(TLS_DIR, tlsDir);
  await run('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, env: { ...process.env, ...env } });
}

/** A node's TLS distribution flags with `optfile`. */
export function tlsArgs(optfile: string): string[] {
  return ['-proto_dist', 'inet_tls', '-ssl_dist_optfile', optfile];
}

export interface Recipe {
  /** The CA directory of step 1. */
  certs: string;
  /** Per host: the directory standing for its /etc/eid/tls. */
  dirs: Map<Host, string>;
  /** The options file for nodes in `host`'s own namespace: step 3's, naming the host's directory. */
  hostOptfile(host: Host): string;
  /** startNode options for a TLS node in a container on `host`. */
  node(host: Host): Required<Pick<StartNodeOptions, 'cookie' | 'erlArgs' | 'volumes'>>;
}

/** Steps 1 to 3 of docs/tls.md for `hosts`, under `tmp`. */
export async function installRecipe(tmp: string, h1: Host, h2: Host): Promise<Recipe> {
  assert.ok(doc.text.includes(TLS_FLAGS), `docs/tls.md gives the node flags ${TLS_FLAGS}`);
  const certs = join(tmp, 'ca');
  await runDocBlock('### 1. Certificates', { CERTS: certs, HOST1_IP: h1.ip, HOST2_IP: h2.ip });
  const dirs = new Map<Host, string>();
  const hostOptfile = (host: Host) => join(dirs.get(host)!, 'host-dist.conf');
  for (const host of [h1, h2]) {
    const dir = join(tmp, `host${host.index}`);
    dirs.set(host, dir);
    await installHost(certs, host.ip, dir);
  }
  return {
    certs,
    dirs,
    hostOptfile,
    node: (host) => ({ cookie: COOKIE, erlArgs: TLS_FLAGS, volumes: [`${dirs.get(host)!}:${TLS_DIR}:ro`] }),
  };
}

/**
 * Steps 2 and 3 of docs/tls.md for the host `ip`, with `dir` standing for /etc/eid/tls: its
 * dist.conf as the document gives it (for containers, which mount `dir` there) and host-dist.conf
 * naming `dir` (for nodes on the machine), whose path it resolves to.
 */
export async function installHost(certs: string, ip: string, dir: string): Promise<string> {
  await runDocBlock('### 2. On each host', { CERTS: certs, HOST_IP: ip }, dir);
  const optfile = docBlock('### 3. The options file', 'erlang');
  await writeFile(join(dir, 'dist.conf'), optfile);
  await writeFile(join(dir, 'host-dist.conf'), optfile.replaceAll(TLS_DIR, dir));
  return join(dir, 'host-dist.conf');
}
