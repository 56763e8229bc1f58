/**
 * Soak scenario `netcut`: a stock OTP node in a container on each test host, named
 * ContainerID@HostIP and found through each host's `eid daemon`, connected to each other; then
 * every packet between the two hosts is dropped for `--outage` seconds (iptables in host 1's
 * namespace: a silent cut, as a failed link or a partition looks, not a refused connection).
 * During the cut, lookups across it must fail by their timeout, not hang (eid's EPMD client and
 * stock `erl_epmd:port_please/3`), and the daemon must keep answering on its own host. After the
 * restore: how long until a cross-host lookup succeeds again, and until the nodes connect again
 * (the OTP connection is dropped during the cut, so `net_adm:ping` has to look the peer up and
 * connect anew). Hosts set 10; everything is removed at the end.
 */
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { upHosts, type Host, type NodeContainer, type TestHosts } from '../test/harness/hosts.ts';
import { Agent, loadAverage, startHostDaemon, takeDown, timeUntil } from './docker-hosts.ts';
import { say } from './lib.ts';

const SET = 10;
const COOKIE = 'eidsoaknetcut';
/** How long one lookup across the cut may wait (eid's and erl_epmd's): it must give up by then. */
const LOOKUP_TIMEOUT_MS = 5_000;
/** Recovery bounds: liveness limits, not figures. */
const RECOVERY_LIMIT_MS = 120_000;

const run = promisify(execFile);

/** iptables rules in `host`'s namespace that drop everything to and from `peer` (containers' traffic too). */
function cutRules(peer: Host): string[][] {
  return [
    ['PREROUTING', '-s', peer.ip],
    ['PREROUTING', '-d', peer.ip],
    ['OUTPUT', '-d', peer.ip],
  ].map((rule) => ['-t', 'raw', ...rule, '-j', 'DROP']);
}

async function iptables(host: Host, action: '-I' | '-D', rules: string[][]): Promise<void> {
  for (const [table, name, chain, ...rest] of rules)
    await run('ip', ['netns', 'exec', host.netns, 'iptables', table!, name!, action, chain!, ...rest]);
}

/** An Erlang tuple of an IPv4 address: {10,213,10,1}. */
const ipTuple = (ip: string) => `{${ip.split('.').join(',')}}`;

export async function netcut(options: { outageSeconds: number }): Promise<Record<string, unknown>> {
  let hosts: TestHosts | undefined;
  const agents: Agent[] = [];
  let cut = false;
  try {
    hosts = await upHosts(SET);
    const { h1, h2 } = hosts;
    const daemons = [await startHostDaemon(h1), await startHostDaemon(h2)];
    const [a, b] = await Promise.all([h1.startNode({ cookie: COOKIE }), h2.startNode({ cookie: COOKIE })]);
    const across = new Agent(h2, h1);
    const local = new Agent(h1, h1);
    agents.push(across, local);
    const aPort = Number((await h1.docker(['port', a!.id, '12345/tcp'])).split('\n')[0]!.split(':').pop());
    const resolvesAcross = async () => (await across.ask({ op: 'lookup', name: a!.hostname })).port === aPort;
    if ((await timeUntil(resolvesAcross, 60_000)) === undefined) throw new Error(`${a!.node} never resolved`);
    const pingBefore = await ping(a!, b!);
    if (pingBefore !== 'pong')
      throw new Error(`${a!.node} cannot ping ${b!.node} before the cut: ${pingBefore}`);
    say(
      'netcut',
      `${a!.node} (host 1) and ${b!.node} (host 2) connected; cutting for ${options.outageSeconds} s`,
    );
    await local.load(new Map([[a!.hostname, aPort]]), 2);

    const loadAverageAtCut = await loadAverage();
    await iptables(h1, '-I', cutRules(h2));
    cut = true;
    const cutAt = performance.now();
    // On node A's side the connection is dropped now; B notices by its ticks later (or when A calls
    // again), as after any real cut: the reconnection below must go through a lookup.
    const disconnected = await h1.evalIn(
      a!,
      COOKIE,
      `io:format("~p", [rpc:call('${a!.node}', erlang, disconnect_node, ['${b!.node}'])])`,
    );
    const eidLookups: Record<string, unknown>[] = [];
    const stockLookups: { result: string; ms: number }[] = [];
    while (performance.now() - cutAt < options.outageSeconds * 1000 - 8_000) {
      const [eid, stock] = await Promise.all([
        across.ask({ op: 'lookup', name: a!.hostname, timeoutMs: LOOKUP_TIMEOUT_MS }),
        stockLookup(b!, a!, h1.ip),
      ]);
      eidLookups.push(eid);
      stockLookups.push(stock);
    }
    const remaining = options.outageSeconds * 1000 - (performance.now() - cutAt);
    if (remaining > 0) await new Promise((r) => setTimeout(r, remaining));
    const localDuringCut = await local.stats();
    const daemonsUp = daemons.every((d) => d.running());
    await iptables(h1, '-D', cutRules(h2));
    cut = false;
    const restored = performance.now();
    const cutMs = Math.round(restored - cutAt);

    const lookupBackMs = await timeUntil(resolvesAcross, RECOVERY_LIMIT_MS, 100, restored);
    const pong = await pingUntilPong(a!, b!);
    const pongAfterMs = pong.startsWith('{pong,') ? Math.round(performance.now() - restored) : undefined;
    const pongBack = await ping(b!, a!);

    // Each lookup across the cut gave up by its timeout (plus scheduling slack), none answered.
    const slack = LOOKUP_TIMEOUT_MS + 3_000;
    const eidFailedCleanly = eidLookups.every(
      (l) => l.failure !== undefined && Number(l.ms) >= LOOKUP_TIMEOUT_MS - 100 && Number(l.ms) < slack,
    );
    const stockFailedCleanly = stockLookups.every(
      (l) => l.result === 'noport' && l.ms >= LOOKUP_TIMEOUT_MS - 100 && l.ms < slack,
    );
    const summary = {
      ok:
        eidLookups.length > 0 &&
        eidFailedCleanly &&
        stockFailedCleanly &&
        daemonsUp &&
        Number(localDuringCut.failed) + Number(localDuringCut.wrong) === 0 &&
        Number(localDuringCut.answered) > 0 &&
        lookupBackMs !== undefined &&
        pongAfterMs !== undefined &&
        pongBack === 'pong' &&
        disconnected === 'true',
      nodes: { a: a!.node, b: b!.node },
      cutMs,
      lookupTimeoutMs: LOOKUP_TIMEOUT_MS,
      eidLookupsAcrossCut: eidLookups,
      stockLookupsAcrossCut: stockLookups,
      daemonOnHost1DuringCut: localDuringCut,
      daemonsRunning: daemonsUp,
      crossHostLookupBackAfterMs: lookupBackMs,
      pingPongAfterMs: pongAfterMs,
      disconnectedOnHost1: disconnected,
      pingUntilPong: pong,
      pingBackFromHost2: pongBack,
      loadAverage: loadAverageAtCut,
    };
    say('netcut', JSON.stringify(summary));
    return summary;
  } catch (err) {
    // Said now: a failure to take the hosts down below would hide it.
    say('netcut', `failed: ${(err as Error).stack ?? String(err)}`);
    throw err;
  } finally {
    if (cut && hosts !== undefined) await iptables(hosts.h1, '-D', cutRules(hosts.h2)).catch(() => undefined);
    for (const agent of agents) await agent.stop();
    await takeDown(hosts);
  }
}

