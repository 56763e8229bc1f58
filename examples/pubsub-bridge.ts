/**
 * A Phoenix.PubSub bridge: relays one topic of an Elixir app's PubSub to stdout, one JSON line per
 * message, until stopped (Ctrl-C).
 *
 *   iex --name phoenix@127.0.0.1 --cookie secret -S mix phx.server      # the app; its PubSub: MyApp.PubSub
 *   node --import tsx examples/pubsub-bridge.ts phoenix@127.0.0.1 secret MyApp.PubSub room:lobby
 *
 *   iex> Phoenix.PubSub.broadcast(MyApp.PubSub, "room:lobby", {:new_msg, "hi"})
 *   stdout: {"topic":"room:lobby","message":"{new_msg,<<\"hi\">>}"}
 *
 * Swap `console.log` for a WebSocket server's `send` to push the topic to browsers.
 */
import { Node, formatTerm } from '../src/index.ts';

const [app = 'phoenix@127.0.0.1', cookie = 'secret', pubsubName = 'MyApp.PubSub', topic = 'room:lobby'] =
  process.argv.slice(2);
// EID_PORT: the port to listen on (default: any free port).
const node = await Node.start({
  name: 'pubsub_bridge@127.0.0.1',
  cookie,
  port: Number(process.env['EID_PORT'] ?? 0),
});
// Same name and pool size as the app's `{Phoenix.PubSub, name: MyApp.PubSub}` child.
const pubsub = node.pubsub(pubsubName, { poolSize: 1 });
pubsub.subscribe(topic, (message) => {
  console.log(JSON.stringify({ topic, message: formatTerm(message) }));
});
if (!(await node.ping(app))) {
  console.error(`cannot reach ${app}`);
  process.exit(1);
}
console.error(`bridging ${topic} of ${pubsubName} on ${app}`);

const stop = async () => {
  await node.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
