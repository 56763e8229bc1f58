/**
 * TLS distribution refusals against stock OTP 25 (inet_tls_dist) and hostile peers: each gives
 * the TS node a typed error naming the cause, `pang` on the OTP side, ends within the setup
 * timeout, and leaves the live TLS connection between the good nodes alone.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Fixture, type ErlNode } from './helpers.ts';
import { certPaths, erlTlsArgs, makeCerts, makeExpiredCert, writeOptfile } from './tls-helpers.ts';
import { PortSlices } from '../support/ports.ts';
import { waitFor } from '../support/processes.ts';
import type { Node, NodeOptions } from '../../src/distribution/node.ts';
import { StaticResolver } from '../../src/distribution/resolver.ts';
import { TlsError } from '../../src/distribution/errors.ts';
import { DistError } from '../../src/errors.ts';
import { atom } from '../../src/etf/terms.ts';
import { createLogger } from '../../src/log.ts';

/** The setup timeout under test: the TS nodes of the stall cases give up on a silent peer at this. */
const STALL_MS = 3000;
/**
 * Every other node's setup time, and the bound of waits: a liveness bound, as a TLS handshake with
 * OTP on a loaded two-core machine can take seconds (past it, a refusal would read as a timeout).
 */
const SETUP_MS = 20_000;
const f = new Fixture(PortSlices.tls.cli);
let cluster: string;
let foreign: string;
let erl: ErlNode;
let erlPlain: ErlNode;
let ts: Node;
let downs = 0;

before(async () => {
  cluster = makeCerts(['127.0.0.1', '127.0.0.2']);
  foreign = makeCerts(['127.0.0.1']);
  const optfile = writeOptfile(join(cluster, 'ssl_dist.conf'), certPaths(cluster, '127.0.0.1'));
  await f.startEpmd();
  const setup = ['-kernel', 'net_setuptime', String(SETUP_MS / 1000)];
  [erl, erlPlain] = await Promise.all([
    f.startErl('otp_tls', { extra: [...erlTlsArgs(optfile), ...setup] }),
    f.startErl('otp_plain', { extra: setup }),
  ]);
  ts = await f.startNode('ts_good', { distributionTls: { optfile } });
  ts.on('nodedown', () => downs++);
  assert.equal(await ts.ping(erl.name), true);
});

after(async () => {
  await f.cleanup();
  for (const d of [cluster, foreign]) rmSync(d, { recursive: true, force: true });
});

// The live TLS connection between the good nodes outlives every refusal.
afterEach(async () => {
  assert.deepEqual(ts.nodes(), [erl.name]);
  assert.equal(downs, 0);
  assert.equal(await ts.rpc(erl.name, 'erlang', 'node', [], 10_000), atom(erl.name));
});

/** A TS node whose failed handshakes are logged where the test can read them. */
async function tsNode(alive: string, options: Partial<NodeOptions>): Promise<{ node: Node; log: string[] }> {
  const log: string[] = [];
  const node = await f.startNode(alive, {
    connectTimeoutMs: SETUP_MS,
    logger: createLogger({ level: 'warn', format: 'json', write: (l) => log.push(l) }),
    ...options,
  });
  return { node, log };
}

/** A TS node with a good cluster certificate that finds `target` (not registered with EPMD) directly. */
async function checker(alive: string, target: Node): Promise<Node> {
  const resolver = new StaticResolver({ [target.name]: { host: '127.0.0.1', port: target.port } });
  return (await tsNode(alive, { distributionTls: certPaths(cluster, '127.0.0.1'), resolver })).node;
}

const logged = (log: string[], pattern: RegExp, what: string) =>
  waitFor(() => log.some((l) => pattern.test(l)), what, SETUP_MS);

const pang = async (node: Node) =>
  assert.equal(await erl.eval(ts, `net_adm:ping('${node.name}')`, {}, 2 * SETUP_MS), atom('pang'));

/** Asserts that `promise` rejects with a TlsError whose reason matches `reason`. */
async function refused(promise: Promise<unknown>, reason: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TlsError, `a TlsError, not ${String(err)}`);
    assert.equal(err.code, 'DIST_TLS_HANDSHAKE');
    assert.match(`${err.reason} ${err.message}`, reason);
    return true;
  });
}

