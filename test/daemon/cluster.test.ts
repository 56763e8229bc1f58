/**
 * Stock Erlang nodes in containers on two real Docker hosts form one cluster through `eid daemon`.
 * The hosts are network namespaces with their own dockerd (test/harness); needs root.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evalOnHost,
  upHosts,
  type DaemonProcess,
  type Host,
  type NodeContainer,
  type TestHosts,
} from '../harness/hosts.ts';
import { waitFor } from '../support/processes.ts';

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

/** The hostnames (node names before the @) of the containers running on `host`. */
async function nodeHostnames(host: Host): Promise<string[]> {
  const ids = (await host.docker(['ps', '-q'])).split('\n');
  return (await host.docker(['inspect', '-f', '{{.Config.Hostname}}', ...ids])).split('\n');
}

/** Liveness bound for state that settles in the background (Docker events, a dockerd restart). */
const SETTLE_MS = 60_000;

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

/** `from` reaches `to`: pong, a message round trip and rpc:call all answer from `to`'s node. */
async function assertReaches(from: NodeContainer, to: NodeContainer): Promise<void> {
  assert.deepEqual(await reach(from, to), ['pong', `'${to.node}'`, `'${to.node}'`]);
}

test('1. containers on different hosts ping, message and rpc:call each other, both ways, each lookup through the other host daemon', async () => {
  const a = await hosts.h1.startNode({ cookie: COOKIE });
  const b = await hosts.h2.startNode({ cookie: COOKIE });

  const h2Hits = await metric(hosts.h2, 'eid_lookup_hits_total');
  await assertReaches(a, b);
  assert.ok((await metric(hosts.h2, 'eid_lookup_hits_total')) > h2Hits, 'host 2 daemon answered for b');
  assert.match(
    daemons.get(hosts.h2)!.log(),
    new RegExp(`container lookup component=eid name=${b.hostname} port=\\d+`),
  );

  const h1Hits = await metric(hosts.h1, 'eid_lookup_hits_total');
  await assertReaches(b, a);
  assert.ok((await metric(hosts.h1, 'eid_lookup_hits_total')) > h1Hits, 'host 1 daemon answered for a');
});

const SCENARIO = { timeout: 300_000 };

test(
  '2. two containers on the same host reach each other through the host address and published port',
  SCENARIO,
  async () => {
    const a = await hosts.h1.startNode({ cookie: COOKIE });
    const c = await hosts.h1.startNode({ cookie: COOKIE });
    await assertReaches(a, c);
    await assertReaches(c, a);
  },
);

test(
  '3a. a container recreated with a new published port is reachable again without touching the daemon',
  SCENARIO,
  async () => {
    const peer = await hosts.h1.startNode({ cookie: COOKIE });
    const first = await hosts.h2.startNode({
      cookie: COOKIE,
      name: 'moving',
      hostname: 'moving',
      hostPort: 40001,
    });
    await assertReaches(peer, first);
    await hosts.h2.docker(['rm', '-f', first.id]);
    const second = await hosts.h2.startNode({
      cookie: COOKIE,
      name: 'moving',
      hostname: 'moving',
      hostPort: 40002,
    });
    assert.equal(second.node, first.node);
    await assertReaches(peer, second);
    assert.match(daemons.get(hosts.h2)!.log(), /container lookup component=eid name=moving port=40002/);
  },
);

test('3b. a container restarted by Docker (new ephemeral port) is reachable again', SCENARIO, async () => {
  const peer = await hosts.h1.startNode({ cookie: COOKIE });
  const node = await hosts.h2.startNode({ cookie: COOKIE });
  await assertReaches(peer, node);
  await hosts.h2.docker(['restart', '-t', '1', node.id]);
  await hosts.h2.waitForNode(node);
  await assertReaches(peer, node);
});

