/**
 * `eid remsh` as an operator uses it: from one Docker host, into OTP 25, 27 and 29 nodes in
 * containers on the other host, by ContainerID@HostIP through that host's eid daemon. The
 * interactive shell is driven in a real terminal (tmux): typing, a multi-line expression, Tab
 * completion, an exception, Ctrl-C, the confirmation of q(), then Ctrl-G q, and the node is still
 * alive after. Then --eval and piped input with their exit statuses, the commands of
 * docs/operating.md, and a node that goes away in the middle of a session.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { upHosts, type NodeContainer, type TestHosts } from '../harness/hosts.ts';
import { Processes, waitFor, type Outcome } from '../support/processes.ts';
import { operatorHome, remshDocCommands, shellIn, Tmux, type Terminal } from './remsh-harness.ts';

const SET = 20;
const COOKIE = 'eidremshcookie';
const tmux = new Tmux('remsh');

let hosts: TestHosts;
const nodes: Record<'otp25' | 'otp27' | 'otp29', NodeContainer> = {} as never;
/** Nodes the last test ends: one removed under the session, one stopped by a confirmed q(). */
const ending: Record<'doomed' | 'stopped', NodeContainer> = {} as never;
/** A HOME whose ~/.erlang.cookie holds the cookie, and a bin/ with `eid` for the docs' commands. */
let home: string;
const processes = new Processes();

before(
  async () => {
    await tmux.check();
    hosts = await upHosts(SET);
    const images = Promise.all([hosts.h2.image('otp27'), hosts.h2.image('otp29')]);
    await hosts.h2.startDaemon();
    const [otp25, otp27, otp29, doomed, stopped] = await Promise.all([
      hosts.h2.startNode({ cookie: COOKIE, image: 'eid-otp25' }),
      images.then(() => hosts.h2.startNode({ cookie: COOKIE, image: 'eid-otp27' })),
      images.then(() => hosts.h2.startNode({ cookie: COOKIE, image: 'eid-otp29' })),
      hosts.h2.startNode({ cookie: COOKIE, image: 'eid-otp25' }),
      hosts.h2.startNode({ cookie: COOKIE, image: 'eid-otp25' }),
    ]);
    Object.assign(nodes, { otp25, otp27, otp29 });
    Object.assign(ending, { doomed, stopped });
    home = await operatorHome(COOKIE);
  },
  { timeout: 1_800_000 },
);

after(async () => {
  await tmux.stop();
  await processes.stopAll();
  await hosts?.down(); // stops the daemon too
  if (home !== undefined) await rm(home, { recursive: true, force: true });
});

/** A shell command line run in host 1's network namespace, `eid` on its PATH, HOME with the cookie file. */
function inHost1(script: string): string[] {
  return shellIn(hosts.h1, home, script, { COOKIE });
}

function sh(script: string): Promise<Outcome> {
  const [command, ...args] = inHost1(script);
  return processes.spawn(command!, args).outcome();
}

/** A terminal (a tmux session) running `script` in host 1's namespace; the pane stays after it exits. */
function openTerminal(name: string, script: string): Promise<Terminal> {
  return tmux.start(name, inHost1(script));
}

