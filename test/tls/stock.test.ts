/**
 * TLS distribution between stock nodes through `eid daemon` on two Docker hosts, set up exactly as
 * docs/tls.md says (test/tls/stock-recipe.ts runs its commands and options file). Pairs: OTP 25
 * and OTP 27 in containers on different hosts and on one host, an Elixir node, and a node on a host
 * itself; each pings, rpc's and sends a 4 MB binary both ways. A
 * relay inside one node's container, on the port the daemon hands out, records every byte for the
 * wire check; then a host certificate is rotated, and the test images are checked for OTP's ssl
 * applications. Refusals: test/tls/stock-refusals.test.ts. Needs root.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PortSlices, portAllocator } from '../support/ports.ts';
import {
  HOST_MOUNTS,
  NODE_PORT,
  ROOT,
  evalOnHost,
  upHosts,
  type DaemonProcess,
  type Host,
  type NodeContainer,
  type TestHosts,
} from '../harness/hosts.ts';
import { serverHelloVersion, tlsRecords } from './stock-wire.ts';
import { COOKIE, TLS_DIR, installRecipe, run, runDocBlock, tlsArgs, type Recipe } from './stock-recipe.ts';

const SET = 12;
/** The relay's container port: the eid.port label makes it the one the daemon hands out. */
const RELAY_PORT = 12346;
/** 21 bytes x 200000: a 4.2 MB binary, fragmented by distribution (64 kB fragments) and by TLS. */
const MARKER = 'eid-tls-clear-marker:';
const BIG = `binary:copy(<<"${MARKER}">>, 200000)`;
const relay = fileURLToPath(new URL('./stock-relay.ts', import.meta.url));

/** The test images, and the OTP applications TLS distribution needs in each. */
const IMAGES = ['eid-otp25', 'eid-otp27', 'eid-otp29'] as const;
const APPS = ['ssl', 'public_key', 'crypto', 'asn1'];
let appsInImages: Promise<PromiseSettledResult<string>[]>;

let hosts: TestHosts;
let tmp: string;
let recipe: Recipe;
const daemons = new Map<Host, DaemonProcess>();
let wire: string;
let otp25: NodeContainer; // host 1, behind the recording relay
let otp27: NodeContainer; // host 2
let otp25b: NodeContainer; // host 2, next to otp27
let elixir: NodeContainer; // host 1
let onHost: { node: string; host: Host }; // host 1's own network namespace, OTP 25

before(
  async () => {
    tmp = await mkdtemp(join(tmpdir(), 'eid-tls-stock-'));
    hosts = await upHosts(SET);
    const { h1, h2 } = hosts;
    const imports = Promise.all([h2.image('otp27'), h1.image('otp29')]);
    recipe = await installRecipe(tmp, h1, h2);
    wire = join(tmp, 'wire');
    await mkdir(wire);
    const [d1, d2] = await Promise.all([h1.startDaemon(), h2.startDaemon()]);
    daemons.set(h1, d1).set(h2, d2);
    await imports;
    // Run while the nodes start; the last test reads the outcome.
    appsInImages = Promise.allSettled(
      IMAGES.map((image) =>
        // --pull never: the test images are imported, never fetched.
        (image === 'eid-otp27' ? h2 : h1).docker([
          'run',
          '--rm',
          '--pull',
          'never',
          ...(image === 'eid-otp25' ? HOST_MOUNTS : []),
          image,
          'erl',
          '-noshell',
          '-eval',
          `[io:format("~s ~p ~s~n", [A, application:load(A), filename:basename(code:lib_dir(A))]) || A <- [${APPS.join(', ')}]], halt().`,
        ]),
      ),
    );
    const tls = recipe.node;
    [otp25, otp27, otp25b, elixir, onHost] = await Promise.all([
      h1.startNode({
        ...tls(h1),
        volumes: [...tls(h1).volumes, `${ROOT}:${ROOT}:ro`, `${wire}:/wire`],
        labels: { 'eid.port': String(RELAY_PORT) },
        publish: [RELAY_PORT],
        sidecar: `cd ${ROOT} && ${process.execPath} --import tsx ${relay} ${RELAY_PORT} ${NODE_PORT} /wire`,
      }),
      h2.startNode({ ...tls(h2), image: 'eid-otp27' }),
      h2.startNode(tls(h2)),
      h1.startNode({ ...tls(h1), elixir: true }),
      startOnHost(h1),
    ]);
  },
  { timeout: 1_800_000 },
);

