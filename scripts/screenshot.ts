/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * `npm run screenshot`: brings up two Docker hosts on this machine with two self-forming clusters
 * (shop on both hosts, blog on both) and a container the catalog cannot serve, the same setup as
 * test/daemon/page.test.ts, opens host 1's cluster page in headless Chromium (Debian's `chromium`)
 * and writes docs/cluster.png; then removes everything it made. As root, like `npm run demo`.
 * EID_SET picks the host set (default 24).
 */
import { waitFor } from '../test/support/processes.ts';
import { ROOT } from '../test/harness/hosts.ts';
import { existsSync } from 'node:fs';
import { CHROMIUM, openBrowser, startPageCluster } from '../test/harness/page-cluster.ts';

const SET = Number(process.env['EID_SET'] ?? 24);
const PORT = 9369;
const OUT = `${ROOT}docs/cluster.png`;

if (!existsSync(CHROMIUM)) {
  process.stderr.write(
    `screenshot: ${CHROMIUM} is missing; apt-get install -y chromium (Debian's package)\n`,
  );
  process.exit(1);
}
const cluster = await startPageCluster(SET, [String(PORT), String(PORT)]);
try {
  const browser = await openBrowser(cluster.hosts.h1, cluster.dir);
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${PORT}/`);
    // Both meshes drawn whole, every node's load read, and host 2's containers heard of.
    await waitFor(
      () =>
        page.evaluate(
          () =>
            document.querySelectorAll('line.edge').length === 4 &&
            [...document.querySelectorAll('td.procs')].every((td) => Number(td.textContent) > 0) &&
            document.querySelectorAll('#containers tr[data-container]').length === 6,
        ),
      'the page to show both clusters whole',
      120_000,
    );
    await page.screenshot({ path: OUT });
    process.stdout.write(`wrote ${OUT}\n`);
  } finally {
    await browser.close();
  }
} finally {
  await cluster.down();
}
