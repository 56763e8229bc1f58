/**
 * The ssl_dist_optfile reader: OTP's options mapped to the TS node's, Erlang-only ones replaced
 * or refused by name, hostile text refused with the typed error; and the TLS options a TS node
 * checks at start and on reload, between two TS nodes (no OTP needed).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { certPaths, makeCerts, writeOptfile } from './tls-helpers.ts';
import { fuzzing } from '../fuzz.ts';
import { Node } from '../../src/distribution/node.ts';
import { StaticResolver } from '../../src/distribution/resolver.ts';
import { TlsError } from '../../src/distribution/errors.ts';
import { parseSslDistOptions } from '../../src/distribution/tls-optfile.ts';
import { DistError } from '../../src/errors.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { waitFor } from '../support/processes.ts';

const dir = makeCerts(['127.0.0.1', '127.0.0.2']);
const nodes: Node[] = [];

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  rmSync(dir, { recursive: true, force: true });
});

const parse = (text: string) => parseSslDistOptions(text, 'ssl_dist.conf');

/** Asserts the text is refused naming `option`. */
function refusedOption(text: string, option: string, why: RegExp): void {
  assert.throws(
    () => parse(text),
    (err: unknown) => {
      assert.ok(err instanceof TlsError, String(err));
      assert.equal(err.code, 'DIST_TLS_CONFIG');
      assert.equal(err.reason, option);
      assert.match(err.message, new RegExp(`ssl option ${option} `));
      assert.match(err.message, why);
      return true;
    },
  );
}

test('an operator optfile maps option by option', () => {
  const text = `%% both sides
    [{server, [{certfile, "/c/cert.pem"}, {keyfile, <<"/c/key.pem">>}, {cacertfile, "/c/ca.pem"},
               {verify, verify_peer}, {fail_if_no_peer_cert, true}, {secure_renegotiate, true},
               {depth, 2}, {versions, ['tlsv1.2', 'tlsv1.3']}, {honor_cipher_order, true},
               {verify_fun, {fun inet_tls_dist:verify_client/3, []}}, {reuse_sessions, true}]},
     {client, [{certfile, "/c/cert.pem"}, {keyfile, "/c/key.pem"}, {cacertfile, "/c/ca.pem"},
               {verify, verify_none}, {server_name_indication, "node.example"}, {password, "pw"},
               {ciphers, ["ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384"]},
               {customize_hostname_check, []}, {ktls, false}]}]. % end`;
  assert.deepEqual(parse(text), {
    server: {
      cert: '/c/cert.pem',
      key: '/c/key.pem',
      ca: '/c/ca.pem',
      verify: 'verify_peer',
      failIfNoPeerCert: true,
      depth: 2,
      versions: ['tlsv1.2', 'tlsv1.3'],
      honorCipherOrder: true,
      checkClientAddress: true,
    },
    client: {
      cert: '/c/cert.pem',
      key: '/c/key.pem',
      ca: '/c/ca.pem',
      verify: 'verify_none',
      serverName: 'node.example',
      passphrase: 'pw',
      ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384:TLS_AES_256_GCM_SHA384',
    },
  });
  assert.deepEqual(parse('[{client, [{server_name_indication, disable}]}].').client, { serverName: false });
});

test('options without an equivalent are refused by name, never dropped', () => {
  const one = (side: string, opt: string) => `[{${side}, [${opt}]}].`;
  refusedOption(one('server', '{crl_check, true}'), 'crl_check', /distributionTls\.crl/);
  refusedOption(one('client', '{verify_fun, {fun my:check/3, []}}'), 'verify_fun', /Erlang fun/);
  refusedOption(
    one('client', '{verify_fun, {fun inet_tls_dist:verify_client/3, []}}'),
    'verify_fun',
    /server/,
  );
  refusedOption(
    one('client', '{customize_hostname_check, [{match_fun, fun my:match/2}]}'),
    'customize_hostname_check',
    /wildcards/,
  );
  refusedOption(one('server', "{versions, ['tlsv1.1']}"), 'versions', /tlsv1\.1/);
  refusedOption(one('server', '{secure_renegotiate, false}'), 'secure_renegotiate', /never/);
  refusedOption(one('client', '{fail_if_no_peer_cert, true}'), 'fail_if_no_peer_cert', /server option/);
  refusedOption(one('server', '{server_name_indication, "x"}'), 'server_name_indication', /client option/);
  refusedOption(one('server', '{ktls, true}'), 'ktls', /kernel TLS/);
  refusedOption(one('server', '{psk_identity, "x"}'), 'psk_identity', /no node:tls equivalent/);
  refusedOption(one('server', '{verify, maybe}'), 'verify', /cannot take/);
});