/** A node in `host`'s own network namespace: it registers with the daemon, the host's EPMD. */
async function startOnHost(host: Host): Promise<{ node: string; host: Host }> {
  const port = await portAllocator(PortSlices.tls.stock)();
  const node = `onhost@${host.ip}`;
  const child = host.spawn('erl', [
    '-noshell',
    '-start_epmd',
    'false',
    '-name',
    node,
    '-setcookie',
    COOKIE,
    ...tlsArgs(recipe.hostOptfile(host)),
    '-kernel',
    'inet_dist_listen_min',
    String(port),
    'inet_dist_listen_max',
    String(port),
    '-eval',
    'io:format("node up~n")',
  ]);
  await host.adopt(child, /node up/);
  return { node, host };
}

after(async () => {
  await hosts?.down();
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
});

type Peer = NodeContainer | typeof onHost;

/**
 * Erlang expressions that make `from`'s node reach `to`'s, with only MFA calls (an erl_eval fun
 * made on one OTP release is a badfun on another): a fresh connection (ping), rpc:call, the
 * connection's protocol, and a 4.2 MB binary sent to `to` (an rpc argument) and back (its result).
 * `n` keeps the variables of several directions apart; `Big` is bound once by the caller.
 */
function direction(from: Peer, to: Peer, n: number): string[] {
  const [f, t] = [`'${from.node}'`, `'${to.node}'`];
  return [
    // Both sides drop a connection an earlier step made before this direction looks `to` up itself:
    // `to` first (its rpc then fails with nodedown, so `from` saw the close too), so that `to` does
    // not take the new connection for a second one while it still holds the old.
    `rpc:call(${f}, rpc, call, [${t}, erlang, disconnect_node, [${f}]])`,
    `rpc:call(${f}, erlang, disconnect_node, [${t}])`,
    `Ping${n} = rpc:call(${f}, net_adm, ping, [${t}])`,
    `Rpc${n} = rpc:call(${f}, rpc, call, [${t}, erlang, node, []])`,
    // #net_address{} is {net_address, Address, Host, Protocol, Family}.
    `{ok, Info${n}} = rpc:call(${f}, net_kernel, node_info, [${t}])`,
    `Proto${n} = element(4, proplists:get_value(address, Info${n}))`,
    `Back${n} = rpc:call(${f}, rpc, call, [${t}, erlang, iolist_to_binary, [Big], 60000], 90000)`,
    `Echo${n} = is_binary(Back${n}) andalso {byte_size(Back${n}), Back${n} =:= Big}`,
    `io:format("~p~n~p~n~p~n~p~n", [Ping${n}, Rpc${n}, Proto${n}, Echo${n}])`,
  ];
}

/**
 * `a` reaches `b` and `b` reaches `a` over TLS (see `direction`), driven by one hidden TLS helper
 * node next to `a` (in its container, or in its host's namespace) that reaches both through the
 * daemons like any other node.
 */
async function assertPair(a: Peer, b: Peer): Promise<void> {
  const expressions = [`Big = ${BIG}`, ...direction(a, b, 1), ...direction(b, a, 2)].join(', ');
  const out =
    'id' in a
      ? await a.host.evalIn(a, COOKIE, expressions, 180_000, tlsArgs(`${TLS_DIR}/dist.conf`))
      : await evalOnHost(a.host, COOKIE, expressions, 180_000, tlsArgs(recipe.hostOptfile(a.host)));
  const reached = (to: Peer) => ['pong', `'${to.node}'`, 'tls', '{4200000,true}'];
  assert.deepEqual(out.split('\n'), [...reached(b), ...reached(a)], `${a.node} <-> ${b.node}`);
  // The daemon of a container's host answered for it (a node on a host registers with it instead).
  for (const peer of [a, b]) {
    if ('id' in peer) {
      assert.match(
        daemons.get(peer.host)!.log(),
        new RegExp(`container lookup component=eid name=${peer.hostname} port=\\d+`),
      );
    }
  }
}

const T = { timeout: 300_000 };

test(
  'OTP 25 and OTP 27 in containers on different hosts: ping, rpc and 4 MB both ways over TLS',
  T,
  async () => {
    await assertPair(otp25, otp27);
  },
);

test('OTP 25 and OTP 27 in containers on one host, through its daemon and published ports', T, async () => {
  await assertPair(otp25b, otp27);
});

test('an Elixir node (elixir --erl "-proto_dist inet_tls ...") and OTP 27 on the other host', T, async () => {
  await assertPair(elixir, otp27);
});

test(
  'a node in a host network namespace (registered with eid daemon) and OTP 27 in a container',
  T,
  async () => {
    await assertPair(onHost, otp27);
  },
);

