/**
 * A TCP relay that records what it forwards, for the wire check of test/tls/stock.test.ts. It runs
 * inside a node's container, on the port eid daemon hands out for that node (its eid.port label),
 * in front of the node's own listener, and appends each connection's bytes to DIR/N.in (from the
 * dialling peer) and DIR/N.out (from the node), synchronously, before forwarding them.
 *
 *   node --import tsx stock-relay.ts LISTEN_PORT NODE_PORT DIR
 */
import { appendFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

const [listenPort, nodePort, dir] = process.argv.slice(2);
let connections = 0;

net
  .createServer((peer) => {
    const id = ++connections;
    const node = net.connect(Number(nodePort), '127.0.0.1');
    const forward = (from: net.Socket, to: net.Socket, file: string) => {
      from.on('data', (chunk: Buffer) => {
        appendFileSync(join(dir!, `${id}.${file}`), chunk);
        to.write(chunk);
      });
      from.on('end', () => to.end());
    };
    forward(peer, node, 'in');
    forward(node, peer, 'out');
    const close = () => {
      peer.destroy();
      node.destroy();
    };
    peer.on('error', close);
    node.on('error', close);
    peer.on('close', close);
    node.on('close', close);
  })
  .listen(Number(listenPort), () => console.log(`relay on ${listenPort}`));