test(
  '3c. a container created after the daemon started is reachable; a removed one fails fast with pang',
  SCENARIO,
  async () => {
    const syncedWith = /Docker catalog synced .*containers=(\d+)/.exec(daemons.get(hosts.h2)!.log());
    assert.ok(syncedWith !== null);
    const peer = await hosts.h1.startNode({ cookie: COOKIE });
    const late = await hosts.h2.startNode({ cookie: COOKIE });
    await assertReaches(peer, late);

    const known = await metric(hosts.h2, 'eid_catalog_containers');
    await hosts.h2.docker(['rm', '-f', late.id]);
    // `docker rm` returns before the daemon has read the event; the lookup below is meant to find
    // the container gone from the catalog, not to race the event stream.
    await waitFor(
      async () => (await metric(hosts.h2, 'eid_catalog_containers')) < known,
      'the daemon to drop the removed container',
      SETTLE_MS,
    );
    const misses = await metric(hosts.h2, 'eid_lookup_misses_total');
    const out = await peer.host.evalIn(
      peer,
      COOKIE,
      `rpc:call('${peer.node}', erlang, disconnect_node, ['${late.node}']), ${show(`rpc:call('${peer.node}', net_adm, ping, ['${late.node}'])`)}`,
    );
    assert.equal(out, 'pang');
    // Fails fast: the daemon answered "no such node" from its catalog, no connection attempt to a dead port.
    assert.ok((await metric(hosts.h2, 'eid_lookup_misses_total')) > misses);
    assert.match(
      daemons.get(hosts.h2)!.log(),
      new RegExp(`container lookup component=eid name=${late.hostname} port=null`),
    );
  },
);

test(
  '4. dockerd restarted under a running daemon: the catalog resyncs and lookups resume',
  SCENARIO,
  async () => {
    const peer = await hosts.h1.startNode({ cookie: COOKIE });
    const node = await hosts.h2.startNode({ cookie: COOKIE });
    await assertReaches(peer, node);
    const reconnects = await metric(hosts.h2, 'eid_docker_reconnects_total');

    await hosts.stopDocker(hosts.h2);
    try {
      await waitFor(
        async () => (await metric(hosts.h2, 'eid_docker_connected')) === 0,
        'daemon to see Docker gone',
        SETTLE_MS,
      );
      // While Docker is away the daemon answers from what it knew (the container lives on).
      await assertReaches(peer, node);
    } finally {
      await hosts.startDocker(hosts.h2);
    }
    await waitFor(
      async () => (await metric(hosts.h2, 'eid_docker_connected')) === 1,
      'catalog to resync',
      SETTLE_MS,
    );
    assert.ok((await metric(hosts.h2, 'eid_docker_reconnects_total')) > reconnects);
    assert.match(daemons.get(hosts.h2)!.log(), /Docker catalog synced[^\n]*\n(.|\n)*Docker catalog synced/);

    // Changes made after the resync are followed again.
    await hosts.h2.docker(['restart', '-t', '1', node.id]);
    await hosts.h2.waitForNode(node);
    await assertReaches(peer, node);
  },
);

test(
  '5. net_adm:names/1 lists the containers of the other host; net_adm:world/0 connects all nodes of both hosts',
  SCENARIO,
  async () => {
    const a = await hosts.h1.startNode({ cookie: COOKIE });
    const b = await hosts.h2.startNode({ cookie: COOKIE });
    const names = await hosts.h1.evalIn(
      a,
      COOKIE,
      `{ok, Names} = net_adm:names('${hosts.h2.ip}'), [io:format("~s~n", [N]) || {N, _} <- Names]`,
    );
    const listed = names.split('\n');
    assert.ok(listed.includes(b.hostname));
    for (const hostname of await nodeHostnames(hosts.h2)) {
      assert.ok(listed.includes(hostname), `${hostname} not in ${names}`);
    }

    await hosts.h1.docker([
      'exec',
      a.id,
      'sh',
      '-c',
      `printf "'${hosts.h1.ip}'.\\n'${hosts.h2.ip}'.\\n" > /root/.hosts.erlang`,
    ]);
    const world = await hosts.h1.evalIn(
      a,
      COOKIE,
      `rpc:call('${a.node}', net_adm, world, []), [io:format("~s~n", [N]) || N <- rpc:call('${a.node}', erlang, nodes, [])]`,
    );
    const connected = world.split('\n');
    for (const host of [hosts.h1, hosts.h2]) {
      for (const hostname of await nodeHostnames(host)) {
        const node = `${hostname}@${host.ip}`;
        if (node !== a.node) assert.ok(connected.includes(node), `${node} not connected: ${world}`);
      }
    }
  },
);

