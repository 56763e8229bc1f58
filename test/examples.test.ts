/**
 * Every program in examples/ run as its header comment says (`node --import tsx examples/X.ts`),
 * against a stock OTP 25 node: the Erlang shell lines in each comment are evaluated on that node
 * and must give the results the comment shows.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Fixture, type ErlNode } from './distribution/helpers.ts';
import { PortSlices } from './support/ports.ts';
import { Processes, waitFor, type Spawned } from './support/processes.ts';
import type { Node } from '../src/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COOKIE = 'secret'; // the cookie every example's comment uses
const f = new Fixture(PortSlices.distribution.examples);
const examples = new Processes();
let erl: ErlNode;
let driver: Node;

before(async () => {
  await f.startEpmd();
  // The node the comments start with `erl -name app@127.0.0.1 -setcookie secret`.
  erl = await f.startErl('app', { cookie: COOKIE });
  // Drives the Erlang shell lines into `erl` (through its evaluator).
  driver = await f.startNode('examples_driver', { cookie: COOKIE });
});

after(async () => {
  await examples.stopAll();
  await f.cleanup();
});

/** `node --import tsx examples/NAME.ts args...` from the repository root, registered with this file's epmd. */
async function runExample(name: string, args: string[]): Promise<Spawned> {
  const env = { ERL_EPMD_PORT: String(f.epmdPort), EID_PORT: String(await f.nextPort()) };
  return examples.spawn(process.execPath, ['--import', 'tsx', `examples/${name}`, ...args], env, ROOT);
}

/** The `N> expression.   % result` lines of an example's header comment. */
function shellLines(name: string): { expr: string; expected: string | undefined }[] {
  const source = readFileSync(`${ROOT}examples/${name}`, 'utf8');
  const header = source.slice(0, source.indexOf('*/'));
  return [...header.matchAll(/^ \* +\d+> (.*?\.)\s*(?:% (.*))?$/gm)].map((m) => ({
    expr: m[1]!,
    expected: m[2]?.trim(),
  }));
}

/** Evaluates each shell line on `erl` and checks it prints (~p) what the comment says. */
async function checkShellLines(name: string): Promise<void> {
  const lines = shellLines(name);
  assert.ok(lines.length > 0, `no shell lines in the comment of ${name}`);
  for (const { expr, expected } of lines) {
    const printed = await erl.eval(
      driver,
      `V = (${expr.slice(0, -1)}), iolist_to_binary(io_lib:format("~p", [V]))`,
    );
    if (expected !== undefined) assert.equal(Buffer.from(printed as Uint8Array).toString(), expected, expr);
  }
}

test('every example has a test here', () => {
  const files = readdirSync(`${ROOT}examples`).filter((n) => n.endsWith('.ts'));
  assert.deepEqual(files.sort(), ['expose.ts', 'gen-server.ts', 'ping.ts', 'pubsub-bridge.ts']);
});

test(
  'ping.ts pings the node, calls erlang:node and prints its OTP release',
  { timeout: 120_000 },
  async () => {
    const run = await runExample('ping.ts', [erl.name, COOKIE]);
    assert.equal((await run.exited).code, 0, run.stderr);
    const release = await erl.eval(driver, 'list_to_binary(erlang:system_info(otp_release))');
    const lines = run.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3, run.stdout);
    assert.equal(lines[0], 'ping: pong');
    assert.ok(lines[1]!.startsWith('node: ') && lines[1]!.includes(`'${erl.name}'`), lines[1]);
    assert.equal(lines[2], `otp release: ${Buffer.from(release as Uint8Array).toString()}`);
  },
);

test(
  'expose.ts serves calc:add and calc:upper to rpc:call and erpc:call; Ctrl-C stops it',
  { timeout: 120_000 },
  async () => {
    const run = await runExample('expose.ts', [COOKIE]);
    await run.waitForOutput('js@127.0.0.1 listening on port', 60_000);
    await checkShellLines('expose.ts');
    await run.waitForOutput(`nodeup ${erl.name}`, 30_000);
    run.child.kill('SIGINT');
    assert.equal((await run.exited).code, 0, run.stderr);
  },
);

test(
  'gen-server.ts: counter answers gen_server:call and gen_server:cast as its comment shows',
  { timeout: 120_000 },
  async () => {
    const run = await runExample('gen-server.ts', [COOKIE]);
    await run.waitForOutput("{counter, 'counter@127.0.0.1'} is ready", 60_000);
    await checkShellLines('gen-server.ts');
    run.child.kill('SIGINT');
    assert.equal((await run.exited).code, 0, run.stderr);
  },
);

test(
  'pubsub-bridge.ts relays what the Elixir app broadcasts on its topic to stdout, as its comment shows',
  { timeout: 120_000 },
  async () => {
    // The app: an Elixir node with the Phoenix.PubSub stand-in (test/distribution) as MyApp.PubSub.
    const app = await f.startElixir('phoenix', { cookie: COOKIE });
    const standin = fileURLToPath(new URL('./distribution/phoenix_pubsub_standin.ex', import.meta.url));
    await app.eval(
      driver,
      `Code.require_file(${JSON.stringify(standin)}); {:ok, sup} = Phoenix.PubSub.start_link(name: MyApp.PubSub); Process.unlink(sup)`,
    );
    const run = await runExample('pubsub-bridge.ts', [app.name, COOKIE, 'MyApp.PubSub', 'room:lobby']);
    await run.waitForOutput(`bridging room:lobby of MyApp.PubSub on ${app.name}`, 60_000, 'stderr');
    // The bridge's worker is in the app's pool group once the pg scopes have synced.
    await waitFor(async () => {
      const n = await app.eval(
        driver,
        ':pg.get_members(Phoenix.PubSub, MyApp.PubSub.Adapter) |> Enum.count(&(node(&1) != node()))',
      );
      return n === 1;
    }, 'the bridge to join the pool group');
    await app.eval(driver, 'Phoenix.PubSub.broadcast(MyApp.PubSub, "room:lobby", {:new_msg, "hi"})');
    const header = readFileSync(`${ROOT}examples/pubsub-bridge.ts`, 'utf8');
    const expected = /^ \* +stdout: (.*)$/m.exec(header)![1]!;
    await run.waitForOutput(expected, 30_000);
    run.child.kill('SIGINT');
    assert.equal((await run.exited).code, 0, run.stderr);
  },
);
