/**
 * `eid remsh node@host`: an Erlang shell running on node@host, like `erl -remsh`, with no Erlang
 * here. A hidden TS node starts `shell:start()` on the target the way OTP's remsh does (an rpc
 * whose group leader is ours, so the shell and its evaluators do their I/O through us) and
 * serves the I/O protocol for the terminal (src/distribution/io-server.ts).
 */
import { BadRpcError } from '../distribution/errors.ts';
import { chardataText } from '../distribution/io-server.ts';
import type { Node } from '../distribution/node.ts';
import { isAtom } from '../distribution/process.ts';
import { formatTerm } from '../etf/format.ts';
import { atom, Pid, Tuple, type ErlMap, type Term } from '../etf/terms.ts';
import { cliError, runCommand } from './command.ts';
import { NODE_OPTIONS_USAGE, connectCliNode, parseNodeCommand, startCliNode } from './ping.ts';
import { evaluate, mentionsNodeStop } from './remsh-eval.ts';
import { HISTORY_ENTRIES, HISTORY_ENV, HistoryFile, historyPath } from './remsh-history.ts';
import { ReadlineTerminal } from './remsh-terminal.ts';

export const usage = `Usage: eid remsh node@host [options]

An Erlang shell running on node@host, as erl -remsh gives, with no Erlang installed here.
This side connects as a hidden node; leaving never stops the remote node.

Keys: Tab completes (module and function names, from the node); Ctrl-C interrupts the
running evaluation; Ctrl-G opens the user switch prompt (q leaves, i interrupts, c returns);
Ctrl-D on an empty line leaves. q(), init:stop() and halt() stop the remote node, so they are
sent only after you confirm. Up and Down recall lines, also those of earlier sessions: the last
${HISTORY_ENTRIES} are kept in $${HISTORY_ENV}, else $XDG_STATE_HOME/eid/remsh_history, else
~/.local/state/eid/remsh_history (mode 0600). --no-history or ${HISTORY_ENV}= (empty) turn
that file off.

With --eval, or with standard input not a terminal, the expressions are evaluated on the node
one after another (bindings carry over), each value is printed, and the command exits 0, or 1
with the error on standard error at the first exception. Exit 3: the connection to the node
was lost.

Options:
  --eval EXPRS      evaluate EXPRS (for example 'node().') instead of reading them
  --yes             allow q(), halt() and init:stop() in --eval or piped input
  --no-history      keep no history file: Up recalls this session's lines only
${NODE_OPTIONS_USAGE}  --timeout MS      connection timeout in milliseconds (default 7000)
  --help            show this help
`;

/** Exit status when the connection to the node is lost. */
export const EXIT_CONNECTION_LOST = 3;