test('6. a node running directly on a host and container nodes reach each other', SCENARIO, async () => {
  const hostNode = `hostnode@${hosts.h1.ip}`;
  await hosts.h1.adopt(
    hosts.h1.spawn('erl', [
      '-noshell',
      '-start_epmd',
      'false',
      '-name',
      hostNode,
      '-setcookie',
      COOKIE,
      '-eval',
      'io:format("up~n")',
    ]),
    /^up$/m,
  );
  const local = await hosts.h1.startNode({ cookie: COOKIE });
  const remote = await hosts.h2.startNode({ cookie: COOKIE });
  const fromHost = await evalOnHost(
    hosts.h1,
    COOKIE,
    show(
      `rpc:call('${hostNode}', net_adm, ping, ['${local.node}'])`,
      `rpc:call('${hostNode}', net_adm, ping, ['${remote.node}'])`,
    ),
  );
  assert.deepEqual(fromHost.split('\n'), ['pong', 'pong']);
  const toHost = { ...local, node: hostNode };
  await assertReaches(remote, toHost);
  await assertReaches(local, toHost);
});

test('7. an Elixir node in a container joins the same cluster', SCENARIO, async () => {
  const erlang = await hosts.h1.startNode({ cookie: COOKIE });
  const elixir = await hosts.h2.startNode({ cookie: COOKIE, elixir: true });
  await assertReaches(erlang, elixir);
  const version = await hosts.h1.evalIn(
    erlang,
    COOKIE,
    show(`rpc:call('${elixir.node}', 'Elixir.System', version, [])`),
  );
  assert.match(version, /^<<"1\.\d+\.\d+">>$/);
});

test('8. 20 containers spread over both hosts form a full mesh', SCENARIO, async () => {
  const count = 20;
  const nodes: NodeContainer[] = [];
  // A few at a time: every start boots a BEAM, and the machine has two cores.
  for (let i = 0; i < count; i += 4) {
    nodes.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(4, count - i) }, (_, k) =>
          ((i + k) % 2 === 0 ? hosts.h1 : hosts.h2).startNode({
            cookie: COOKIE,
            labels: { 'eid.test': 'mesh' },
          }),
        ),
      )),
    );
  }
  const all = `[${nodes.map((n) => `'${n.node}'`).join(', ')}]`;
  const first = nodes[0]!;
  // Every node pings every other one itself, then reports whom it is connected to.
  const out = await first.host.evalIn(
    first,
    COOKIE,
    [
      `All = ${all}`,
      `[rpc:call(N, lists, foreach, [fun(M) -> net_adm:ping(M) end, All]) || N <- All]`,
      `[io:format("~s ~s~n", [N, lists:join(",", [atom_to_list(M) || M <- lists:sort(rpc:call(N, erlang, nodes, [])), lists:member(M, All)])]) || N <- All]`,
    ].join(', '),
    180_000,
  );
  const lines = out.split('\n');
  assert.equal(lines.length, count);
  for (const line of lines) {
    const [node, peers] = line.split(' ');
    const expected = nodes
      .map((n) => n.node)
      .filter((n) => n !== node)
      .sort();
    assert.deepEqual(peers?.split(',').sort(), expected, `${node} is not connected to every other node`);
  }
  await Promise.all(nodes.map((n) => n.host.docker(['rm', '-f', n.id])));
});
