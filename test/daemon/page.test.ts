/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The cluster page (docs/operating.md) in a real headless Chromium against two daemons on two test
 * hosts with containers of two clusters: every container with its port, a skipped one with its
 * reason, the mesh edges and load figures, a hostile label shown as text; who may see the page;
 * and `eid status --host`, table and --json, from the same document.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'puppeteer-core';
import type { MembershipDocument } from '../../src/daemon/membership-document.ts';
import { ROOT, HOST_MOUNTS, type Host } from '../harness/hosts.ts';
import { openBrowser, startPageCluster, type PageCluster } from '../harness/page-cluster.ts';
import { PortSlices } from '../support/ports.ts';
import { eidBin, waitFor } from '../support/processes.ts';

const SET = 23;
/** In the hosts' own namespaces: nothing else listens there, so the slices' first ports are free. */
const H1_PORT = PortSlices.operator.page[0];
const H2_PORT = PortSlices.operator.status[0];
const HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';
const SETTLE_MS = 90_000;

let c: PageCluster;
let browser: Browser;
let page: Page;
let hostile: string;

before(
  async () => {
    // Host 1's HTTP port on every address (to check who is refused); host 2's on loopback, the default.
    c = await startPageCluster(SET, [`0.0.0.0:${H1_PORT}`, String(H2_PORT)], async (h1) => {
      hostile = (
        await h1.docker([
          'run',
          '-d',
          ...HOST_MOUNTS,
          '--name',
          'hostile',
          '-p',
          '12345',
          '--label',
          `eid.cluster=${HOSTILE}`,
          '--label',
          `eid.name=${HOSTILE}`,
          'eid-otp25',
          'sleep',
          '100000',
        ])
      ).slice(0, 12);
    });
    browser = await openBrowser(c.hosts.h1, c.dir);
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${H1_PORT}/`);
  },
  { timeout: 300_000 },
);

after(async () => {
  await browser?.close();
  await c?.down();
});

const short = (id: string) => id.slice(0, 12);

async function hostPort(host: Host, id: string): Promise<string> {
  return (await host.docker(['port', id, '12345/tcp'])).split('\n')[0]!.split(':').at(-1)!;
}

/** The undirected edges the page draws for `cluster`, each "a b" sorted, and the missing links. */
function edges(cluster: string): Promise<{ up: string[]; missing: string[] }> {
  // No named helpers inside: tsx would wrap them in a __name() the page does not have.
  return page.evaluate((name) => {
    const lines = [...document.querySelectorAll(`section[data-cluster="${name}"] line`)].map((l) => ({
      up: l.classList.contains('edge'),
      pair: [l.getAttribute('data-from'), l.getAttribute('data-to')].sort().join(' '),
    }));
    return {
      up: lines
        .filter((l) => l.up)
        .map((l) => l.pair)
        .sort(),
      missing: lines
        .filter((l) => !l.up)
        .map((l) => l.pair)
        .sort(),
    };
  }, cluster);
}

const pairs = (nodes: string[]) =>
  nodes.flatMap((a, i) => nodes.slice(i + 1).map((b) => [a, b].sort().join(' '))).sort();

test(
  'the page shows every container with its port, the skipped one with its reason, and both meshes',
  { timeout: 180_000 },
  async () => {
    const { shop, blog } = c;
    await waitFor(
      async () => {
        const [s, b] = [await edges('shop'), await edges('blog')];
        return JSON.stringify(s.up) === JSON.stringify(pairs(shop.map((n) => n.node))) && b.up.length === 1;
      },
      'the page to draw both meshes',
      SETTLE_MS,
    );
    assert.deepEqual(await edges('shop'), { up: pairs(shop.map((n) => n.node)), missing: [] });
    assert.deepEqual(await edges('blog'), { up: pairs(blog.map((n) => n.node)), missing: [] });
    // Load figures arrive by rpc within a pass or two; every node of both clusters gets them.
    await waitFor(
      () =>
        page.evaluate(() =>
          [...document.querySelectorAll('td.procs')].every((td) => Number(td.textContent) > 0),
        ),
      'memory, process and run-queue figures',
      SETTLE_MS,
    );
    const figures = await page.evaluate(() =>
      [...document.querySelectorAll('tr[data-node]')].map((tr) => [
        tr.getAttribute('data-node'),
        tr.querySelector('.mem')?.textContent,
        tr.querySelector('.runq')?.textContent,
      ]),
    );
    assert.equal(figures.length, 5);
    for (const [, mem, runq] of figures) {
      assert.match(mem ?? '', /^\d+\.\d MB$/);
      assert.match(runq ?? '', /^\d+$/);
    }

    for (const n of [...shop, ...blog]) {
      const id = short(n.id);
      await waitFor(
        () => page.$(`tr[data-container="${id}"]`).then((e) => e !== null),
        `a row for ${id}`,
        SETTLE_MS,
      );
      const row = await page.$eval(`tr[data-container="${id}"]`, (tr) => ({
        host: tr.getAttribute('data-host'),
        port: tr.querySelector('.port')?.textContent,
        text: tr.textContent,
      }));
      assert.equal(row.host, n.host.ip, id);
      assert.equal(row.port, `${await hostPort(n.host, n.id)} → 12345`, id);
      assert.ok(row.text?.includes(n.node), `${id} shows its node ${n.node}: ${row.text}`);
    }
    const skipped = await page.$eval(`tr[data-container="${c.skipped.id}"]`, (tr) => ({
      reason: tr.querySelector('[data-reason]')?.getAttribute('data-reason'),
      text: tr.textContent,
    }));
    assert.equal(skipped.reason, 'no_node_port');
    assert.match(skipped.text ?? '', /forgot-to-publish.*no: publishes no host port for its node port/);

    const hostsShown = await page.$$eval('#hosts tr[data-host]', (trs) =>
      trs.map((tr) => tr.getAttribute('data-host')),
    );
    assert.deepEqual(hostsShown, [c.hosts.h1.ip, c.hosts.h2.ip]);
    mkdirSync(`${ROOT}test-output`, { recursive: true });
    await page.screenshot({ path: `${ROOT}test-output/cluster-page.png`, fullPage: true });
  },
);

test('a hostile label shows as text, and nothing it carries runs', { timeout: 60_000 }, async () => {
  await waitFor(
    () => page.$(`tr[data-container="${hostile}"]`).then((e) => e !== null),
    'the hostile row',
    30_000,
  );
  const seen = await page.evaluate((id) => {
    const row = document.querySelector(`tr[data-container="${id}"]`)!;
    const labels = row.lastElementChild as HTMLElement;
    return {
      pwned: (window as unknown as { __pwned?: number }).__pwned,
      injected: document.querySelectorAll('main script, main img, body > script:not([src="/page.js"])')
        .length,
      text: labels.innerText,
      visible: labels.getBoundingClientRect().height > 0,
    };
  }, hostile);
  assert.deepEqual(
    { pwned: seen.pwned, injected: seen.injected, visible: seen.visible },
    { pwned: undefined, injected: 0, visible: true },
  );
  assert.ok(seen.text.includes(`eid.cluster=${HOSTILE}`), seen.text);
  assert.ok(seen.text.includes(`eid.name=${HOSTILE}`), seen.text);
});

test(
  'only loopback clients get the page unless --expose-page; a bare --metrics port listens on loopback',
  { timeout: 60_000 },
  async () => {
    const { h1, h2 } = c.hosts;
    const curl = (host: Host, url: string) =>
      host
        .exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', url])
        .catch((err: { stdout?: string }) => err.stdout ?? 'failed');
    assert.equal(await curl(h2, `http://${h1.ip}:${H1_PORT}/`), '403');
    assert.equal(await curl(h2, `http://${h1.ip}:${H1_PORT}/v1/membership`), '403');
    assert.equal(await curl(h2, `http://${h1.ip}:${H1_PORT}/metrics`), '200');
    // Host 2's daemon was given only a port: nothing on its network address answers.
    assert.equal(await curl(h1, `http://${h2.ip}:${H2_PORT}/metrics`), '000');
    const csp = await h1.exec('curl', ['-s', '-D', '-', '-o', '/dev/null', `http://127.0.0.1:${H1_PORT}/`]);
    assert.match(csp, /content-security-policy: default-src 'none'; script-src 'self';/i);
  },
);

