/**
 * TLS distribution refuses what it must, with docs/tls.md's recipe (test/tls/stock-recipe.ts): an
 * OTP 27 node in a container on a Docker host, found through `eid daemon`, answers `pang` to nodes
 * in the host's namespace with a foreign CA's certificate, trusting only a foreign CA, with an
 * expired certificate, with none, or with plain TCP, each for the TLS alert that names the cause;
 * the recipe's own options get `pong`. Needs root.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, evalOnHost, upHosts, type NodeContainer, type TestHosts } from '../harness/hosts.ts';
import { COOKIE, installRecipe, run, tlsArgs, type Recipe } from './stock-recipe.ts';

const SET = 13;
let hosts: TestHosts;
let tmp: string;
let recipe: Recipe;
let otp27: NodeContainer;

before(
  async () => {
    tmp = await mkdtemp(join(tmpdir(), 'eid-tls-refusals-'));
    hosts = await upHosts(SET);
    const { h1, h2 } = hosts;
    const imported = h2.image('otp27');
    recipe = await installRecipe(tmp, h1, h2);
    await h2.startDaemon();
    await imported;
    otp27 = await h2.startNode({ ...recipe.node(h2), image: 'eid-otp27' });
  },
  { timeout: 1_800_000 },
);

after(async () => {
  await hosts?.down();
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
});

const T = { timeout: 300_000 };

test(
  'verification is real: a foreign CA, an expired or missing certificate, or plain TCP gets pang',
  T,
  async () => {
    const { h2 } = hosts;
    const own = recipe.dirs.get(h2)!;
    const certs = recipe.certs;
    const foreign = join(tmp, 'foreign');
    await run('bash', [join(ROOT, 'scripts/dist-certs.sh'), '--dir', foreign, h2.ip]);
    await run('bash', [join(ROOT, 'scripts/dist-certs.sh'), '--dir', certs, '--expired', h2.ip]);
    const host = recipe.hostOptfile(h2);
    const base = await readFile(host, 'utf8');
    /** An options file like host 2's, with `swap` applied to every path in it. */
    const variant = async (name: string, swap: (text: string) => string) => {
      const file = join(tmp, `${name}.conf`);
      await writeFile(file, swap(base));
      return tlsArgs(file);
    };
    // What the helper's ping answers, and the TLS alert its log must show (none for plain TCP).
    const cases: [string, string[], string, string][] = [
      ['the recipe (control)', tlsArgs(host), 'pong', ''],
      [
        'a certificate from a foreign CA',
        await variant('foreign-cert', (t) =>
          t
            .replaceAll(`${own}/cert.pem`, `${foreign}/${h2.ip}/cert.pem`)
            .replaceAll(`${own}/key.pem`, `${foreign}/${h2.ip}/key.pem`),
        ),
        'pang',
        'received SERVER ALERT: Fatal - Unknown CA',
      ],
      [
        'trusting only a foreign CA',
        await variant('foreign-ca', (t) => t.replaceAll(`${own}/ca.pem`, `${foreign}/ca.pem`)),
        'pang',
        'generated CLIENT ALERT: Fatal - Unknown CA',
      ],
      [
        'an expired certificate from the right CA',
        await variant('expired', (t) =>
          t
            .replaceAll(`${own}/cert.pem`, `${certs}/expired/${h2.ip}/cert.pem`)
            .replaceAll(`${own}/key.pem`, `${certs}/expired/${h2.ip}/key.pem`),
        ),
        'pang',
        'received SERVER ALERT: Fatal - Certificate Expired',
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
        // The server's reason, no_client_certificate_provided, is in its own log.
        'received SERVER ALERT: Fatal - Handshake Failure',
      ],
      ['plain TCP distribution', [], 'pang', ''],
    ];
    const outcomes = await Promise.all(
      cases.map(([, args]) =>
        // Three tries, so that only a refusal, not a slow machine, makes pang.
        evalOnHost(
          h2,
          COOKIE,
          `io:format("~p~n", [lists:foldl(fun(_, pong) -> pong; (_, _) -> net_adm:ping('${otp27.node}') end, pang, [1, 2, 3])])`,
          120_000,
          args,
        ),
      ),
    );
    // The helper prints its answer on a line of its own, among ssl's notice reports.
    const seen = (out: string, reason: string) =>
      `${out.split('\n').find((line) => line === 'pong' || line === 'pang') ?? out}` +
      (out.includes(reason) ? ` ${reason}` : ` (no "${reason}" in ${out})`);
    assert.deepEqual(
      cases.map(([what, , , reason], i) => `${what}: ${seen(outcomes[i]!, reason)}`),
      cases.map(([what, , want, reason]) => `${what}: ${want} ${reason}`),
    );
  },
);