test('a certificate from a foreign CA is refused both ways', { timeout: 60_000 }, async () => {
  // Its own certificate and trust from another CA: it refuses OTP's, OTP refuses it.
  const { node } = await tsNode('ts_foreign', { distributionTls: certPaths(foreign, '127.0.0.1') });
  // OTP's server refuses our client certificate first, with an alert that names it.
  await refused(node.connect(erl.name), /UNKNOWN_CA/);
  await pang(node);
  // Trusting only the foreign CA while holding a cluster certificate: OTP accepts us as a
  // server, we refuse OTP's client certificate.
  const { node: picky, log } = await tsNode('ts_picky', {
    distributionTls: { ...certPaths(cluster, '127.0.0.1'), ca: certPaths(foreign, '127.0.0.1').ca },
  });
  await pang(picky);
  await logged(log, /DIST_TLS_HANDSHAKE.*accept from.*client's certificate/, 'refused client chain');
  // OTP sends its CA with its certificate: OpenSSL names the untrusted root.
  await refused(picky.connect(erl.name), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY/);
  await Promise.all([node.stop(), picky.stop()]);
});

test('an expired certificate is refused both ways', { timeout: 60_000 }, async () => {
  const expired = makeExpiredCert(cluster, '127.0.0.1');
  const ca = certPaths(cluster, '127.0.0.1').ca;
  const { node } = await tsNode('ts_expired', { distributionTls: { ca, ...expired } });
  // OTP's server refuses our client certificate with an alert that names it.
  await refused(node.connect(erl.name), /EXPIRED/i);
  await pang(node);
  // And our own check of a server's certificate.
  const good = await checker('ts_checker', node);
  await refused(good.connect(node.name), /CERT_HAS_EXPIRED/);
  await Promise.all([node.stop(), good.stop()]);
});

test(
  'a certificate for another IP is refused: the host part of the node name is checked',
  { timeout: 60_000 },
  async () => {
    const { node } = await tsNode('ts_wrong_ip', { distributionTls: certPaths(cluster, '127.0.0.2') });
    await pang(node);
    const good = await checker('ts_checker2', node);
    await refused(good.connect(node.name), /ERR_TLS_CERT_ALTNAME_INVALID/);
    await Promise.all([node.stop(), good.stop()]);
  },
);

test('plain TCP and TLS nodes refuse each other, naming the mismatch', { timeout: 60_000 }, async () => {
  const { node: tlsNode, log } = await tsNode('ts_tls_only', {
    distributionTls: certPaths(cluster, '127.0.0.1'),
    connectTimeoutMs: STALL_MS,
  });
  // A plain OTP node dialling the TLS node: pang, and the TLS node says what it got.
  const { node: plain } = await tsNode('ts_plain', {});
  assert.equal(await erlPlain.eval(plain, `net_adm:ping('${tlsNode.name}')`, {}, 2 * SETUP_MS), atom('pang'));
  await logged(log, /DIST_TLS_HANDSHAKE/, 'a plain handshake refused by the TLS node');
  // The TLS node dialling the plain OTP node: OTP waits for a 5 KB "frame"; we give up in time.
  await refused(tlsNode.connect(erlPlain.name), /TIMEOUT|PEER_CLOSED/);
  // A plain TS node dialling the TLS OTP node hears TLS back and says so.
  await assert.rejects(plain.connect(erl.name), (err: unknown) => {
    assert.ok(err instanceof DistError);
    assert.match(err.message, /TLS|closed/);
    return true;
  });
  await Promise.all([tlsNode.stop(), plain.stop()]);
});

test(
  'a peer that stalls in the TLS handshake is dropped at the setup timeout',
  { timeout: 60_000 },
  async () => {
    const { node, log } = await tsNode('ts_stalled', {
      distributionTls: certPaths(cluster, '127.0.0.1'),
      connectTimeoutMs: STALL_MS,
    });
    // As a client: the first bytes of a ClientHello, then nothing.
    const client = net.connect(node.port, '127.0.0.1');
    client.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    client.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await waitFor(() => client.closed, 'the stalled client dropped', SETUP_MS);
    await closed;
    await logged(log, /DIST_TLS_HANDSHAKE.*not done within/, 'the stall logged');
    // As a server: accepts and never answers.
    const silent = net.createServer(() => undefined);
    const port = await f.nextPort();
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
    const { node: dialer } = await tsNode('ts_dialer', {
      distributionTls: certPaths(cluster, '127.0.0.1'),
      resolver: new StaticResolver({ 'mute@127.0.0.1': { host: '127.0.0.1', port } }),
      connectTimeoutMs: STALL_MS,
    });
    await refused(dialer.connect('mute@127.0.0.1'), /TIMEOUT/);
    silent.close();
    await Promise.all([node.stop(), dialer.stop()]);
  },
);

test('garbage instead of a ClientHello closes that connection at once', { timeout: 60_000 }, async () => {
  const { node, log } = await tsNode('ts_garbage', { distributionTls: certPaths(cluster, '127.0.0.1') });
  const client = net.connect(node.port, '127.0.0.1');
  client.on('error', () => undefined);
  client.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(4)));
  await waitFor(() => client.closed, 'the garbage client dropped', SETUP_MS);
  await logged(log, /DIST_TLS_HANDSHAKE.*ERR_SSL/, 'the TLS error logged');
  assert.equal(await erl.eval(ts, `net_adm:ping('${node.name}')`), atom('pong'), 'the node still accepts');
  await node.stop();
});

test('a cookie mismatch inside a good TLS session is refused both ways', { timeout: 60_000 }, async () => {
  const { node } = await tsNode('ts_cookie', {
    cookie: 'not-the-cookie',
    distributionTls: certPaths(cluster, '127.0.0.1'),
  });
  await assert.rejects(node.connect(erl.name), (err: unknown) => {
    assert.ok(err instanceof DistError && !(err instanceof TlsError));
    assert.match(err.code, /DIST_HANDSHAKE_(REJECTED|BAD_COOKIE)/);
    return true;
  });
  await pang(node);
  await node.stop();
});
