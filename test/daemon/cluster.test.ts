/**
 * Stock Erlang nodes in containers on two real Docker hosts form one cluster through `eid daemon`.
 * The hosts are network namespaces with their own dockerd (test/harness); needs root.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  upHosts,
  type DaemonProcess,
  type Host,
  type NodeContainer,
  type TestHosts,
} from '../harness/hosts.ts';

const COOKIE = 'eidclustertest';
const METRICS = '127.0.0.1:9100';

let hosts: TestHosts;
let daemons: Map<Host, DaemonProcess>;

before(async () => {
  hosts = await upHosts(1);
  daemons = new Map([
    [hosts.h1, await hosts.h1.startDaemon(['--metrics', METRICS])],
    [hosts.h2, await hosts.h2.startDaemon(['--metrics', METRICS])],
  ]);
});

after(async () => {
  await hosts?.down();
});

/** Lines printed by `io:format("~p~n", [Term])` for each term, as Erlang text. */
const show = (...terms: string[]) =>
  `io:format("${terms.map(() => '~p~n').join('')}", [${terms.join(', ')}])`;

async function metric(host: Host, name: string): Promise<number> {
  const text = await host.exec('curl', ['-sf', `http://${METRICS}/metrics`]);
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line !== undefined, `no ${name} in\n${text}`);
  return Number(line.split(' ')[1]);
}

/** From `from`'s node: ping `to`, a message round trip through a process spawned on `to`, and rpc:call. */
async function reach(from: NodeContainer, to: NodeContainer): Promise<string[]> {
  const out = await from.host.evalIn(
    from,
    COOKIE,
    [
      `From = '${from.node}', To = '${to.node}'`,
      // Drop a connection an earlier test made, so this direction looks `to` up itself.
      `rpc:call(From, erlang, disconnect_node, [To])`,
      `Ping = rpc:call(From, net_adm, ping, [To])`,
      // A process on From spawns one on To, which messages back its node name.
      `Echo = rpc:call(From, erlang, apply, [fun() -> Self = self(), spawn(To, fun() -> Self ! {hello, node()} end), receive {hello, N} -> N after 10000 -> timeout end end, []])`,
      `Rpc = rpc:call(From, rpc, call, [To, erlang, node, []])`,
      show('Ping', 'Echo', 'Rpc'),
    ].join(', '),
  );
  return out.split('\n');
}

test('1. containers on different hosts ping, message and rpc:call each other, both ways, each lookup through the other host daemon', async () => {
  const a = await hosts.h1.startNode({ cookie: COOKIE });
  const b = await hosts.h2.startNode({ cookie: COOKIE });

  const h2Hits = await metric(hosts.h2, 'eid_lookup_hits_total');
  assert.deepEqual(await reach(a, b), ['pong', `'${b.node}'`, `'${b.node}'`]);
  assert.ok((await metric(hosts.h2, 'eid_lookup_hits_total')) > h2Hits, 'host 2 daemon answered for b');
  assert.match(
    daemons.get(hosts.h2)!.log(),
    new RegExp(`container lookup component=eid name=${b.hostname} port=\\d+`),
  );

  const h1Hits = await metric(hosts.h1, 'eid_lookup_hits_total');
  assert.deepEqual(await reach(b, a), ['pong', `'${a.node}'`, `'${a.node}'`]);
  assert.ok((await metric(hosts.h1, 'eid_lookup_hits_total')) > h1Hits, 'host 1 daemon answered for a');
});
