/**
 * A registered JavaScript process that answers gen_server:call and gen_server:cast, links to an
 * Erlang process and monitors it.
 *
 *   node --import tsx examples/gen-server.ts secret
 *   erl -name app@127.0.0.1 -setcookie secret
 *   1> gen_server:call({counter, 'counter@127.0.0.1'}, increment).   % 1
 *   2> gen_server:cast({counter, 'counter@127.0.0.1'}, reset).
 *   3> gen_server:call({counter, 'counter@127.0.0.1'}, get).         % 0
 */
import { Node, Tuple, atom, type Term } from '../src/index.ts';

const [cookie = 'secret'] = process.argv.slice(2);
const node = await Node.start({
  name: 'counter@127.0.0.1',
  cookie,
  port: Number(process.env['EID_PORT'] ?? 0),
});
const is = (t: Term | undefined, name: string) => t === atom(name);

const counter = node.spawn(async (self) => {
  let count = 0;
  for (;;) {
    const msg = await self.receive();
    if (!(msg instanceof Tuple)) continue;
    const [kind, a, b] = msg.elements;
    if (is(kind, '$gen_call') && a instanceof Tuple) {
      if (is(b, 'increment')) count++;
      self.reply(a, is(b, 'get') || is(b, 'increment') ? count : atom('unknown_call'));
    } else if (is(kind, '$gen_cast') && is(a, 'reset')) {
      count = 0;
    }
  }
});
node.register('counter', counter);
console.log(`${node.name}: {counter, '${node.name}'} is ready; Ctrl-C to stop`);
process.once('SIGINT', () => void node.stop());