test(
  'on the port eid daemon hands out, only TLS records travel: no cookie, no payload in clear',
  T,
  async () => {
    // After the pairs above: otp27 and the helper nodes dialled otp25 through the relay.
    const files = (await readdir(wire)).sort();
    const ids = [...new Set(files.map((f) => f.split('.')[0]!))];
    assert.ok(ids.length >= 2, `connections recorded: ${files.join(' ')}`);
    let largest = 0;
    const versions = new Set<string>();
    // A side that sent nothing has no file (a dialler that gave up before the node answered).
    const recorded = (file: string) => readFile(join(wire, file)).catch(() => Buffer.alloc(0));
    for (const id of ids) {
      const fromPeer = tlsRecords(await recorded(`${id}.in`), `connection ${id}, dialler to node`);
      const fromNode = tlsRecords(await recorded(`${id}.out`), `connection ${id}, node to dialler`);
      for (const file of [`${id}.in`, `${id}.out`]) {
        const bytes = await recorded(file);
        for (const secret of [COOKIE, MARKER, otp25.hostname]) {
          assert.equal(bytes.includes(secret), false, `${file}: "${secret}" in clear`);
        }
      }
      assert.equal(fromPeer.first?.[0], 1, `connection ${id}: the dialler opens with a ClientHello`);
      if (fromNode.first !== undefined) versions.add(serverHelloVersion(fromNode.first));
      largest = Math.max(largest, Math.min(fromPeer.applicationBytes, fromNode.applicationBytes));
    }
    // The 4.2 MB binary went both ways on one of them, as encrypted application data.
    assert.ok(largest > 4_200_000, `largest two-way application data: ${largest} bytes`);
    assert.deepEqual(
      [...versions],
      ['1.2'],
      'OTP distribution negotiates TLS 1.2 unless the options file sets versions',
    );
  },
);

test(
  'rotation: a replaced host certificate is what new connections get once the distribution PEM cache is cleared',
  T,
  async () => {
    const { h1 } = hosts;
    const certs = recipe.certs;
    const installed = join(recipe.dirs.get(h1)!, 'cert.pem');
    const old = new X509Certificate(await readFile(installed));
    // docs/tls.md's rotation: a new certificate for the host, installed as in step 2.
    await run('bash', [join(ROOT, 'scripts/dist-certs.sh'), '--dir', certs, h1.ip]);
    await runDocBlock('### 2. On each host', { CERTS: certs, HOST_IP: h1.ip }, recipe.dirs.get(h1)!);
    const rotated = new X509Certificate(await readFile(installed));
    assert.notEqual(rotated.serialNumber, old.serialNumber);
    // ssl:clear_pem_cache/0 clears the ssl application's cache, not the one distribution runs
    // (ssl_pem_cache_dist); this is the call it makes, sent to the distribution's instance.
    const cleared = await h1.evalIn(
      otp25,
      COOKIE,
      `io:format("~p~n", [rpc:call('${otp25.node}', gen_server, call, [ssl_pem_cache_dist, {unconditionally_clear_pem_cache, self()}, infinity])])`,
      120_000,
      tlsArgs(`${TLS_DIR}/dist.conf`),
    );
    assert.equal(cleared, 'ok');
    const before = new Set(await readdir(wire));
    // otp27 dials otp25 again (through the relay): a new connection, after the rotation.
    const [f, t] = [`'${otp27.node}'`, `'${otp25.node}'`];
    const out = await otp27.host.evalIn(
      otp27,
      COOKIE,
      [
        `rpc:call(${f}, rpc, call, [${t}, erlang, disconnect_node, [${f}]])`,
        `rpc:call(${f}, erlang, disconnect_node, [${t}])`,
        `io:format("~p~n", [rpc:call(${f}, net_adm, ping, [${t}])])`,
      ].join(', '),
      120_000,
      tlsArgs(`${TLS_DIR}/dist.conf`),
    );
    assert.equal(out, 'pong');
    const added = (await readdir(wire)).filter((f) => f.endsWith('.out') && !before.has(f));
    assert.ok(added.length >= 1, 'a new connection through the relay');
    // TLS 1.2 sends the Certificate message in clear: the node presented the new one.
    for (const file of added) {
      const bytes = await readFile(join(wire, file));
      assert.ok(bytes.includes(rotated.raw), `${file} carries the new certificate`);
      assert.equal(bytes.includes(old.raw), false, `${file} does not carry the old one`);
    }
  },
);

test(
  'every test image carries ssl, public_key, crypto and asn1 (OTP 25 from the host, 27, 29)',
  T,
  async () => {
    const outputs = await Promise.all(
      (await appsInImages).map((r) => (r.status === 'fulfilled' ? r.value : Promise.reject(r.reason))),
    );
    for (const [i, out] of outputs.entries()) {
      const lines = out.split('\n');
      assert.equal(lines.length, 4, out);
      for (const [j, app] of APPS.entries()) {
        assert.match(lines[j]!, new RegExp(`^${app} ok ${app}-[0-9.]+$`), `${IMAGES[i]!}: ${out}`);
      }
    }
  },
);
