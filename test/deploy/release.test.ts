/**
 * docs/tls.md's Elixir release files, as written: a new Mix project (no dependencies) gets the
 * documented rel/vm.args.eex, rel/remote.vm.args.eex and rel/env.sh.eex lines on top of what
 * `mix release.init` made, and the documented extra_applications; `mix release` builds it with the
 * machine's Elixir, and it runs on the machine with the recipe's certificates (steps 1 to 3,
 * /etc/eid/tls standing for a temporary directory) against a stock epmd. A stock `erl` node with
 * the same options file reaches it over TLS, `bin/tlsapp rpc` does too, and nodes without a
 * certificate or without TLS get pang.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { epmdNames } from '../../src/index.ts';
import { Doc } from '../support/doc-blocks.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';
import { Processes, startStockEpmd, waitFor, type Spawned } from '../support/processes.ts';
import { TLS_DIR, installHost, runDocBlock, tlsArgs } from '../tls/stock-recipe.ts';

const run = promisify(execFile);
const tls = new Doc('docs/tls.md');
const deploying = new Doc('docs/deploying.md');
const COOKIE = 'eid_release_tls';
const HOST_IP = '127.0.0.1';
/** The node port the documents pin, which this file replaces with one of its own slice. */
const DOC_NODE_PORT = '12345';
const nextPort = portAllocator(PortSlices.deploy.release);
const processes = new Processes();
const T = { timeout: 180_000 };

let work: string;
let epmdPort: number;
let optfile: string;
let release: Spawned;
/** Runs the release's bin/tlsapp with `args`, as the release's user would on this host. */
let releaseBin: (args: string[], env?: Record<string, string>) => Spawned;
/** The release's node name, as rel/env.sh.eex makes it. */
const releaseNode = `${hostname()}@${HOST_IP}`;

/**
 * The block after `marker` in docs/tls.md's Elixir section, for this machine: the options file is
 * the one naming the directory that stands for /etc/eid/tls, the node port one of this file's.
 */
function releaseFile(marker: string, nodePort: number): string {
  return tls
    .blockAfter(marker, '')
    .replaceAll(`${TLS_DIR}/dist.conf`, optfile)
    .replaceAll(DOC_NODE_PORT, String(nodePort));
}

/** Environment of every node here: this file's epmd, never a stock epmd of the node's own. */
const nodeEnv = () => ({ ERL_EPMD_PORT: String(epmdPort), ERL_AFLAGS: '-start_epmd false' });

before(
  async () => {
    work = await mkdtemp(join(tmpdir(), 'eid-release-'));
    const certs = join(work, 'ca');
    await runDocBlock('### 1. Certificates', { CERTS: certs, HOST1_IP: HOST_IP, HOST2_IP: '127.0.0.2' });
    const tlsDir = join(work, 'tls');
    optfile = await installHost(certs, HOST_IP, tlsDir);
    epmdPort = await nextPort();
    await startStockEpmd(processes, epmdPort);

    const project = join(work, 'tlsapp');
    await run('mix', ['new', 'tlsapp'], { cwd: work });
    await run('mix', ['release.init'], { cwd: project });
    const nodePort = await nextPort();
    const vmArgs = releaseFile('put the flags in `rel/vm.args.eex`', nodePort);
    await appendFile(join(project, 'rel/vm.args.eex'), vmArgs);
    const remote = releaseFile('in `rel/remote.vm.args.eex` too', nodePort);
    await appendFile(join(project, 'rel/remote.vm.args.eex'), remote);
    const envSh = releaseFile('the node name in `rel/env.sh.eex`', nodePort);
    await appendFile(join(project, 'rel/env.sh.eex'), envSh);
    const extra = 'extra_applications: [:logger, :ssl]';
    assert.ok(tls.text.includes(extra), `docs/tls.md says ${extra}`);
    const mixExs = await readFile(join(project, 'mix.exs'), 'utf8');
    assert.ok(mixExs.includes('extra_applications: [:logger]'), mixExs);
    await writeFile(join(project, 'mix.exs'), mixExs.replace('extra_applications: [:logger]', extra));
    await run('mix', ['release'], {
      cwd: project,
      env: { ...process.env, MIX_ENV: 'prod' },
      timeout: 120_000,
    });

    const bin = join(project, '_build/prod/rel/tlsapp/bin/tlsapp');
    releaseBin = (args, env = {}) =>
      processes.spawn(bin, args, { ...nodeEnv(), HOST_IP, RELEASE_COOKIE: COOKIE, ...env }, work);
    release = releaseBin(['start']);
    await waitFor(
      async () => {
        if (!release.running) throw new Error(`the release exited:\n${release.stdout}${release.stderr}`);
        const names = await epmdNames('127.0.0.1', { epmdPort, timeoutMs: 1000 }).catch(() => undefined);
        return names?.nodes.some((n) => n.name === hostname()) ?? false;
      },
      'the release to register with epmd',
      60_000,
    );
  },
  { timeout: 300_000 },
);

