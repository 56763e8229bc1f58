/**
 * The Node.js member of `npm run demo`: a TypeScript Erlang node in a container, named like the
 * Erlang ones (`ContainerHostname@HostIP`, node port 12345 published with -p). It pings every
 * Erlang node, has one of them call back into JavaScript with rpc:call, prints what it sees, and
 * stops. Usage (inside the container): node --import tsx scripts/demo-node.ts COOKIE NODE...
 */
import { hostname } from 'node:os';
import { Node, atom } from '../src/index.ts';

const [cookie, ...targets] = process.argv.slice(2);
const hostIp = process.env['HOST_IP'];
if (cookie === undefined || hostIp === undefined || targets.length === 0) {
  console.error('usage: HOST_IP=... demo-node.ts COOKIE NODE...');
  process.exit(2);
}

// In a container the node listens on 12345 and registers nowhere: the host's eid daemon finds it.
const node = await Node.start({ name: `${hostname()}@${hostIp}`, cookie });
node.expose('demo', {
  hello: (from) => Buffer.from(`hello ${String(from)}, from Node.js ${process.version}`),
});
try {
  for (const target of targets) {
    console.log(`${node.name} pinged ${target}: ${(await node.ping(target)) ? 'pong' : 'pang'}`);
  }
  const [first] = targets;
  // The Erlang node calls back into this node: rpc:call(ThisNode, demo, hello, [node()]).
  const reply = await node.rpc(first!, 'rpc', 'call', [
    atom(node.name),
    atom('demo'),
    atom('hello'),
    [atom(first!)],
  ]);
  console.log(
    `${first} called rpc:call('${node.name}', demo, hello, [...]) -> ${Buffer.from(reply as Uint8Array).toString()}`,
  );
  console.log(`nodes() on ${node.name}: ${node.nodes().sort().join(' ')}`);
} finally {
  await node.stop();
}
