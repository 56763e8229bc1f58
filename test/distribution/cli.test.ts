/** `eid ping` and `eid rpc` as users run them (bin/eid.js on the built dist/), against a stock OTP node. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Fixture, COOKIE, type ErlNode } from './helpers.ts';
import { PortSlices } from '../support/ports.ts';
import { eidBin, type Outcome } from '../support/processes.ts';
import { parseLiteral } from '../../src/cli/rpc.ts';
import { atom, ImproperList, Tuple } from '../../src/etf/terms.ts';
import { formatTerm, termEquals } from '../../src/etf/index.ts';

const f = new Fixture(PortSlices.distribution.cli);
let erl: ErlNode;

before(async () => {
  await f.startEpmd();
  erl = await f.startErl('cli_otp');
});

after(async () => {
  await f.cleanup();
});

async function eid(args: string[]): Promise<Outcome> {
  const listen = String(await f.nextPort());
  return f
    .spawn(process.execPath, [eidBin, ...args, '--epmd-port', String(f.epmdPort), '--listen-port', listen])
    .outcome();
}

test(
  'eid ping: pong with the right cookie, pang (exit 1) with a wrong one',
  { timeout: 60_000 },
  async () => {
    assert.deepEqual(await eid(['ping', erl.name, '--cookie', COOKIE]), {
      code: 0,
      stdout: 'pong\n',
      stderr: '',
    });
    const bad = await eid(['ping', erl.name, '--cookie', 'wrong']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, 'pang\n');
    const missing = await eid(['ping', 'nobody@127.0.0.1', '--cookie', COOKIE, '--timeout', '2000']);
    assert.equal(missing.code, 1);
  },
);

test(
  'eid rpc: Erlang literals and JSON args, results printed as terms, badrpc exits 1',
  { timeout: 60_000 },
  async () => {
    const r = await eid([
      'rpc',
      erl.name,
      'lists',
      'reverse',
      '[1, two, "abc", <<"bin">>, {x, 1.5}]',
      '--cookie',
      COOKIE,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '[{x,1.5},<<"bin">>,"abc",two,1]\n');
    const j = await eid([
      'rpc',
      erl.name,
      'erlang',
      'tuple_to_list',
      '--json',
      '--cookie',
      COOKIE,
      '{"a": [1, "b"]}',
    ]);
    assert.equal(j.code, 1, 'a map is not a tuple: badrpc');
    assert.match(j.stderr, /^\{badrpc,\{'EXIT',\{badarg,/);
    const n = await eid(['rpc', erl.name, 'erlang', 'node', '--cookie', COOKIE]);
    assert.equal(n.stdout, `'${erl.name}'\n`);
    const usage = await eid(['rpc', erl.name, '--cookie', COOKIE]);
    assert.equal(usage.code, 2);
  },
);

test('the literal parser and printer', { timeout: 60_000 }, () => {
  assert.ok(
    termEquals(
      parseLiteral("{ok, 'Quoted atom', -12, [a | b], #{k => <<1,2>>}}"),
      new Tuple([
        atom('ok'),
        atom('Quoted atom'),
        -12,
        new ImproperList([atom('a')], atom('b')),
        new Map([[atom('k'), Buffer.from([1, 2])]]),
      ]),
    ),
  );
  assert.equal(
    formatTerm(parseLiteral('{a, "hi", <<"x">>, 1.0, 123456789012345678901234567890}')),
    '{a,"hi",<<"x">>,1.0,123456789012345678901234567890}',
  );
  assert.throws(() => parseLiteral('{unclosed'), /cannot parse/);
});
