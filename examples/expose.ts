/**
 * Serve JavaScript functions to Erlang: rpc:call/erpc:call from any node land here.
 *
 *   node --import tsx examples/expose.ts secret
 *   erl -name app@127.0.0.1 -setcookie secret
 *   1> rpc:call('js@127.0.0.1', calc, add, [1, 2]).          % 3
 *   2> erpc:call('js@127.0.0.1', calc, upper, [<<"abc">>]).   % <<"ABC">>
 */
import { Node } from '../src/index.ts';

const [cookie = 'secret'] = process.argv.slice(2);
const node = await Node.start({ name: 'js@127.0.0.1', cookie, port: Number(process.env['EID_PORT'] ?? 0) });
node.expose('calc', {
  add: (a, b) => (a as number) + (b as number),
  upper: (s) =>
    Buffer.from(
      Buffer.from(s as Uint8Array)
        .toString()
        .toUpperCase(),
    ),
});
node.on('nodeup', (n) => console.log('nodeup', n));
node.on('nodedown', (n, { reason }) => console.log('nodedown', n, reason));
console.log(`${node.name} listening on port ${node.port}; Ctrl-C to stop`);
process.once('SIGINT', () => void node.stop());