export function run(args: string[]): Promise<number> {
  return runCommand('remsh', async () => {
    const parsed = parseNodeCommand(args, usage, {
      eval: { type: 'string' },
      yes: { type: 'boolean' },
      'no-history': { type: 'boolean' },
    } as const);
    if (parsed === undefined) return 0;
    const { values, target } = parsed;
    const interactive = values.eval === undefined && process.stdin.isTTY && process.stdout.isTTY;
    const text = interactive ? '' : (values.eval ?? (await readStdin()));
    if (!interactive && values.yes !== true && mentionsNodeStop(text))
      throw cliError(
        `the expressions would stop ${target} (q(), halt(), init:stop()); add --yes to send them`,
      );
    const { node, timeoutMs } = await startCliNode(target, values);
    try {
      await connectCliNode(node, target, values);
      if (!interactive) return await batch(node, target, text);
      const path = values['no-history'] === true ? undefined : historyPath();
      return await shell(node, target, timeoutMs, path === undefined ? undefined : new HistoryFile(path));
    } finally {
      await node.stop();
    }
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Non-interactive: evaluate `text`, output of the node's processes to stdout as it comes. */
async function batch(node: Node, target: string, text: string): Promise<number> {
  const server = node.ioServer({
    write: (s) => process.stdout.write(s),
    readLine: () => Promise.resolve(undefined),
    geometry: () => undefined,
  });
  const lost = new Promise<number>((resolve) =>
    node.on('nodedown', (down) => {
      if (down === target) resolve(EXIT_CONNECTION_LOST);
    }),
  );
  const status = await Promise.race([
    evaluate(
      node,
      target,
      text,
      server.pid,
      (s) => process.stdout.write(s),
      (s) => process.stderr.write(s),
    ),
    lost,
  ]);
  if (status === EXIT_CONNECTION_LOST) process.stderr.write(`** the connection to ${target} was lost\n`);
  return status;
}

/** The interactive shell; resolves to the exit status when the user leaves or the node goes away. */
async function shell(
  node: Node,
  target: string,
  timeoutMs: number,
  history: HistoryFile | undefined,
): Promise<number> {
  const version = await node.rpc(target, 'erlang', 'system_info', [atom('system_version')], timeoutMs);
  const expandArity = await completionArity(node, target, timeoutMs);
  let finish: (status: number, message?: string) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    let over = false;
    finish = (status, message) => {
      if (over) return;
      over = true;
      if (message !== undefined) process.stderr.write(message);
      resolve(status);
    };
  });
  let shellPid: Pid | undefined;
  /** A confirmed q(), halt() or init:stop() went out: the end of the connection is what was asked. */
  let stopping = false;
  const terminal = new ReadlineTerminal(
    process.stdin,
    process.stdout,
    target,
    {
      interrupt: () => {
        if (shellPid !== undefined) node.exitSignal(server.pid, shellPid, atom('interrupt'));
      },
      leave: () => finish(0),
      stopConfirmed: () => (stopping = true),
      complete: (before) => complete(node, target, expandArity, before, timeoutMs),
    },
    history,
  );
  const lost = () =>
    stopping
      ? finish(0, `\n*** ${target} stopped, as asked\n`)
      : finish(EXIT_CONNECTION_LOST, `\n*** the connection to ${target} was lost; the shell there is gone\n`);
  const server = node.ioServer(terminal, {
    onMessage: (m) => {
      if (!(m instanceof Tuple) || m.length !== 3 || !isAtom(m.elements[0], 'EXIT')) return;
      const [, from, reason] = m.elements as [Term, Term, Term];
      if (!(from instanceof Pid) || shellPid === undefined || from.id !== shellPid.id) return;
      if (isAtom(reason, 'noconnection')) lost();
      else finish(1, `\n*** the shell on ${target} exited: ${formatTerm(reason)}\n`);
    },
  });
  server.process.trapExit = true;
  node.on('nodedown', (down) => {
    if (down === target) lost();
  });
  try {
    process.stdout.write(`${chardataText(version, 'unicode')}`);
    const started = await node.rpc(target, 'shell', 'start', [], timeoutMs, { groupLeader: server.pid });
    if (!(started instanceof Pid))
      throw cliError(`shell:start() on ${target} returned ${formatTerm(started)}`);
    shellPid = started;
    node.link(server.process, started);
    return await finished;
  } catch (err) {
    if (err instanceof BadRpcError) throw cliError(`cannot start a shell on ${target}: ${err.message}`);
    throw err;
  } finally {
    terminal.close();
  }
}

/** edlin_expand:expand/2 (OTP 26 on) or expand/1: which one the target has. */
async function completionArity(node: Node, target: string, timeoutMs: number): Promise<1 | 2> {
  await node.rpc(target, 'code', 'ensure_loaded', [atom('edlin_expand')], timeoutMs);
  const two = await node.rpc(
    target,
    'erlang',
    'function_exported',
    [atom('edlin_expand'), atom('expand'), 2],
    timeoutMs,
  );
  return two === true ? 2 : 1;
}

/** Tab: the target's edlin_expand on the text before the cursor (which it takes reversed). */
async function complete(
  node: Node,
  target: string,
  arity: 1 | 2,
  before: string,
  timeoutMs: number,
): Promise<{ insert: string; matches: string[] }> {
  const reversed = [...before].reverse().map((c) => c.codePointAt(0)!);
  const args: Term[] = arity === 2 ? [reversed, []] : [reversed];
  const result = await node.rpc(target, 'edlin_expand', 'expand', args, timeoutMs);
  if (!(result instanceof Tuple) || result.length < 3) return { insert: '', matches: [] };
  return {
    insert: chardataText(result.elements[1] as Term, 'unicode'),
    matches: matchNames(result.elements[2] as Term),
  };
}

/** edlin_expand's candidates: {Name, Arity}, names, or (OTP 26 on) sections #{elems => [...]}. */
export function matchNames(matches: Term): string[] {
  if (!Array.isArray(matches)) return [];
  return matches.flatMap((m): string[] => {
    if (m instanceof Map) {
      const elems = [...(m as ErlMap)].find(([k]) => isAtom(k, 'elems'))?.[1];
      return elems === undefined ? [] : matchNames(elems);
    }
    if (m instanceof Tuple && m.length >= 2) {
      const name = textOf(m.elements[0] as Term);
      const arity = m.elements[1];
      return [typeof arity === 'number' ? `${name}/${arity}` : name];
    }
    return [textOf(m)];
  });
}

function textOf(t: Term): string {
  try {
    return chardataText(t, 'unicode');
  } catch {
    return formatTerm(t);
  }
}
