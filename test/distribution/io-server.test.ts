/**
 * The TS group leader (src/distribution/io-server.ts) against a real OTP 25 node: the stock io
 * module's calls (io:format, io:read, io:get_line, io:columns, io:setopts...) and raw
 * io:request/2 with the protocol's old and odd forms, made on the Erlang node with our pid as
 * the device. The terminal is a script of lines and a record of output. Then random requests:
 * every one gets exactly one reply, and nothing escapes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { IoServer, IoTerminal } from '../../src/distribution/io-server.ts';
import type { Node } from '../../src/distribution/node.ts';
import { DistError } from '../../src/errors.ts';
import { formatTerm } from '../../src/etf/format.ts';
import { atom, Tuple, tuple, type Term } from '../../src/etf/terms.ts';
import { termArb } from '../etf/arbitraries.ts';
import { fuzzing } from '../fuzz.ts';
import { PortSlices } from '../support/ports.ts';
import { Fixture, run, type ErlNode } from './helpers.ts';

const f = new Fixture([PortSlices.operator.remsh[0], PortSlices.operator.remsh[0] + 49]);
let erl: ErlNode;
let node: Node;

before(async () => {
  await f.startEpmd();
  erl = await f.startErl('io_server_otp');
  node = await f.startNode('io_server_ts', { hidden: true });
});

after(() => f.cleanup());

/** A scripted terminal: lines to give, and what was shown (prompts marked). */
class Script implements IoTerminal {
  shown = '';
  prompts: string[] = [];
  constructor(
    private readonly lines: string[],
    private readonly size: { columns: number; rows: number } | null = { columns: 100, rows: 30 },
  ) {}
  write(text: string): void {
    this.shown += text;
  }
  readLine(prompt: string): Promise<string | undefined> {
    this.prompts.push(prompt);
    return Promise.resolve(this.lines.shift());
  }
  geometry(): { columns: number; rows: number } | undefined {
    return this.size ?? undefined;
  }
}

/** Calls io:Function(Args) on the Erlang node; `device` stands for our server's pid in args. */
function io(server: IoServer, fn: string, args: Term[]): Promise<Term> {
  return node.rpc(erl.name, 'io', fn, [server.pid, ...args]);
}

const chars = (s: string): number[] => [...s].map((c) => c.codePointAt(0)!);
const ok = atom('ok');

test('put_chars in every form: unicode, latin1, io_lib M:F:A, the old untagged forms, lists of requests', async () => {
  const term = new Script([]);
  const server = node.ioServer(term);
  assert.deepEqual(await io(server, 'put_chars', [chars('héllo ☃ ')]), ok);
  assert.deepEqual(
    await io(server, 'format', [chars('~p ~ts~n'), [atom('x'), Buffer.from('ü', 'utf8')]]),
    ok,
  );
  const req = (r: Term) => io(server, 'request', [r]);
  assert.deepEqual(await req(tuple(atom('put_chars'), atom('latin1'), Buffer.from([0xe9, 0x20]))), ok);
  assert.deepEqual(await req(tuple(atom('put_chars'), chars('old '))), ok);
  assert.deepEqual(
    await req(tuple(atom('put_chars'), atom('io_lib'), atom('format'), [chars('~w '), [7]])),
    ok,
  );
  const two = [
    tuple(atom('put_chars'), atom('unicode'), chars('a')),
    tuple(atom('put_chars'), atom('unicode'), [Buffer.from('b')]),
  ];
  assert.deepEqual(await req(tuple(atom('requests'), two)), ok);
  assert.equal(term.shown, 'héllo ☃ x ü\né old 7 ab');
});

test('bad requests get {error, _} replies, as io expects', async () => {
  const server = node.ioServer(new Script([]));
  const req = (r: Term) => io(server, 'request', [r]);
  assert.equal(formatTerm(await req(tuple(atom('put_chars'), atom('unicode'), [-1]))), '{error,put_chars}');
  assert.equal(
    formatTerm(await req(tuple(atom('put_chars'), atom('latin1'), [0x2603]))),
    '{error,put_chars}',
  );
  assert.equal(formatTerm(await req(atom('nonsense'))), '{error,request}');
  assert.equal(formatTerm(await req(tuple(atom('get_password'), atom('unicode')))), '{error,enotsup}');
  assert.equal(formatTerm(await io(server, 'setopts', [[tuple(atom('bogus'), 1)]])), '{error,enotsup}');
  // io:format with arguments that do not fit: the M:F:A fails where it runs, the caller gets badarg.
  await assert.rejects(io(server, 'format', [chars('~p ~p'), [1]]), /badarg/);
});

