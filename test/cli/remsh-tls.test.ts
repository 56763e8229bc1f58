/**
 * `eid remsh` into a node that runs TLS distribution, in a container on the other test host: with
 * `--ssl-dist-optfile` or `--tls-ca/--tls-cert/--tls-key` (the options eid ping and eid rpc take)
 * it gets in; without them, or with a certificate from another CA, it says why and exits 1, with
 * no hang. In a real terminal (tmux) over TLS: a line typed in one session is recalled with Up in
 * the next one (the history file under HOME, private to the user), and not with --no-history.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { upHosts, type NodeContainer, type TestHosts } from '../harness/hosts.ts';
import { certPaths, erlTlsArgs, makeCerts, writeOptfile } from '../distribution/tls-helpers.ts';
import { Processes, type Outcome } from '../support/processes.ts';
import { operatorHome, remshDocCommands, shellIn, Tmux } from './remsh-harness.ts';

const SET = 28;
const COOKIE = 'eidremshtlscookie';
const tmux = new Tmux('remsh-tls');

let hosts: TestHosts;
let certs: string;
let foreign: string;
let home: string;
let node: NodeContainer;
/** Host 1's optfile (the operator's machine), naming host 1's certificate. */
let optfile: string;
const processes = new Processes();

before(
  async () => {
    await tmux.check();
    hosts = await upHosts(SET);
    const { h1, h2 } = hosts;
    certs = makeCerts([h1.ip, h2.ip]);
    foreign = makeCerts([h1.ip]);
    optfile = writeOptfile(join(certs, 'operator.conf'), certPaths(certs, h1.ip));
    // The container sees the certificates at /certs.
    const inside = (p: string) => p.replace(certs, '/certs');
    const { ca, cert, key } = certPaths(certs, h2.ip);
    writeOptfile(join(certs, 'node.conf'), { ca: inside(ca), cert: inside(cert), key: inside(key) });
    [, node, home] = await Promise.all([
      h2.startDaemon(),
      h2.startNode({
        cookie: COOKIE,
        erlArgs: erlTlsArgs('/certs/node.conf').join(' '),
        volumes: [`${certs}:/certs:ro`],
      }),
      operatorHome(COOKIE),
    ]);
  },
  { timeout: 1_800_000 },
);

after(async () => {
  await tmux.stop();
  await processes.stopAll();
  await hosts?.down();
  for (const dir of [certs, foreign, home])
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** `script` from host 1, as an operator there runs it; $COOKIE holds the cookie. */
async function sh(script: string): Promise<Outcome> {
  const [command, ...rest] = shellIn(hosts.h1, home, script, { COOKIE });
  return processes.spawn(command!, rest).outcome();
}

/**
 * The commands of a part of docs/operating.md's remsh section, for our node and files: the
 * optfile /etc/eid/ssl_dist.conf is host 1's, and certs/10.0.0.9/ host 1's certificate.
 */
async function docCommands(heading: string): Promise<string[]> {
  return (await remshDocCommands(heading, node.node)).map((line) =>
    line
      .replaceAll('/etc/eid/ssl_dist.conf', optfile)
      .replaceAll(' certs/', ` ${certs}/`)
      .replaceAll('10.0.0.9', hosts.h1.ip),
  );
}

test(
  "docs' TLS commands: --eval 'node().' with --ssl-dist-optfile or --tls-*; without TLS or with another CA: the reason and exit 1",
  { timeout: 180_000 },
  async () => {
    const [byOptfile, byFlags] = await docCommands('Nodes that run TLS distribution');
    assert.match(byOptfile!, /--ssl-dist-optfile/);
    assert.match(byFlags!, /--tls-ca .* --eval 'node\(\)\.'$/);
    const foreignFlags = Object.entries(certPaths(foreign, hosts.h1.ip))
      .map(([k, v]) => `--tls-${k} ${v}`)
      .join(' ');
    const plainCommand = `eid remsh ${node.node} --eval 'node().' --timeout 10000`;
    const [optfileOut, flagsOut, plain, wrongCa] = await Promise.all([
      sh(`${byOptfile!} --eval 'node().'`),
      sh(byFlags!),
      sh(plainCommand),
      sh(`${plainCommand} ${foreignFlags}`),
    ]);
    const answer = { code: 0, stdout: `'${node.node}'\n`, stderr: '' };
    assert.deepEqual(optfileOut, answer);
    assert.deepEqual(flagsOut, answer);
    assert.equal(plain.code, 1, plain.stderr);
    assert.equal(plain.stdout, '');
    assert.match(
      plain.stderr,
      /^eid remsh: the peer speaks TLS: .*; give --ssl-dist-optfile FILE, or --tls-ca/,
    );
    assert.equal(wrongCa.code, 1, wrongCa.stderr);
    assert.equal(wrongCa.stdout, '');
    assert.match(wrongCa.stderr, /^eid remsh: TLS dial to .* refused: .*unknown ca/);
  },
);

test(
  'interactive over TLS: a line of one session is recalled with Up in the next; not with --no-history',
  { timeout: 180_000 },
  async () => {
    const history = join(home, '.local', 'state', 'eid', 'remsh_history');
    const [interactive] = await docCommands('Nodes that run TLS distribution');
    const [noHistory] = await docCommands('History');
    assert.match(noHistory!, /--no-history$/);
    const open = (name: string, script: string) =>
      tmux.start(name, shellIn(hosts.h1, home, script, { COOKIE }));
    // With no history file, Up recalls nothing, whatever the other sessions saved meanwhile.
    const unrecorded = async () => {
      const without = await open('without', `${noHistory!} --ssl-dist-optfile ${optfile}`);
      await without.see(/1> ?$/m, 'the first prompt');
      await without.type('', 'Up');
      await without.type('node().', 'Enter');
      await without.see(
        new RegExp(`1> node\\(\\)\\.\\n'${node.node.replaceAll('.', '\\.')}'$`, 'm'),
        'node() as typed, nothing recalled before it',
      );
      await without.type('', 'C-d');
      await without.see(/^\[remsh exited 0\]$/m, 'left');
    };
    const recorded = async () => {
      const first = await open('first', interactive!);
      await first.see(/1> ?$/m, 'the first prompt');
      await first.type('erlang:system_info(otp_release).', 'Enter');
      await first.see(/^"25"$/m, 'the release over TLS');
      await first.see(/2> ?$/m, 'prompt 2');
      await first.type('', 'C-d');
      await first.see(/^\[remsh exited 0\]$/m, 'Ctrl-D left with status 0');
      assert.equal((await stat(history)).mode & 0o777, 0o600, 'the history file is private');

      const second = await open('second', interactive!);
      await second.see(/1> ?$/m, 'the first prompt');
      await second.type('', 'Up');
      await second.see(/1> erlang:system_info\(otp_release\)\.$/m, 'the line of the first session');
      await second.type('', 'Enter');
      await second.see(/^"25"$/m, 'the recalled line evaluated');
      await second.type('', 'C-d');
      await second.see(/^\[remsh exited 0\]$/m, 'left');
    };
    await Promise.all([unrecorded(), recorded()]);
    assert.equal(
      await readFile(history, 'utf8'),
      'erlang:system_info(otp_release).\n'.repeat(2),
      'both sessions with a history saved their line; the one with --no-history did not',
    );
  },
);
