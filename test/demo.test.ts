/**
 * The README's first command: `npm run demo` must show a cluster across two Docker hosts, with the
 * Node.js member in it, and leave nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SET = 8;
const NODES_PER_HOST = 2;

test('npm run demo: containers on two hosts and a TypeScript node form one cluster, then it cleans up', async () => {
  const { stdout } = await run('bash', [new URL('../scripts/demo.sh', import.meta.url).pathname], {
    env: { ...process.env, EID_SET: String(SET), EID_DEMO_NODES: String(NODES_PER_HOST) },
    timeout: 240_000,
    maxBuffer: 16 << 20,
  });
  const erlangNodes = 2 * NODES_PER_HOST;
  const pings = stdout.match(/^\S+@10\.\S+ pinged \S+@10\.\S+: daemon \S+:4369 answered port \d+ -> pong$/gm);
  assert.equal(pings?.length, erlangNodes, stdout);
  const meshes = stdout.match(new RegExp(`^ {2}\\S+ sees ${erlangNodes - 1} nodes:`, 'gm'));
  assert.equal(meshes?.length, erlangNodes, stdout);
  const tsPings = stdout.match(/^\S+@10\.\S+ pinged \S+@10\.\S+: pong$/gm);
  assert.equal(tsPings?.length, erlangNodes, stdout);
  assert.match(stdout, /called rpc:call\('\S+', demo, hello, \[\.\.\.\]\) -> hello \S+, from Node\.js v\d+/);
  assert.match(stdout, /removed the hosts, their containers and daemons/);
  const { stdout: namespaces } = await run('ip', ['netns', 'list']);
  assert.doesNotMatch(namespaces, new RegExp(`eid${SET}h`));
});