/** The interactive session the issue asks for, on one node; returns the final screen. */
async function session(t: Terminal, node: string): Promise<string> {
  const prompt = (n: number) => new RegExp(`\\(${node.replaceAll('.', '\\.')}\\)${n}> ?$`, 'm');
  await t.see(prompt(1), 'the first prompt');
  await t.type('node().', 'Enter');
  await t.see(new RegExp(`^'${node.replaceAll('.', '\\.')}'$`, 'm'), 'the node name');
  await t.see(prompt(2), 'prompt 2');
  // Multi-line: the first line alone is no expression; the scanner's continuation goes round.
  await t.type('lists:seq(1,', 'Enter');
  await t.see(/lists:seq\(1,\n.*2> ?$/m, 'the continuation prompt');
  await t.type('3).', 'Enter');
  await t.see(/^\[1,2,3\]$/m, 'the multi-line result');
  await t.see(prompt(3), 'prompt 3');
  await t.type('lists:rev', 'Tab');
  await t.see(/3> lists:reverse\($/m, 'lists:rev completed to lists:reverse(');
  await t.type('[a,b]).', 'Enter');
  await t.see(/^\[b,a\]$/m, 'the completed call evaluated');
  await t.see(prompt(4), 'prompt 4');
  await t.type('1/0.', 'Enter');
  await t.see(
    /^\*\* exception error: an error occurred when evaluating an arithmetic expression$/m,
    'the exception',
  );
  await t.see(prompt(5), 'prompt 5 after the exception');
  await t.type('receive never -> ok end.', 'Enter');
  await t.see(/receive never -> ok end\.\n/, 'the blocking expression sent');
  await t.type('', 'C-c');
  await t.see(/^\*\* exception exit: killed$/m, 'Ctrl-C interrupted the evaluation');
  await t.see(prompt(6), 'prompt 6 after the interrupt');
  await t.type('q().', 'Enter');
  await t.see(/stops .*\. Send it\? \[y\/N\] $/m, 'the confirmation question');
  await t.type('n', 'Enter');
  await t.see(/^Not sent\.\n.*6> ?$/m, 'q() not sent');
  await t.type('', 'C-g');
  await t.see(/User switch command/, 'the user switch prompt');
  await t.type('q', 'Enter');
  await t.see(/^\[remsh exited 0\]$/m, 'eid remsh left with status 0');
  return t.screen();
}

/** Whether `node` answers (through host 2's daemon, from host 1). */
async function alive(node: string): Promise<boolean> {
  const ping = await sh(`eid ping ${node} --cookie "$COOKIE"`);
  return ping.code === 0 && ping.stdout === 'pong\n';
}

test(
  'interactive sessions on OTP 25, 27 and 29 in containers on the other host: typing, multi-line, Tab, an exception, Ctrl-C, q() confirmation, Ctrl-G q; the nodes live on',
  { timeout: 300_000 },
  async () => {
    // OTP 25 by the docs' own command line (cookie from --cookie), OTP 27 with the cookie from
    // ~/.erlang.cookie, OTP 29 with --cookie.
    const [interactive] = await remshDocCommands('', nodes.otp25.node);
    assert.equal(interactive, `eid remsh ${nodes.otp25.node} --cookie "$COOKIE"`);
    const terminals = await Promise.all([
      openTerminal('otp25', interactive!),
      openTerminal('otp27', `eid remsh ${nodes.otp27.node}`),
      openTerminal('otp29', `eid remsh ${nodes.otp29.node} --cookie "$COOKIE"`),
    ]);
    const [s25, s27, s29] = await Promise.all([
      session(terminals[0]!, nodes.otp25.node),
      session(terminals[1]!, nodes.otp27.node),
      session(terminals[2]!, nodes.otp29.node),
    ]);
    assert.match(s25, /^Erlang\/OTP 25 /m);
    assert.match(s27, /^Erlang\/OTP 27 /m);
    assert.match(s29, /^Erlang\/OTP 29 /m);
    const answers = await Promise.all(Object.values(nodes).map((n) => alive(n.node)));
    assert.deepEqual(answers, [true, true, true], 'every node still answers');
  },
);

test(
  '--eval and piped input: values printed, io:format output passed through, exit 1 with the error at an exception',
  { timeout: 120_000 },
  async () => {
    const node = nodes.otp29.node;
    const ok = await sh(
      `eid remsh ${node} --cookie "$COOKIE" --eval 'X = 6, io:format("side ~p~n", [X]), X * 7.'`,
    );
    assert.deepEqual(ok, { code: 0, stdout: 'side 6\n42\n', stderr: '' });
    const piped = await sh(`printf 'A = 1.\\nB = A +\\n  1.\\n{A, B, node()}.\\n' | eid remsh ${node}`);
    assert.deepEqual(piped, { code: 0, stdout: `1\n2\n{1,2,'${node}'}\n`, stderr: '' });
    const boom = await sh(`printf 'ok.\\nerlang:error(boom).\\nnever_evaluated.\\n' | eid remsh ${node}`);
    assert.deepEqual(boom, { code: 1, stdout: 'ok\n', stderr: '** exception error: boom\n' });
    const syntax = await sh(`eid remsh ${node} --eval 'foo(.'`);
    assert.equal(syntax.code, 1);
    assert.match(syntax.stderr, /^\*\* syntax error: /);
    const halt = await sh(`eid remsh ${node} --eval 'halt().'`);
    assert.equal(halt.code, 2);
    assert.match(halt.stderr, /would stop .* add --yes/);
    assert.ok(await alive(node));
  },
);

test("docs/operating.md's remsh commands run as written", { timeout: 120_000 }, async () => {
  const commands = await remshDocCommands('Without a terminal', nodes.otp27.node);
  assert.equal(commands.length, 3);
  const [release, processes, failing] = await Promise.all(commands.map((c) => sh(c)));
  assert.deepEqual(release, { code: 0, stdout: '"27"\n', stderr: '' });
  assert.deepEqual(processes, { code: 0, stdout: 'true\n', stderr: '' });
  assert.equal(failing!.code, 0);
  assert.equal(failing!.stdout, 'failed with 1\n');
  assert.equal(failing!.stderr, '** exception error: boom\n');
});

test(
  'a node that goes away mid-session: a clear message and exit status 3, no hang; a confirmed q() stops the node and exits 0',
  { timeout: 120_000 },
  async () => {
    const { doomed, stopped } = ending;
    const gone = await openTerminal('doomed', `eid remsh ${doomed.node} --cookie "$COOKIE"`);
    const asked = await openTerminal('stopped', `eid remsh ${stopped.node} --cookie "$COOKIE"`);
    await Promise.all([
      (async () => {
        await gone.see(/1> ?$/m, 'the first prompt');
        await hosts.h2.docker(['rm', '-f', doomed.id]);
        await gone.see(/the connection to .* was lost/, 'the lost-connection message');
        await gone.see(/^\[remsh exited 3\]$/m, 'exit status 3');
      })(),
      (async () => {
        await asked.see(/1> ?$/m, 'the first prompt');
        await asked.type('q().', 'Enter');
        await asked.see(/Send it\? \[y\/N\] ?$/m, 'the confirmation question');
        await asked.type('y', 'Enter');
        await asked.see(/stopped, as asked/, 'the node stopped');
        await asked.see(/^\[remsh exited 0\]$/m, 'exit status 0');
        // remsh ends at the nodedown, which comes while the stopping VM is still shutting down:
        // its container exits a moment later (much later on a loaded machine).
        await waitFor(
          async () =>
            (await hosts.h2.docker(['inspect', '-f', '{{.State.Running}}', stopped.id])) === 'false',
          'q() to stop the node, and its container with it',
          60_000,
        );
      })(),
    ]);
  },
);
