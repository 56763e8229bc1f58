/**
 * Runs in a container on test host 2 (groups-containers.test.ts starts it): a TS node that
 * - runs the pg scenario against OTP 27 and OTP 29 nodes in containers, and checks phash2 of pids
 *   against their erlang:phash2;
 * - runs the Phoenix.PubSub acceptance against an Elixir node with the stand-in in a container on
 *   host 1: Elixir receives a TS broadcast on "room:1", TS receives an Elixir broadcast on
 *   "room:2", and :pg.get_members(Phoenix.PubSub, Demo.PubSub.Adapter) lists the TS member.
 * Every node is found by `hostname@HostIP` through eid daemon. Prints one JSON line, then stops.
 *
 * Usage: node --import tsx test/distribution/groups-probe.ts '{"name":..,"cookie":..,"otp":[..],"elixir":..}'
 */
import { readFileSync } from 'node:fs';
import { Node } from '../../src/distribution/node.ts';
import { phash2 } from '../../src/etf/phash2.ts';
import { formatTerm } from '../../src/etf/format.ts';
import { atom, Pid, Tuple, tuple, type Term } from '../../src/etf/terms.ts';
import { waitFor } from '../support/processes.ts';
import { pgScenario } from './pg-scenario.ts';

const SETTLE_MS = 60_000;

interface Config {
  name: string;
  cookie: string;
  otp: string[];
  elixir: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const out: Record<string, unknown> = {};
const started = Date.now();
const timings: Record<string, number> = {};
const mark = (what: string) => (timings[what] = Date.now() - started);
timings.uptimeAtStart = Math.round(process.uptime() * 1000);
const ts = await Node.start({ name: config.name, cookie: config.cookie });
// A hidden node that only evaluates on the others, so `ts` can be disconnected and watched.
const driver = await Node.start({
  name: `driver_${config.name}`,
  cookie: config.cookie,
  hidden: true,
  port: 0,
  epmd: { register: false },
});

/** Evaluates Erlang expressions on `node` through the driver (erl_scan, erl_parse, erl_eval). */
async function erlEval(node: string, source: string): Promise<Term> {
  const text = source.trim().endsWith('.') ? source : `${source}.`;
  const scanned = (await driver.rpc(node, 'erl_scan', 'string', [[...Buffer.from(text, 'latin1')]])) as Tuple;
  const parsed = (await driver.rpc(node, 'erl_parse', 'parse_exprs', [scanned.elements[1]!])) as Tuple;
  if (formatTerm(parsed.elements[0]!) !== 'ok') throw new Error(`parse: ${formatTerm(parsed)}`);
  const bindings = await driver.rpc(node, 'erl_eval', 'new_bindings', []);
  const r = (await driver.rpc(node, 'erl_eval', 'exprs', [parsed.elements[1]!, bindings])) as Tuple;
  return r.elements[1]!;
}

/** How many members of `tsNode` the Elixir node lists in its PubSub's adapter group. */
async function listedOn(ex: string, tsNode: string): Promise<number> {
  const m = (await driver.rpc(ex, 'pg', 'get_members', [
    atom('Elixir.Phoenix.PubSub'),
    atom('Elixir.Demo.PubSub.Adapter'),
  ])) as Term[];
  return m.filter((p) => p instanceof Pid && p.node.name === tsNode).length;
}

try {
  for (const otp of config.otp) {
    const r: Record<string, unknown> = {};
    out[otp] = r;
    r.release = String.fromCharCode(
      ...((await driver.rpc(otp, 'erlang', 'system_info', [atom('otp_release')])) as number[]),
    );
    await pgScenario(ts, otp, (src) => erlEval(otp, src));
    r.pg = 'ok';
    mark(`pg ${otp}`);
    const pids = [0, 1, 77, 32767, 32768, 123456, 268435455].map(
      (id) => new Pid(atom(ts.name), id, 3, ts.creation),
    );
    const theirs: Term[] = [];
    for (const p of pids) theirs.push(await driver.rpc(otp, 'erlang', 'phash2', [p, 2 ** 32]));
    r.phash2Mismatches = pids.filter((p, i) => phash2(p, 2 ** 32) !== Number(theirs[i])).length;
  }

  // Phoenix.PubSub acceptance.
  const ex = config.elixir;
  const standin = readFileSync(new URL('./phoenix_pubsub_standin.ex', import.meta.url));
  await driver.rpc(ex, 'Elixir.Code', 'compile_string', [standin]);
  const exEval = (src: string, bindings: Tuple[] = []) =>
    driver.rpc(ex, 'Elixir.Code', 'eval_string', [Buffer.from(src), bindings]);
  await exEval('{:ok, sup} = Phoenix.PubSub.start_link(name: Demo.PubSub); Process.unlink(sup)');
  const pubsub = ts.pubsub('Demo.PubSub');
  const inbox = ts.spawn(() => new Promise(() => undefined));
  const fromTs: Term[] = [];
  pubsub.subscribe('room:2', (m) => fromTs.push(m));
  if (!(await ts.ping(ex))) throw new Error('no pong from the Elixir node');
  await exEval(
    `parent = self()
     spawn(fn ->
       Phoenix.PubSub.subscribe(Demo.PubSub, "room:1")
       send(parent, :subscribed)
       receive do m -> send(target, {:got, m}) end
     end)
     receive do :subscribed -> :ok end`,
    [tuple(atom('target'), inbox.pid)],
  );
  const listed = () => listedOn(ex, ts.name);
  // Liveness bounds (the test asserts what was seen): pg and PubSub messages cross hosts through
  // Docker's proxies, seconds on a loaded machine.
  await waitFor(async () => (await listed()) > 0, 'the TS member listed', SETTLE_MS).catch(() => undefined);
  out.membersListed = await listed();
  pubsub.broadcast('room:1', tuple(atom('hello'), Buffer.from('from ts')));
  out.elixirGot = formatTerm(((await inbox.receive(undefined, SETTLE_MS)) as Tuple).elements[1]!);
  await exEval('Phoenix.PubSub.broadcast(Demo.PubSub, "room:2", {:hello, "from elixir"})');
  await waitFor(() => fromTs.length > 0, 'the Elixir broadcast', SETTLE_MS).catch(() => undefined);
  out.tsGot = fromTs.map(formatTerm);
  out.tsNode = ts.name;
  mark('pubsub');
} catch (err) {
  out.error = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
}
mark('before stop');
await ts.stop();
// Check 3's end: once the TS node has stopped, the Elixir node no longer lists its member.
if (out.error === undefined) {
  try {
    await waitFor(
      async () => (await listedOn(config.elixir, ts.name)) === 0,
      'the TS member gone',
      SETTLE_MS,
    ).catch(() => undefined);
    out.membersAfterStop = await listedOn(config.elixir, ts.name);
  } catch (err) {
    out.error = String(err);
  }
}
await driver.stop();
mark('stopped');
out.timings = timings;
console.log(JSON.stringify(out));
process.exit(0);