test('input: io:read over two lines (get_until with erl_scan:tokens, the continuation round-tripped), the rest kept, get_chars, binary mode, eof', async () => {
  const term = new Script(['{a,', ' "ü"}. rest', 'hello', 'xyz']);
  const server = node.ioServer(term);
  assert.equal(formatTerm(await io(server, 'read', [chars('P> ')])), '{ok,{a,[252]}}');
  assert.deepEqual(term.prompts, ['P> ', 'P> ']);
  // The scanner's dot token took the whitespace after it.
  assert.deepEqual(await io(server, 'get_line', [chars('L> ')]), chars('rest\n'));
  assert.deepEqual(term.prompts, ['P> ', 'P> '], 'the rest was taken without asking for a line');
  assert.deepEqual(await io(server, 'get_chars', [chars(''), 3]), chars('hel'));
  assert.deepEqual(await io(server, 'get_line', [chars('')]), chars('lo\n'));
  assert.deepEqual(await io(server, 'setopts', [[atom('binary')]]), ok);
  assert.deepEqual(
    Buffer.from((await io(server, 'get_line', [chars('')])) as Uint8Array),
    Buffer.from('xyz\n'),
  );
  assert.deepEqual(await io(server, 'get_line', [chars('')]), atom('eof'));
  assert.deepEqual(await io(server, 'read', [chars('')]), atom('eof'));
});

test('prompts as {format, F, A} and atoms are formatted; get_geometry, getopts and setopts', async () => {
  const term = new Script(['one', 'two']);
  const server = node.ioServer(term);
  await io(server, 'get_line', [tuple(atom('format'), chars('~w> '), [7])]);
  await io(server, 'get_line', [atom('prompt')]);
  assert.deepEqual(term.prompts, ['7> ', 'prompt']);
  assert.equal(formatTerm(await io(server, 'columns', [])), '{ok,100}');
  assert.equal(formatTerm(await io(server, 'rows', [])), '{ok,30}');
  assert.deepEqual(
    await io(server, 'setopts', [
      [tuple(atom('encoding'), atom('latin1')), tuple(atom('line_history'), false)],
    ]),
    ok,
  );
  assert.equal(
    formatTerm(await io(server, 'getopts', [])),
    '[{binary,false},{encoding,latin1},{echo,true},{line_history,false}]',
  );
  const plain = node.ioServer(new Script([], null));
  assert.equal(formatTerm(await node.rpc(erl.name, 'io', 'columns', [plain.pid])), '{error,enotsup}');
});

test(
  'fuzz: any request gets exactly one io_reply, and nothing escapes the server',
  { timeout: 120_000 },
  async () => {
    const { runs, replay } = fuzzing('IO_SERVER_FUZZ_SEED', 0x10, DistError);
    const server = node.ioServer(new Script(['line one', 'line two']));
    const names = [
      'put_chars',
      'get_line',
      'get_until',
      'get_chars',
      'setopts',
      'getopts',
      'requests',
      'get_geometry',
    ];
    const request = fc.oneof(
      termArb,
      fc
        .tuple(fc.constantFrom(...names), fc.array(termArb, { maxLength: 5 }))
        .map(([n, args]) => new Tuple([atom(n), ...args])),
    );
    const requests = fc.sample<Term>(request, runs(300) as fc.Parameters<Term>);
    await run(node, async (self) => {
      for (const [i, r] of requests.entries()) {
        node.send(server.pid, tuple(atom('io_request'), self.pid, i, r), self.pid);
        const reply = await self.receive(undefined, 30_000);
        assert.ok(
          reply instanceof Tuple && reply.elements[1] === i,
          `one reply to ${formatTerm(r)} (${replay})`,
        );
      }
      assert.equal(self.queueLength, 0, replay);
    });
    assert.ok(server.process.alive);
  },
);