/** `from`'s node pings `to`'s node (through a hidden helper in `from`'s container): pong, pang or an error. */
async function ping(from: NodeContainer, to: NodeContainer): Promise<string> {
  return from.host
    .evalIn(from, COOKIE, `io:format("~p", [rpc:call('${from.node}', net_adm, ping, ['${to.node}'])])`)
    .catch((err: Error) => `error: ${err.message.slice(0, 200)}`);
}

/**
 * `from`'s node pings `to`'s node every 100 ms until pong (bounded): `{pong,Attempts,Ms}` (Ms from
 * the first attempt), or the last answer. One helper node does all the attempts, so the time is not one node start per attempt.
 */
async function pingUntilPong(from: NodeContainer, to: NodeContainer): Promise<string> {
  const loop =
    `T0 = erlang:monotonic_time(millisecond), Deadline = T0 + ${RECOVERY_LIMIT_MS}, ` +
    `Ping = fun Loop(N) -> case rpc:call('${from.node}', net_adm, ping, ['${to.node}']) of ` +
    `pong -> {pong, N, erlang:monotonic_time(millisecond) - T0}; ` +
    `R -> case erlang:monotonic_time(millisecond) > Deadline of true -> {R, N}; false -> timer:sleep(100), Loop(N + 1) end ` +
    `end end, io:format("~p", [Ping(1)])`;
  return from.host
    .evalIn(from, COOKIE, loop, RECOVERY_LIMIT_MS + 60_000)
    .catch((err: Error) => `error: ${err.message.slice(0, 200)}`);
}

/** Stock `erl_epmd:port_please/3` from `from`'s container for `to`'s name at `ip`, with the timeout. */
async function stockLookup(
  from: NodeContainer,
  to: NodeContainer,
  ip: string,
): Promise<{ result: string; ms: number }> {
  const out = await from.host.evalIn(
    from,
    COOKIE,
    `T = erlang:monotonic_time(millisecond), R = erl_epmd:port_please("${to.hostname}", ${ipTuple(ip)}, ${LOOKUP_TIMEOUT_MS}), io:format("~p ~p", [R, erlang:monotonic_time(millisecond) - T])`,
  );
  const [result, ms] = out.trim().split(' ') as [string, string];
  return { result, ms: Number(ms) };
}