after(async () => {
  await processes.stopAll();
  await rm(work, { recursive: true, force: true });
});

/** A stock `erl` node (hidden, its own name) started with `args` that prints what `expression` is. */
async function erlEval(args: string[], expression: string): Promise<string> {
  const name = `probe${randomBytes(4).toString('hex')}@${HOST_IP}`;
  const erl = processes.spawn(
    'erl',
    [
      '-noshell',
      '-hidden',
      '-name',
      name,
      '-setcookie',
      COOKIE,
      ...args,
      '-eval',
      `io:format("result: ~p~n", [${expression}]), halt().`,
    ],
    nodeEnv(),
  );
  const { code, stdout, stderr } = await erl.outcome();
  assert.equal(code, 0, `${stdout}${stderr}\nthe release's output:\n${release.stdout}${release.stderr}`);
  // ssl's notices (a refused handshake) come on lines of their own.
  const result = /^result: (.*)$/m.exec(stdout);
  assert.ok(result, stdout);
  return result[1]!;
}

test('the env.sh.eex and port pin of deploying.md section 5 are the lines docs/tls.md gives', () => {
  const tlsEnv = tls.blockAfter('the node name in `rel/env.sh.eex`', '');
  assert.equal(deploying.blockAfter('## 5. Elixir releases', 'sh'), tlsEnv);
  const pin = deploying.blockAfter('and the port pin in `rel/vm.args.eex` only', '');
  assert.ok(tls.blockAfter('put the flags in `rel/vm.args.eex`', '').endsWith(pin), pin);
});

test(
  'a stock erl node with the same options file pings the release and rpc calls into it over TLS',
  T,
  async () => {
    const out = await erlEval(
      tlsArgs(optfile),
      `begin pong = net_adm:ping('${releaseNode}'), ` +
        `{ok, Info} = net_kernel:node_info('${releaseNode}'), ` +
        `{net_address, _, _, Protocol, _} = proplists:get_value(address, Info), ` +
        `Apps = [A || {A, _, _} <- rpc:call('${releaseNode}', application, which_applications, [])], ` +
        `{rpc:call('${releaseNode}', erlang, node, []), Protocol, lists:member(tlsapp, Apps), lists:member(ssl, Apps)} end`,
    );
    assert.equal(out, `{'${releaseNode}',tls,true,true}`);
  },
);

test("the release's own bin/tlsapp rpc reaches it (rel/remote.vm.args.eex)", T, async () => {
  const rpc = releaseBin(['rpc', 'IO.puts(Node.self())']);
  const { code, stdout, stderr } = await rpc.outcome();
  assert.equal(code, 0, stderr);
  assert.equal(stdout.trim(), releaseNode);
});

test('a node without a certificate, and a node without TLS, get pang', T, async () => {
  const noCert = join(work, 'no-cert.conf');
  const ca = join(work, 'tls/ca.pem');
  await writeFile(
    noCert,
    `[{server, [{cacertfile, "${ca}"}, {verify, verify_peer}]},\n` +
      ` {client, [{cacertfile, "${ca}"}, {verify, verify_peer}]}].\n`,
  );
  assert.equal(await erlEval(tlsArgs(noCert), `net_adm:ping('${releaseNode}')`), 'pang');
  assert.equal(await erlEval([], `net_adm:ping('${releaseNode}')`), 'pang');
  // The release said why, each time: no client certificate; no TLS record at all.
  await waitFor(
    () => release.stdout.includes('no_client_certificate_provided'),
    "the release's log of the refused certificate-less node",
  );
  await waitFor(
    () => release.stdout.includes('unsupported_record_type'),
    "the release's log of the refused plain node",
  );
});
