/**
 * Soak scenario `dockerd`: `eid daemon` on test host 1 serving sleeping containers, under steady
 * lookup load from host 2, while host 1's dockerd is (a) stopped and started again after an outage,
 * (b) frozen with SIGSTOP and thawed, (c) restarted at once. Lookups of the running containers
 * must keep being answered from the catalog throughout; /healthz must say `degraded: ...` during
 * the outage and `ok` after; a container started after recovery must resolve, and the sync age
 * gauge come back down. Hosts set 10; everything is removed at the end.
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { upHosts, type TestHosts } from '../test/harness/hosts.ts';
import {
  Agent,
  loadAverage,
  startHostDaemon,
  startSleepers,
  timeUntil,
  type HostDaemon,
  takeDown,
} from './docker-hosts.ts';
import { say } from './lib.ts';

const SET = 10;
/** The catalog's full resync interval here: a frozen dockerd is noticed when a resync times out. */
const RESYNC_SECONDS = 5;
/** Recovery bounds: liveness limits, not figures. */
const RECOVERY_LIMIT_MS = 120_000;

export interface DockerdOptions {
  containers: number;
  outageSeconds: number;
  concurrency: number;
}

type Fault = 'stop' | 'freeze' | 'restart';

export async function dockerd(options: DockerdOptions): Promise<Record<string, unknown>> {
  let hosts: TestHosts | undefined;
  let agent: Agent | undefined;
  try {
    hosts = await upHosts(SET);
    const daemon = await startHostDaemon(hosts.h1, ['--resync-interval', String(RESYNC_SECONDS)]);
    const names = Array.from({ length: options.containers }, (_, i) => `soakd${i}`);
    const served = new Map([...(await startSleepers(hosts.h1, names))].map(([n, c]) => [n, c.port]));
    agent = new Agent(hosts.h2, hosts.h1);
    const a = agent;
    const ready = await timeUntil(async () => Object.keys(await a.differing(served)).length === 0, 120_000);
    if (ready === undefined) throw new Error('the containers never all resolved');
    await agent.load(served, options.concurrency);
    await sleep(5_000);
    const baseline = await agent.stats();
    say('dockerd', `${options.containers} containers served; baseline ${JSON.stringify(baseline)}`);
    const faults: Record<string, unknown>[] = [];
    for (const fault of ['stop', 'freeze', 'restart'] as const) {
      const result = await runFault(fault, hosts, agent, daemon, options.outageSeconds);
      say('dockerd', `${fault}: ${JSON.stringify(result)}`);
      faults.push(result);
    }
    const alive = daemon.running();
    return {
      ok: alive && faults.every((f) => f.ok === true),
      containers: options.containers,
      outageSeconds: options.outageSeconds,
      resyncIntervalSeconds: RESYNC_SECONDS,
      concurrency: options.concurrency,
      baseline,
      faults,
      daemonRssMiB: daemon.rssMiB(),
      loadAverage: await loadAverage(),
    };
  } catch (err) {
    // Said now: a failure to take the hosts down below would hide it.
    say('dockerd', `failed: ${(err as Error).stack ?? String(err)}`);
    throw err;
  } finally {
    await agent?.stop();
    await takeDown(hosts);
  }
}

async function runFault(
  fault: Fault,
  hosts: TestHosts,
  agent: Agent,
  daemon: HostDaemon,
  outageSeconds: number,
): Promise<Record<string, unknown>> {
  const host = hosts.h1;
  await agent.stats();
  const start = performance.now();
  const at = () => Math.round(performance.now() - start);
  // /healthz every 500 ms from the fault on: each change of its text, and when.
  const healthChanges: { atMs: number; text: string }[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const text = await agent.health();
      if (healthChanges.at(-1)?.text !== text) healthChanges.push({ atMs: at(), text });
      await sleep(500);
    }
  })();
  const loadAverageAtFault = await loadAverage();
  if (fault === 'freeze') {
    const pid = Number(await readFile(`/run/eid/${hosts.set}h${host.index}/dockerd.pid`, 'utf8'));
    process.kill(pid, 'SIGSTOP');
    await sleep(outageSeconds * 1000);
    process.kill(pid, 'SIGCONT');
  } else {
    await hosts.stopDocker(host);
    if (fault === 'stop') await sleep(outageSeconds * 1000);
    await hosts.startDocker(host);
  }
  // Docker answers again from here (start-docker waits for it; a thawed dockerd answers at once).
  const recovered = performance.now();
  const outageMs = at();
  const during = await agent.stats();
  const healthOkAfterMs = await timeUntil(
    async () => (await agent.health()) === 'ok',
    RECOVERY_LIMIT_MS,
    100,
    recovered,
  );
  // A container started once Docker is back: how long until the daemon answers for it.
  const name = `soakd_after_${fault}`;
  const fresh = (await startSleepers(host, [name])).get(name)!;
  const runAt = performance.now();
  const expect = new Map([[name, fresh.port]]);
  const resolves = async () => Object.keys(await agent.differing(expect)).length === 0;
  const newContainerAfterMs = await timeUntil(resolves, RECOVERY_LIMIT_MS, 100, recovered);
  const afterRunMs = Math.round(performance.now() - runAt);
  const syncAgeSeconds = await agent.metric('eid_catalog_sync_age_seconds');
  polling = false;
  await poller;
  const degraded = healthChanges.find((c) => c.text.startsWith('degraded') && c.atMs <= outageMs);
  const duringFailures = Number(during.failed) + Number(during.wrong);
  return {
    fault,
    ok:
      duringFailures === 0 &&
      degraded !== undefined &&
      healthOkAfterMs !== undefined &&
      newContainerAfterMs !== undefined &&
      syncAgeSeconds <= 2 * RESYNC_SECONDS &&
      daemon.running(),
    outageMs,
    lookupsDuringOutage: during,
    degradedAfterMs: degraded?.atMs,
    degradedText: degraded?.text,
    healthChanges,
    healthOkAfterRecoveryMs: healthOkAfterMs,
    newContainerResolvesAfterRecoveryMs: newContainerAfterMs,
    newContainerResolvesAfterItsRunMs: newContainerAfterMs === undefined ? undefined : afterRunMs,
    syncAgeSecondsAfter: syncAgeSeconds,
    daemonRssMiB: daemon.rssMiB(),
    loadAverage: loadAverageAtFault,
  };
}
