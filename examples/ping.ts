/**
 * Ping an Erlang node and call a function on it.
 *
 *   erl -name app@127.0.0.1 -setcookie secret        # in another terminal
 *   node --import tsx examples/ping.ts app@127.0.0.1 secret
 */
import { Node, atom } from '../src/index.ts';

const [target = 'app@127.0.0.1', cookie = 'secret'] = process.argv.slice(2);
// EID_PORT: the port to listen on (default: any free port).
const node = await Node.start({
  name: 'example_ping@127.0.0.1',
  cookie,
  port: Number(process.env['EID_PORT'] ?? 0),
});
try {
  console.log('ping:', (await node.ping(target)) ? 'pong' : 'pang');
  console.log('node:', await node.rpc(target, 'erlang', 'node', []));
  const release = (await node.rpc(target, 'erlang', 'system_info', [atom('otp_release')])) as number[];
  console.log('otp release:', String.fromCharCode(...release)); // a char list in Erlang
} finally {
  await node.stop();
}
