/**
 * Two clusters on two test hosts for the cluster page (test/daemon/page.test.ts and
 * `npm run screenshot`): daemons with --clusters and an HTTP port, stock erl nodes labelled
 * eid.cluster=shop and =blog, a container the catalog skips, and a headless Chromium (Debian's
 * package, never a downloaded one) run in a host's network namespace, where the page is.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { eidBin } from '../support/processes.ts';
import {
  HOST_MOUNTS,
  ROOT,
  upHosts,
  type DaemonProcess,
  type Host,
  type NodeContainer,
  type TestHosts,
} from './hosts.ts';

export const CHROMIUM = '/usr/bin/chromium';
const COOKIE = 'eidpagecookie';

export interface PageCluster {
  hosts: TestHosts;
  dir: string;
  daemons: Map<Host, DaemonProcess>;
  /** Each host's daemon --metrics value. */
  http: Map<Host, string>;
  shop: NodeContainer[];
  blog: NodeContainer[];
  /** A container that exposes the node port but publishes it nowhere: skipped, no_node_port. */
  skipped: { host: Host; id: string };
  down(): Promise<void>;
}

function writeCookie(dir: string, name: string): string {
  const file = join(dir, `${name}.cookie`);
  writeFileSync(file, COOKIE);
  chmodSync(file, 0o600);
  return `${name}.cookie`;
}

function writeConfig(dir: string, self: Host, peer: Host): string {
  const file = join(dir, `clusters-${self.index}.json`);
  const cluster = (cookieFile: string) => ({ cookieFile, hosts: [peer.ip], reconcileInterval: 1 });
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      host: self.ip,
      membership: { ca: 'certs/ca.pem', cert: `certs/${self.ip}/cert.pem`, key: `certs/${self.ip}/key.pem` },
      clusters: { shop: cluster('shop.cookie'), blog: cluster('blog.cookie') },
    }),
  );
  return file;
}

/**
 * Brings up host set `set`, the daemons (host 1's HTTP port at `http[0]`, host 2's at `http[1]`, as
 * --metrics values), three shop nodes (two on host 1) and two blog nodes (one per host), and a
 * skipped container on host 1. `extra` starts more containers on host 1 before the nodes are waited for.
 */
export async function startPageCluster(
  set: number,
  http: [string, string],
  extra: (h1: Host) => Promise<unknown> = () => Promise.resolve(),
): Promise<PageCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'eid-page-'));
  const hosts = await upHosts(set);
  const { h1, h2 } = hosts;
  const daemons = new Map<Host, DaemonProcess>();
  const down = async () => {
    await hosts.down();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    execFileSync('bash', [`${ROOT}scripts/dist-certs.sh`, '--dir', join(dir, 'certs'), h1.ip, h2.ip]);
    writeCookie(dir, 'shop');
    writeCookie(dir, 'blog');
    const httpOf = new Map([
      [h1, http[0]],
      [h2, http[1]],
    ]);
    await Promise.all(
      [h1, h2].map(async (host) => {
        const config = writeConfig(dir, host, host === h1 ? h2 : h1);
        const args = [
          'daemon',
          '--docker',
          host.endpoint,
          '--clusters',
          config,
          '--metrics',
          httpOf.get(host)!,
        ];
        const child = host.spawn(process.execPath, [eidBin, ...args, '--log-format', 'json']);
        daemons.set(host, await host.adopt(child, /Docker catalog synced/));
      }),
    );
    const node = (host: Host, cluster: string, name: string) =>
      host.startNode({ cookie: COOKIE, name, labels: { 'eid.cluster': cluster } });
    const [shop1, shop2, blog1, shop3, blog2, skippedId] = await Promise.all([
      node(h1, 'shop', 'shop-web-1'),
      node(h1, 'shop', 'shop-worker-1'),
      node(h1, 'blog', 'blog-1'),
      node(h2, 'shop', 'shop-web-2'),
      node(h2, 'blog', 'blog-2'),
      // Names the node port but publishes it nowhere: the catalog cannot serve it (no_node_port).
      h1.docker([
        'run',
        '-d',
        ...HOST_MOUNTS,
        '--name',
        'forgot-to-publish',
        '--expose',
        '12345',
        'eid-otp25',
        'sleep',
        '100000',
      ]),
      extra(h1),
    ]);
    return {
      hosts,
      dir,
      daemons,
      http: httpOf,
      shop: [shop1, shop2, shop3],
      blog: [blog1, blog2],
      skipped: { host: h1, id: skippedId.slice(0, 12) },
      down,
    };
  } catch (err) {
    await down();
    throw err;
  }
}

/**
 * Headless Chromium in `host`'s network namespace (the page listens on that host's loopback),
 * driven over a pipe (puppeteer-core), so no DevTools port is opened anywhere.
 */
export async function openBrowser(host: Host, dir: string): Promise<Browser> {
  const wrapper = join(dir, `chromium-${host.index}.sh`);
  writeFileSync(wrapper, `#!/bin/sh\nexec nsenter --net=/run/netns/${host.netns} ${CHROMIUM} "$@"\n`, {
    mode: 0o755,
  });
  return puppeteer.launch({
    executablePath: wrapper,
    pipe: true,
    headless: true,
    // As root, Chromium runs only without its sandbox; no GPU in CI.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    defaultViewport: { width: 1280, height: 800 },
  });
}
