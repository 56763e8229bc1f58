/**
 * Soak scenario `churn`: `--containers` (300) sleeping containers started on test host 1 in waves
 * of 100 and removed in waves, at most two waves running at once, while host 2 looks up a few
 * stable containers without pause. After
 * each wave, every running container must resolve to its port and every removed one must be gone,
 * within a deadline; each wave's convergence time and the daemon's RSS are recorded. The daemon
 * runs with its default resync interval (60 s), so what converges is the event path. Hosts set 11,
 * with Docker's userland proxy off (iptables alone publishes ports: 300 proxies would cost GBs).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { upHosts, type TestHosts } from '../test/harness/hosts.ts';
import {
  Agent,
  loadAverage,
  removeContainers,
  startHostDaemon,
  startSleepers,
  timeUntil,
  takeDown,
} from './docker-hosts.ts';
import { say } from './lib.ts';

const SET = 11;
const STABLE = 5;
/** How long one wave may take to show in lookups: a liveness bound, not a figure. */
const CONVERGE_LIMIT_MS = 180_000;

export interface ChurnOptions {
  containers: number;
  waves: number;
  concurrency: number;
}

export async function churn(options: ChurnOptions): Promise<Record<string, unknown>> {
  let hosts: TestHosts | undefined;
  let agent: Agent | undefined;
  try {
    hosts = await upHosts(SET, { dockerdArgs: ['--userland-proxy=false'] });
    const host = hosts.h1;
    const daemon = await startHostDaemon(host);
    const ports = (started: Map<string, { port: number }>) =>
      new Map([...started].map(([name, c]) => [name, c.port]));
    const stable = ports(
      await startSleepers(
        host,
        Array.from({ length: STABLE }, (_, i) => `soakc_stable${i}`),
      ),
    );
    agent = new Agent(hosts.h2, host);
    const a = agent;
    /** What every name must answer now: its port while running, not found once removed. */
    const expect = new Map<string, number | null>(stable);
    const converge = () =>
      timeUntil(async () => Object.keys(await a.differing(expect)).length === 0, CONVERGE_LIMIT_MS, 200);
    if ((await converge()) === undefined) throw new Error('the stable containers never resolved');
    await agent.load(stable, options.concurrency);
    const rssStart = daemon.rssMiB();
    say('churn', `${STABLE} stable containers; daemon RSS ${rssStart} MiB`);
    const perWave = Math.ceil(options.containers / options.waves);
    const batches = Array.from({ length: options.waves }, (_, w) =>
      Array.from({ length: Math.min(perWave, options.containers - w * perWave) }, (_, i) => `soakc${w}_${i}`),
    );
    const waves: Record<string, unknown>[] = [];
    const wave = async (action: 'start' | 'remove', batch: string[]) => {
      const began = performance.now();
      if (action === 'start')
        for (const [name, port] of ports(await startSleepers(host, batch))) expect.set(name, port);
      else {
        await removeContainers(host, batch);
        for (const name of batch) expect.set(name, null);
      }
      const dockerMs = Math.round(performance.now() - began);
      const convergedMs = await converge();
      const lookups = await a.stats();
      const result = {
        action,
        containers: batch.length,
        running: [...expect.values()].filter((p) => p !== null).length - STABLE,
        dockerSeconds: Math.round(dockerMs / 100) / 10,
        convergedAfterLastDockerCallMs: convergedMs,
        stableLookups: lookups,
        daemonRssMiB: daemon.rssMiB(),
        loadAverage: await loadAverage(),
      };
      say('churn', JSON.stringify(result));
      waves.push(result);
      return convergedMs !== undefined && Number(lookups.failed) + Number(lookups.wrong) === 0;
    };
    // Each batch is started, then removed after the next one started: at most two batches run at
    // once (a host's bridge is a /24: about 250 containers at a time).
    let ok = true;
    let peakRss = 0;
    for (const [w, batch] of batches.entries()) {
      ok = (await wave('start', batch)) && ok;
      peakRss = Math.max(peakRss, daemon.rssMiB());
      if (w > 0) ok = (await wave('remove', batches[w - 1]!)) && ok;
    }
    ok = (await wave('remove', batches.at(-1)!)) && ok;
    // Settle, then the daemon's RSS with the 300 gone again.
    await sleep(5_000);
    const rssEnd = daemon.rssMiB();
    return {
      ok: ok && daemon.running(),
      containers: options.containers,
      waves: options.waves,
      concurrency: options.concurrency,
      daemonRssMiB: { start: rssStart, peak: peakRss, end: rssEnd },
      catalogSizeAtEnd: await agent.metric('eid_catalog_containers'),
      waveResults: waves,
    };
  } catch (err) {
    // Said now: a failure to take the hosts down below would hide it.
    say('churn', `failed: ${(err as Error).stack ?? String(err)}`);
    throw err;
  } finally {
    await agent?.stop();
    await takeDown(hosts);
  }
}
