/**
 * TLS distribution between stock nodes through `eid daemon` on two Docker hosts, set up exactly as
 * docs/tls.md says: its certificate commands (scripts/dist-certs.sh), its per-host install and its
 * ssl_dist_optfile are read from the document and run, with /etc/eid/tls standing for a temporary
 * directory per host. Pairs: OTP 25 and OTP 27 in containers on different hosts and on one host, an
 * Elixir node, and a node on a host itself; each pings, rpc's and sends a 4 MB binary both ways. A
 * relay inside one node's container, on the port the daemon hands out, records every byte for the
 * wire check. Needs root.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
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

const run = promisify(execFile);
const SET = 12;
const COOKIE = 'eidtlsstockcookie';
/** Where docs/tls.md installs a host's certificates and options file; mounted there in containers. */
const TLS_DIR = '/etc/eid/tls';
/** The node flags docs/tls.md gives (checked against the document below). */
const TLS_FLAGS = `-proto_dist inet_tls -ssl_dist_optfile ${TLS_DIR}/dist.conf`;
/** The relay's container port: the eid.port label makes it the one the daemon hands out. */
const RELAY_PORT = 12346;
/** 21 bytes x 200000: a 4.2 MB binary, fragmented by distribution (64 kB fragments) and by TLS. */
const MARKER = 'eid-tls-clear-marker:';
const BIG = `binary:copy(<<"${MARKER}">>, 200000)`;
const relay = fileURLToPath(new URL('./stock-relay.ts', import.meta.url));
const doc = await readFile(join(ROOT, 'docs/tls.md'), 'utf8');

let hosts: TestHosts;
let tmp: string;
/** Per host: the directory standing for its /etc/eid/tls. */
const tlsDirs = new Map<Host, string>();
const daemons = new Map<Host, DaemonProcess>();
let wire: string;
let otp25: NodeContainer; // host 1, behind the recording relay
let otp27: NodeContainer; // host 2
let otp25b: NodeContainer; // host 2, next to otp27
let elixir: NodeContainer; // host 1
let onHost: { node: string; host: Host }; // host 1's own network namespace, OTP 25

/** The first fenced block of `lang` after the line `heading` in docs/tls.md. */
function docBlock(heading: string, lang: string): string {
  const at = doc.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `docs/tls.md has no heading ${heading}`);
  const match = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(doc.slice(at));
  assert.ok(match, `docs/tls.md has no ${lang} block under ${heading}`);
  return match[1]!;
}

