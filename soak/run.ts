/**
 * The soak run (docs/reliability.md): long or repeated scenarios against `eid daemon` (built
 * dist/, no Docker) and a TS node, each bounded in time and count, each printing its figures and
 * writing soak/results/<scenario>.json (git-ignored). Exits 1 if a scenario fails.
 *
 *   npm run soak [-- --only lookups,junk --minutes 10 --concurrency 16 --cycles N]
 *
 * --minutes     how long `lookups` runs (10)
 * --concurrency lookups in flight at once, each on its own connection as erl_epmd does (16)
 * --cycles      SIGKILL-and-restart cycles for `restart` (3) and raw peers killed for `fragments` (50)
 * --idle        idle connections held by `connections` (1200)
 * --seconds     how long `connections` looks up, and each phase of `junk` (60, 30)
 * --containers  containers served by `dockerd` (20) and churned by `churn` (300)
 * --outage      seconds dockerd is stopped or frozen in `dockerd`, and the network cut in `netcut` (20)
 *
 * `dockerd`, `churn` and `netcut` run on the Docker test hosts (scripts/hosts.sh, sets 10 and 11;
 * root needed) and take them down at the end.
 */
import { parseArgs } from 'node:util';
import { connections, junk, lookups, restart, type Settings } from './daemon.ts';
import { churn } from './churn.ts';
import { dockerd } from './dockerd.ts';
import { fragments } from './fragments.ts';
import { processes, say, writeSummary } from './lib.ts';
import { netcut } from './netcut.ts';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    minutes: { type: 'string' },
    concurrency: { type: 'string' },
    cycles: { type: 'string' },
    idle: { type: 'string' },
    seconds: { type: 'string' },
    containers: { type: 'string' },
    outage: { type: 'string' },
  },
});
const number = (v: string | undefined, fallback: number): number => {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${v}`);
  return n;
};
const settings: Settings = {
  minutes: number(values.minutes, 10),
  concurrency: number(values.concurrency, 16),
  intervalSeconds: 30,
};
const seconds = (fallback: number) => number(values.seconds, fallback);

const scenarios: Record<string, () => Promise<Record<string, unknown>>> = {
  lookups: () => lookups(settings),
  connections: () => connections({ ...settings, idle: number(values.idle, 1200), seconds: seconds(60) }),
  junk: () => junk({ ...settings, seconds: seconds(30), senders: 400, pauseMs: 100 }),
  restart: () => restart({ ...settings, cycles: number(values.cycles, 3) }),
  fragments: () => fragments({ cycles: number(values.cycles, 50) }),
  dockerd: () =>
    dockerd({
      containers: number(values.containers, 20),
      outageSeconds: number(values.outage, 20),
      concurrency: 4,
    }),
  churn: () => churn({ containers: number(values.containers, 300), waves: 3, concurrency: 4 }),
  netcut: () => netcut({ outageSeconds: number(values.outage, 20) }),
};

const chosen = values.only === undefined ? Object.keys(scenarios) : values.only.split(',');
for (const name of chosen)
  if (!(name in scenarios)) throw new Error(`no scenario ${name}: ${Object.keys(scenarios).join(', ')}`);

let failed = 0;
for (const name of chosen) {
  say(name, 'start');
  try {
    const summary = await scenarios[name]!();
    const path = writeSummary(name, summary);
    if (summary.ok !== true) failed++;
    say(name, `${summary.ok === true ? 'ok' : 'FAILED'}; summary in ${path}`);
  } catch (err) {
    failed++;
    writeSummary(name, { ok: false, error: String(err) });
    say(name, `FAILED: ${(err as Error).stack ?? String(err)}`);
  }
}
await processes.stopAll();
say(
  'soak',
  failed === 0 ? `all ${chosen.length} scenarios ok` : `${failed} of ${chosen.length} scenarios failed`,
);
process.exit(failed === 0 ? 0 : 1);
