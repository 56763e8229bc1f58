/**
 * TLS distribution between the TypeScript node and stock OTP 25 nodes on this host
 * (`erl -proto_dist inet_tls -ssl_dist_optfile FILE`), both directions, with the certificates of
 * scripts/dist-certs.sh and one ssl_dist_optfile read by both kinds of node.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { COOKIE, Fixture, run, type ErlNode } from './helpers.ts';
import { certPaths, erlTlsArgs, makeCerts, writeOptfile } from './tls-helpers.ts';
import { Doc } from '../support/doc-blocks.ts';
import { PortSlices } from '../support/ports.ts';
import { eidBin, type Outcome } from '../support/processes.ts';
import type { Node } from '../../src/distribution/node.ts';
import { TlsError } from '../../src/distribution/errors.ts';
import { termEquals } from '../../src/etf/index.ts';
import { atom, Atom, type Pid, Tuple, tuple, type Term } from '../../src/etf/terms.ts';

const f = new Fixture(PortSlices.tls.node);
let dir: string;
let optfile: string;
let erl: ErlNode;
let ts: Node;

before(async () => {
  dir = makeCerts(['127.0.0.1']);
  optfile = writeOptfile(join(dir, 'ssl_dist.conf'), certPaths(dir, '127.0.0.1'));
  await f.startEpmd();
  erl = await f.startErl('otp_tls', { extra: erlTlsArgs(optfile) });
  ts = await f.startNode('ts_tls', { distributionTls: { optfile } });
});

after(async () => {
  await f.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const isTuple = (m: Term, first: string): m is Tuple =>
  m instanceof Tuple && m.elements[0] instanceof Atom && m.elements[0].name === first;

describe('TS node and OTP 25 over TLS', () => {
  test('ping and rpc both ways; OTP sees a TLS connection', { timeout: 60_000 }, async () => {
    assert.equal(await ts.ping(erl.name), true);
    assert.equal(await ts.rpc(erl.name, 'erlang', 'node'), atom(erl.name));
    // inet_tls_dist's connection controller is the TLS sender process, not a port.
    const controller = await erl.eval(
      ts,
      `[C || {N, C} <- erlang:system_info(dist_ctrl), N =:= '${ts.name}']`,
    );
    assert.ok(Array.isArray(controller) && controller.length === 1 && !(controller[0] instanceof Atom));
    const other = await f.startNode('ts_tls_accept', { distributionTls: { optfile } });
    other.expose('calc', { double: (x) => (x as number) * 2 });
    assert.equal(await erl.eval(ts, `net_adm:ping('${other.name}')`), atom('pong'));
    assert.equal(await erl.eval(ts, `rpc:call('${other.name}', calc, double, [21])`), 42);
    await other.stop();
  });

  test('gen_server calls both ways', { timeout: 60_000 }, async () => {
    const apps = (await ts.call(
      tuple(atom('application_controller'), atom(erl.name)),
      atom('which_applications'),
    )) as Tuple[];
    assert.ok(apps.some((a) => a.elements[0] === atom('kernel')));
    const server = ts.spawn(async (self) => {
      for (;;) {
        const m = await self.receive((x) => isTuple(x, '$gen_call'));
        const [, from, req] = (m as Tuple).elements;
        self.reply(from as Tuple, tuple(atom('got'), req as Term));
      }
    });
    ts.register('tls_echo', server);
    const reply = await erl.eval(ts, `gen_server:call({tls_echo, '${ts.name}'}, hello)`);
    assert.ok(termEquals(reply, tuple(atom('got'), atom('hello'))), String(reply));
  });

  test('links and monitors across the TLS connection', { timeout: 60_000 }, async () => {
    const spawnErl = async () =>
      (await erl.eval(ts, `spawn(fun() -> receive go -> exit(tls_reason) end end)`)) as Pid;
    const linked = await spawnErl();
    const exit = await run(
      ts,
      async (self) => {
        self.link(linked);
        self.send(linked, atom('go'));
        return self.receive((m) => isTuple(m, 'EXIT'), 10_000);
      },
      { trapExit: true },
    );
    assert.ok(termEquals(exit, tuple(atom('EXIT'), linked, atom('tls_reason'))), String(exit));
    const monitored = await spawnErl();
    const down = (await run(ts, async (self) => {
      self.monitor(monitored);
      self.send(monitored, atom('go'));
      return self.receive((m) => isTuple(m, 'DOWN'), 10_000);
    })) as Tuple;
    assert.equal(down.elements[4], atom('tls_reason'));
    // And OTP monitoring a TS process.
    const tsProc = ts.spawn(async (self) => {
      await self.receive();
      throw new Error('told to stop');
    });
    ts.register('tls_victim', tsProc);
    const seen = await erl.eval(
      ts,
      `R = monitor(process, {tls_victim, '${ts.name}'}), {tls_victim, '${ts.name}'} ! stop,
       receive {'DOWN', R, process, _, _} -> down after 10000 -> timeout end`,
    );
    assert.equal(seen, atom('down'));
  });

  test('a 10 MB binary goes both ways in fragments', { timeout: 120_000 }, async () => {
    await erl.eval(
      ts,
      `register(tls_echo_bin, spawn(fun Loop() -> receive {From, B} -> From ! {erlang:md5(B), B}, Loop() end end)), ok`,
    );
    const bin = randomBytes(10 * 1024 * 1024);
    const md5 = createHash('md5').update(bin).digest();
    const back = (await run(ts, async (self) => {
      self.send(tuple(atom('tls_echo_bin'), atom(erl.name)), tuple(self.pid, bin));
      return self.receive(undefined, 60_000);
    })) as Tuple;
    assert.ok(termEquals(back.elements[0] as Term, md5), 'OTP received the same bytes');
    assert.ok(Buffer.isBuffer(back.elements[1]) && back.elements[1].equals(bin), 'and sent them back whole');
  });
});

describe('configuration', () => {
  test(
    'certificates rotate: new connections use the new files, live ones stay',
    { timeout: 60_000 },
    async () => {
      const certs = makeCerts(['127.0.0.1']);
      const own = join(certs, 'own');
      const paths = certPaths(certs, '127.0.0.1');
      // The node trusts both CAs; it starts with a certificate of the CA the OTP node does not trust.
      const bundle = join(certs, 'bundle.pem');
      const { execFileSync } = await import('node:child_process');
      execFileSync('sh', ['-c', `cat ${paths.ca} ${certPaths(dir, '127.0.0.1').ca} > ${bundle}`]);
      execFileSync('mkdir', ['-p', own]);
      copyFileSync(paths.cert, join(own, 'cert.pem'));
      copyFileSync(paths.key, join(own, 'key.pem'));
      const node = await f.startNode('ts_rotate', {
        distributionTls: { ca: bundle, cert: join(own, 'cert.pem'), key: join(own, 'key.pem') },
        // A liveness bound for the TLS handshakes with OTP below (seconds on a loaded machine).
        connectTimeoutMs: 20_000,
      });
      await assert.rejects(node.connect(erl.name), (err: unknown) => err instanceof TlsError);
      // The operator drops in a certificate of the cluster's CA: no restart.
      copyFileSync(certPaths(dir, '127.0.0.1').cert, join(own, 'cert.pem'));
      copyFileSync(certPaths(dir, '127.0.0.1').key, join(own, 'key.pem'));
      assert.equal(await node.ping(erl.name), true);
      // An explicit reload of files that do not match keeps the old pair and says why.
      copyFileSync(paths.key, join(own, 'key.pem'));
      assert.throws(
        () => node.reloadTls(),
        (err: unknown) => err instanceof TlsError && err.code === 'DIST_TLS_CONFIG',
      );
      assert.equal(
        await node.rpc(erl.name, 'erlang', 'node'),
        atom(erl.name),
        'the live connection is untouched',
      );
      assert.equal(
        await erl.eval(ts, `net_adm:ping('${node.name}')`),
        atom('pong'),
        'and new ones use the old pair',
      );
      await node.stop();
      rmSync(certs, { recursive: true, force: true });
    },
  );
});

describe('eid ping and eid rpc over TLS', () => {
  async function eid(args: string[]): Promise<Outcome> {
    const listen = String(await f.nextPort());
    const common = ['--cookie', COOKIE, '--epmd-port', String(f.epmdPort), '--listen-port', listen];
    return f.spawn(process.execPath, [eidBin, ...args, ...common]).outcome();
  }

  test(
    '--ssl-dist-optfile and --tls-ca/--tls-cert/--tls-key reach a TLS node',
    { timeout: 60_000 },
    async () => {
      assert.deepEqual(await eid(['ping', erl.name, '--ssl-dist-optfile', optfile]), {
        code: 0,
        stdout: 'pong\n',
        stderr: '',
      });
      const { ca, cert, key } = certPaths(dir, '127.0.0.1');
      const rpc = await eid([
        'rpc',
        erl.name,
        'erlang',
        'node',
        '--tls-ca',
        ca,
        '--tls-cert',
        cert,
        '--tls-key',
        key,
      ]);
      assert.deepEqual(rpc, { code: 0, stdout: `'${erl.name}'\n`, stderr: '' });
    },
  );

  test('a refused certificate: pang, and the reason on standard error', { timeout: 60_000 }, async () => {
    const foreign = makeCerts(['127.0.0.1']);
    const out = await eid(['ping', erl.name, '--timeout', '5000', ...flags(certPaths(foreign, '127.0.0.1'))]);
    assert.equal(out.code, 1);
    assert.equal(out.stdout, 'pang\n');
    assert.match(out.stderr, /TLS dial to .* refused: .*unknown ca/);
    const plain = await eid(['ping', erl.name, '--timeout', '5000']);
    assert.equal(plain.stdout, 'pang\n');
    assert.match(plain.stderr, /speaks TLS|closed/);
    const usage = await eid(['ping', erl.name, '--tls-cert', 'x.pem']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--tls-cert and --tls-key go together/);
    rmSync(foreign, { recursive: true, force: true });
  });
});

const flags = (p: { ca: string; cert: string; key: string }) => [
  '--tls-ca',
  p.ca,
  '--tls-cert',
  p.cert,
  '--tls-key',
  p.key,
];

describe("docs/tls.md step 6: OTP's read buffer", () => {
  test(
    'OTP nodes with the documented line read their TLS distribution sockets with 256 KiB, dialled and accepted; 10 MB goes both ways',
    { timeout: 120_000 },
    async () => {
      const line = new Doc('docs/tls.md').block('### 6. Throughput: a larger read buffer', '').trim();
      const flags = line.split(/\s+/);
      const a = await f.startErl('otp_tls_buf_a', { extra: [...erlTlsArgs(optfile), ...flags] });
      const b = await f.startErl('otp_tls_buf_b', { extra: [...erlTlsArgs(optfile), ...flags] });
      // The buffer of each connected TCP socket of a node, by the remote or local port that names it.
      const buffers = async (node: ErlNode, side: 'peer' | 'local', port: number) =>
        (await node.eval(
          ts,
          `[B || P <- erlang:ports(), erlang:port_info(P, name) =:= {name, "tcp_inet"},
                 {ok, {_, Remote}} <- [inet:peername(P)], {ok, {_, Local}} <- [inet:sockname(P)],
                 ${side === 'peer' ? 'Remote' : 'Local'} =:= Port, {ok, [{buffer, B}]} <- [inet:getopts(P, [buffer])]]`,
          { Port: port },
        )) as number[];
      assert.equal(await ts.ping(a.name), true);
      assert.equal(await a.eval(ts, `net_adm:ping('${b.name}')`), atom('pong'));
      // global meshes the nodes, so a node may hold more than one such socket: all must read alike.
      const allRead = async (bytes: number, what: string, ...where: Parameters<typeof buffers>) => {
        const seen = await buffers(...where);
        assert.ok(seen.length > 0 && seen.every((x) => x === bytes), `${what}: ${JSON.stringify(seen)}`);
      };
      await allRead(262_144, 'a dialled b with the connect option', a, 'peer', b.port);
      await allRead(262_144, 'b accepted a with the listen option', b, 'local', b.port);
      await allRead(262_144, 'a accepted the TS node with it', a, 'local', a.port);
      assert.equal(await ts.ping(erl.name), true);
      await allRead(1460, 'a node without the line reads 1460 bytes', erl, 'local', erl.port);

      const bin = randomBytes(10 * 1024 * 1024);
      const md5 = createHash('md5').update(bin).digest();
      assert.ok(termEquals(await ts.rpc(a.name, 'erlang', 'md5', [bin]), md5), 'TS → a: the same bytes');
      const there = await a.eval(
        ts,
        `Bin = crypto:strong_rand_bytes(10 * 1024 * 1024), rpc:call('${b.name}', erlang, md5, [Bin]) =:= erlang:md5(Bin)`,
      );
      assert.equal(there, true, 'a → b: the same bytes');
      const back = await ts.rpc(a.name, 'erlang', 'list_to_binary', [[bin]]);
      assert.ok(Buffer.isBuffer(back) && back.equals(bin), 'a → TS: the same bytes');
    },
  );
});