test(
  'eid status --host prints the same document as tables, and --json prints it as it is',
  { timeout: 60_000 },
  async () => {
    const { h1, h2 } = c.hosts;
    const status = (args: string[]) =>
      h2.exec(process.execPath, [eidBin, 'status', '--host', `127.0.0.1:${H2_PORT}`, ...args]);
    await waitFor(
      async () => {
        const doc = JSON.parse(await status(['--json'])) as MembershipDocument;
        return doc.peers.some((p) => p.containers.some((x) => x.id === c.skipped.id));
      },
      "host 2's daemon to know host 1's containers",
      SETTLE_MS,
    );
    const doc = JSON.parse(await status(['--json'])) as MembershipDocument;
    assert.equal(doc.version, 1);
    assert.equal(doc.host, h2.ip);
    assert.deepEqual(doc.clusters.map((v) => v.name).sort(), ['blog', 'shop']);
    const mine = [...c.shop, ...c.blog].filter((n) => n.host === h2);
    assert.deepEqual(doc.containers.map((x) => x.id).sort(), mine.map((n) => short(n.id)).sort());
    const peer = doc.peers.find((p) => p.host === h1.ip)!;
    assert.equal(peer.reachable, true);
    const skipped = peer.containers.find((x) => x.id === c.skipped.id)!;
    assert.deepEqual([skipped.served, skipped.skips.map((s) => s.reason)], [false, ['no_node_port']]);

    const table = await status([]);
    assert.ok(!table.includes('\u001b'), 'no colour off a terminal');
    assert.match(table, /^HOSTS\nHOST +DAEMON +CONTAINERS +NOT SERVED +REGISTERED +LAST HEARD\n/m);
    for (const n of [...c.shop, ...c.blog]) {
      const port = await hostPort(n.host, n.id);
      assert.match(
        table,
        new RegExp(
          `^${n.host.ip} +${short(n.id)} +\\S+ +eid-otp25 +${n.node} +\\S+ +${port} -> 12345 +yes$`,
          'm',
        ),
      );
    }
    assert.match(
      table,
      new RegExp(
        `^${h1.ip} +${c.skipped.id} +forgot-to-publish +eid-otp25 +- +- +- +no: publishes no host port`,
        'm',
      ),
    );
    assert.match(table, /^CLUSTER shop\nNODE +HOST +STATE +CONNECTED +MEMORY +PROCESSES +RUN QUEUE\n/m);
  },
);
