/**
 * pg, phash2 and Phoenix.PubSub across two Docker hosts (EID_SET 15): a TS node in a container on
 * host 2 (groups-probe.ts) runs the pg scenario against OTP 27 (host 1) and OTP 29 (host 2) in
 * containers, and the Phoenix.PubSub acceptance against an Elixir node with the stand-in in a
 * container on host 1; every name resolves through eid daemon. After the TS node stops, the
 * Elixir node must no longer list it in :pg.get_members(Phoenix.PubSub, Demo.PubSub.Adapter)
 * (the probe's hidden driver node asks it).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { lastJsonLine, upHosts, type NodeContainer, type TestHosts } from '../harness/hosts.ts';

const COOKIE = 'eidgroupscontainers';
const SET = 15;
const probe = fileURLToPath(new URL('./groups-probe.ts', import.meta.url));

let hosts: TestHosts;
let otp27: NodeContainer;
let otp29: NodeContainer;
let elixir: NodeContainer;

before(
  async () => {
    hosts = await upHosts(SET);
    await Promise.all([hosts.h1.image('otp27'), hosts.h2.image('otp29')]);
    // One after the other: two daemons starting at once on a loaded machine can miss their deadline.
    await hosts.h1.startDaemon();
    await hosts.h2.startDaemon();
    [otp27, otp29, elixir] = await Promise.all([
      hosts.h1.startNode({ cookie: COOKIE, image: 'eid-otp27' }),
      hosts.h2.startNode({ cookie: COOKIE, image: 'eid-otp29' }),
      hosts.h1.startNode({ cookie: COOKIE, elixir: true }),
    ]);
  },
  { timeout: 1_800_000 },
);

after(async () => {
  await hosts?.down();
});

test(
  'pg with OTP 27 and 29, phash2 of pids, and the Phoenix.PubSub acceptance with Elixir, across two hosts',
  { timeout: 300_000 },
  async () => {
    const hostname = 'tsgroups';
    const config = {
      name: `${hostname}@${hosts.h2.ip}`,
      cookie: COOKIE,
      otp: [otp27.node, otp29.node],
      elixir: elixir.node,
    };
    const { status, logs } = await hosts.h2.runScript(probe, JSON.stringify(config), {
      hostname,
      timeoutMs: 240_000,
    });
    assert.equal(status, '0', logs);
    const r = lastJsonLine(logs);
    assert.equal(r.error, undefined, logs);
    console.log('probe timings (ms)', JSON.stringify(r.timings));
    assert.deepEqual(r[otp27.node], { release: '27', pg: 'ok', phash2Mismatches: 0 });
    assert.deepEqual(r[otp29.node], { release: '29', pg: 'ok', phash2Mismatches: 0 });
    // 1: the Elixir subscriber of "room:1" got the TS broadcast; 2: the TS subscriber of "room:2"
    // got the Elixir broadcast; 3: the TS member was listed, and is gone now the TS node stopped.
    assert.equal(r.elixirGot, '{hello,<<"from ts">>}');
    assert.deepEqual(r.tsGot, ['{hello,<<"from elixir">>}']);
    assert.equal(r.membersListed, 1);
    assert.equal(r.membersAfterStop, 0);
  },
);