/** Runs a docs/tls.md shell block with bash in the repository, lines ending in `# yours` left out. */
async function runDocBlock(heading: string, env: Record<string, string>, tlsDir = TLS_DIR): Promise<void> {
  const script = docBlock(heading, 'sh')
    .split('\n')
    .filter((line) => !line.endsWith('# yours'))
    .join('\n')
    .replaceAll(TLS_DIR, tlsDir);
  await run('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, env: { ...process.env, ...env } });
}

/** The helper node's flags for a node on `host`: the same TLS setup as the node's. */
function tlsArgs(optfile: string): string[] {
  return ['-proto_dist', 'inet_tls', '-ssl_dist_optfile', optfile];
}

before(
  async () => {
    assert.ok(doc.includes(TLS_FLAGS), `docs/tls.md gives the node flags ${TLS_FLAGS}`);
    tmp = await mkdtemp(join(tmpdir(), 'eid-tls-stock-'));
    hosts = await upHosts(SET);
    const { h1, h2 } = hosts;
    const imports = Promise.all([h2.image('otp27'), h1.image('otp27'), h1.image('otp29')]);
    const certs = join(tmp, 'ca');
    await runDocBlock('### 1. Certificates', { CERTS: certs, HOST1_IP: h1.ip, HOST2_IP: h2.ip });
    for (const host of [h1, h2]) {
      const dir = join(tmp, `host${host.index}`);
      tlsDirs.set(host, dir);
      await runDocBlock('### 2. On each host', { CERTS: certs, HOST_IP: host.ip }, dir);
      await writeFile(join(dir, 'dist.conf'), docBlock('### 3. The options file', 'erlang'));
    }
    wire = join(tmp, 'wire');
    await mkdir(wire);
    daemons.set(h1, await h1.startDaemon());
    daemons.set(h2, await h2.startDaemon());
    await imports;
    const tls = (host: Host) => ({
      cookie: COOKIE,
      erlArgs: TLS_FLAGS,
      volumes: [`${tlsDirs.get(host)!}:${TLS_DIR}:ro`],
    });
    [otp25, otp27, otp25b, elixir] = await Promise.all([
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
    ]);
    // A node on host 1 itself: it registers with the daemon, which is host 1's EPMD.
    const port = await portAllocator(PortSlices.tls.stock)();
    const name = `onhost@${h1.ip}`;
    const optfile = join(tlsDirs.get(h1)!, 'host-dist.conf');
    await writeFile(
      optfile,
      docBlock('### 3. The options file', 'erlang').replaceAll(TLS_DIR, tlsDirs.get(h1)!),
    );
    const child = h1.spawn('erl', [
      '-noshell',
      '-start_epmd',
      'false',
      '-name',
      name,
      '-setcookie',
      COOKIE,
      ...tlsArgs(optfile),
      '-kernel',
      'inet_dist_listen_min',
      String(port),
      'inet_dist_listen_max',
      String(port),
      '-eval',
      'io:format("node up~n")',
    ]);
    await h1.adopt(child, /node up/);
    onHost = { node: name, host: h1 };
  },
  { timeout: 1_800_000 },
);

after(async () => {
  await hosts?.down();
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
});

type Peer = NodeContainer | typeof onHost;

/**
 * Evaluates `expressions` with a hidden TLS helper node next to `from` (in its container, or in its
 * host's namespace), which reaches `from` through the daemon like any other node.
 */
function evalNear(from: Peer, expressions: string): Promise<string> {
  if ('id' in from)
    return from.host.evalIn(from, COOKIE, expressions, 120_000, tlsArgs(`${TLS_DIR}/dist.conf`));
  const optfile = join(tlsDirs.get(from.host)!, 'host-dist.conf');
  return evalOnHost(from.host, COOKIE, expressions, 120_000, tlsArgs(optfile));
}

/**
 * From `from`'s node: a fresh connection to `to` (ping), rpc:call, the connection's protocol, and a
 * 4.2 MB binary sent to `to` (an rpc argument) and back (its result), compared byte for byte.
 */
async function reach(from: Peer, to: Peer): Promise<string[]> {
  const remote = (fun: string) => `rpc:call(From, erlang, apply, [fun() -> ${fun} end, []], 60000)`;
  const out = await evalNear(
    from,
    [
      `From = '${from.node}', To = '${to.node}'`,
      // Drop a connection an earlier test made, so this direction looks `to` up itself.
      `rpc:call(From, erlang, disconnect_node, [To])`,
      `Ping = rpc:call(From, net_adm, ping, [To])`,
      `Rpc = rpc:call(From, rpc, call, [To, erlang, node, []])`,
      // #net_address{} is {net_address, Address, Host, Protocol, Family}.
      `Proto = ${remote('{ok, I} = net_kernel:node_info(To), element(4, proplists:get_value(address, I))')}`,
      // Funs do not cross OTP releases (badfun), so the binary goes as an rpc argument and comes back as its result.
      `Echo = ${remote(`Big = ${BIG}, Back = rpc:call(To, erlang, iolist_to_binary, [Big], 60000), {byte_size(Back), Back =:= Big}`)}`,
      `io:format("~p~n~p~n~p~n~p~n", [Ping, Rpc, Proto, Echo])`,
    ].join(', '),
  );
  return out.split('\n');
}

async function assertPair(a: Peer, b: Peer): Promise<void> {
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    assert.deepEqual(
      await reach(from, to),
      ['pong', `'${to.node}'`, 'tls', '{4200000,true}'],
      `${from.node} -> ${to.node}`,
    );
    // The daemon of `to`'s host answered for the container (a node on a host registers with it instead).
    if ('id' in to) {
      assert.match(
        daemons.get(to.host)!.log(),
        new RegExp(`container lookup component=eid name=${to.hostname} port=\\d+`),
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
    for (const id of ids) {
      const fromPeer = await readFile(join(wire, `${id}.in`));
      const fromNode = await readFile(join(wire, `${id}.out`));
      for (const [bytes, what] of [
        [fromPeer, `connection ${id}, dialler to node`],
        [fromNode, `connection ${id}, node to dialler`],
      ] as const) {
        tlsRecords(bytes, what);
        for (const secret of [COOKIE, MARKER, otp25.hostname]) {
          assert.equal(bytes.includes(secret), false, `${what}: "${secret}" in clear`);
        }
      }
      assert.equal(tlsRecords(fromPeer, id).first[0], 1, 'the dialler opens with a ClientHello');
      versions.add(serverHelloVersion(tlsRecords(fromNode, id).first));
      largest = Math.max(
        largest,
        Math.min(tlsRecords(fromPeer, id).applicationBytes, tlsRecords(fromNode, id).applicationBytes),
      );
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
  'verification is real: a foreign CA, an expired or missing certificate, or plain TCP gets pang',
  T,
  async () => {
    const { h1 } = hosts;
    const own = tlsDirs.get(h1)!;
    const certs = join(tmp, 'ca');
    const foreign = join(tmp, 'foreign');
    await run('bash', [join(ROOT, 'scripts/dist-certs.sh'), '--dir', foreign, h1.ip]);
    await run('bash', [join(ROOT, 'scripts/dist-certs.sh'), '--dir', certs, '--expired', h1.ip]);
    const host = join(own, 'host-dist.conf');
    const base = await readFile(host, 'utf8');
    /** An options file like host 1's, with `swap` applied to every path in it. */
    const variant = async (name: string, swap: (text: string) => string) => {
      const file = join(tmp, `${name}.conf`);
      await writeFile(file, swap(base));
      return tlsArgs(file);
    };
    const cases: [string, string[], string][] = [
      ['the recipe (control)', tlsArgs(host), 'pong'],
      [
        'a certificate from a foreign CA',
        await variant('foreign-cert', (t) =>
          t
            .replaceAll(`${own}/cert.pem`, `${foreign}/${h1.ip}/cert.pem`)
            .replaceAll(`${own}/key.pem`, `${foreign}/${h1.ip}/key.pem`),
        ),
        'pang',
      ],
      [
        'trusting only a foreign CA',
        await variant('foreign-ca', (t) => t.replaceAll(`${own}/ca.pem`, `${foreign}/ca.pem`)),
        'pang',
      ],
      [
        'an expired certificate from the right CA',
        await variant('expired', (t) =>
          t
            .replaceAll(`${own}/cert.pem`, `${certs}/expired/${h1.ip}/cert.pem`)
            .replaceAll(`${own}/key.pem`, `${certs}/expired/${h1.ip}/key.pem`),
        ),
        'pang',
      ],
      [
        'no client certificate',
        await variant('no-cert', (t) =>
          t.replace(
            /\{client, \[[^\]]*\]\}/,
            `{client, [{cacertfile, "${own}/ca.pem"}, {verify, verify_peer}]}`,
          ),
        ),
        'pang',
      ],
      ['plain TCP distribution', [], 'pang'],
    ];
    const outcomes = await Promise.all(
      cases.map(([, args]) =>
        evalOnHost(h1, COOKIE, `io:format("~p~n", [net_adm:ping('${otp27.node}')])`, 120_000, args),
      ),
    );
    assert.deepEqual(
      cases.map(([what], i) => `${what}: ${outcomes[i]}`),
      cases.map(([what, , want]) => `${what}: ${want}`),
    );
  },
);

test(
  'every test image carries ssl, public_key, crypto and asn1 (OTP 25 from the host, 27, 29)',
  T,
  async () => {
    const { h1 } = hosts;
    const check =
      '[io:format("~s ~p ~s~n", [A, application:load(A), filename:basename(code:lib_dir(A))]) || A <- [ssl, public_key, crypto, asn1]], halt().';
    for (const [image, mounts] of [
      ['eid-otp25', HOST_MOUNTS],
      ['eid-otp27', []],
      ['eid-otp29', []],
    ] as const) {
      const out = await h1.docker(['run', '--rm', ...mounts, image, 'erl', '-noshell', '-eval', check]);
      const lines = out.split('\n');
      assert.equal(lines.length, 4, out);
      for (const [i, app] of ['ssl', 'public_key', 'crypto', 'asn1'].entries()) {
        assert.match(lines[i]!, new RegExp(`^${app} ok ${app}-[0-9.]+$`), `${image}: ${out}`);
      }
    }
  },
);