test('text that is not an optfile is refused with the typed error', () => {
  const fuzz = fuzzing('EID_OPTFILE_SEED', 0x7150, TlsError);
  for (const bad of [
    '',
    '[{server, []}]',
    '{server, []}.',
    '[{other, []}].',
    '[{server, [x]}].',
    '[a]. [b].',
  ])
    assert.ok(fuzz.guarded(bad, () => parse(bad)) instanceof TlsError, bad);
  const pieces = fc.constantFrom(
    '[',
    ']',
    '{',
    '}',
    ',',
    '.',
    ' ',
    '%',
    '\n',
    '"',
    'server',
    'client',
    'certfile',
    'verify',
    'verify_peer',
    'true',
    '"/x.pem"',
    '<<"b">>',
    '12',
    'fun a:b/3',
  );
  fc.assert(
    fc.property(fc.array(pieces, { maxLength: 40 }), (parts) => {
      const text = parts.join('');
      const result = fuzz.guarded(text, () => parse(text));
      if (!(result instanceof TlsError)) assert.ok(typeof result === 'object');
    }),
    fuzz.runs(3000),
  );
});

/** A TS node with TLS on any free port, found by a static table rather than EPMD. */
async function tlsNode(
  alive: string,
  distributionTls: Parameters<typeof Node.start>[0]['distributionTls'],
  resolver = new StaticResolver({}),
  logger?: Logger,
): Promise<Node> {
  const node = await Node.start({
    name: `${alive}@127.0.0.1`,
    cookie: 'c',
    port: 0,
    listenHost: '127.0.0.1',
    epmd: { register: false },
    resolver,
    connectTimeoutMs: 5000,
    distributionTls,
    ...(logger === undefined ? {} : { logger }),
  });
  nodes.push(node);
  return node;
}

test('bad TLS options fail at start; reloadTls needs TLS', async () => {
  const missing = join(dir, 'nothing.pem');
  await assert.rejects(
    tlsNode('ts_bad', { ca: missing }),
    (err: unknown) =>
      err instanceof TlsError && err.code === 'DIST_TLS_CONFIG' && err.message.includes(missing),
  );
  await assert.rejects(
    tlsNode('ts_noca', { cert: certPaths(dir, '127.0.0.1').cert, key: certPaths(dir, '127.0.0.1').key }),
    (err: unknown) => err instanceof TlsError && /needs ca/.test(err.message),
  );
  const bad = join(dir, 'bad.conf');
  writeFileSync(bad, '[{server, [{crl_check, peer}]}].');
  await assert.rejects(tlsNode('ts_badfile', { optfile: bad }), (err: unknown) => err instanceof TlsError);
  const plain = await Node.start({
    name: 'ts_plain@127.0.0.1',
    cookie: 'c',
    port: 0,
    epmd: { register: false },
  });
  nodes.push(plain);
  assert.throws(
    () => plain.reloadTls(),
    (err: unknown) => err instanceof DistError && err.code === 'DIST_BADARG',
  );
});

test('TS to TS over TLS, an optfile for one and options for the other; checkClientAddress', async () => {
  const optfile = writeOptfile(join(dir, 'ssl_dist.conf'), certPaths(dir, '127.0.0.1'));
  const log: string[] = [];
  const logger = createLogger({ level: 'warn', format: 'json', write: (l) => log.push(l) });
  const server = await tlsNode(
    'ts_server',
    { optfile, server: { checkClientAddress: true } },
    undefined,
    logger,
  );
  const table = { [server.name]: { host: '127.0.0.1', port: server.port } };
  const client = await tlsNode('ts_client', certPaths(dir, '127.0.0.1'), new StaticResolver(table));
  assert.equal(await client.ping(server.name), true);
  // A cluster certificate, but for another address than the one it connects from.
  const elsewhere = await tlsNode('ts_elsewhere', certPaths(dir, '127.0.0.2'), new StaticResolver(table));
  // Over TLS 1.3 the client is done before the server has checked it: it sees a close.
  await assert.rejects(elsewhere.connect(server.name), (err: unknown) => {
    assert.ok(
      err instanceof DistError && /refused our certificate|CLIENT_ADDRESS/.test(err.message),
      String(err),
    );
    return true;
  });
  await waitFor(() => log.some((l) => l.includes('does not name 127.0.0.1')), 'the refusal logged', 10_000);
  assert.deepEqual(server.nodes(), [client.name]);
});
