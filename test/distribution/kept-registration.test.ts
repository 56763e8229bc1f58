/**
 * A TS node's EPMD registration outlives its EPMD: after a stock epmd is killed and started again
 * on the same port (a restarted `eid daemon`, say), the node registers again by itself, as an OTP
 * node does (erl_epmd retries every 2 s), keeping its creation. docs/node.md, "EPMD".
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Node } from '../../src/distribution/node.ts';
import { epmdPortPlease } from '../../src/epmd/client.ts';
import { PortSlices, portAllocator } from '../support/ports.ts';
import { Processes, startStockEpmd, waitFor } from '../support/processes.ts';

const nextPort = portAllocator(PortSlices.distribution.registration);
const processes = new Processes();
const nodes: Node[] = [];

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await processes.stopAll();
});

/** Whether the epmd on `epmdPort` answers for `alive` with `port`. */
function registeredAt(alive: string, port: number, epmdPort: number): Promise<boolean> {
  return epmdPortPlease(alive, '127.0.0.1', { epmdPort, timeoutMs: 1000 }).then(
    (entry) => entry.port === port,
    () => false,
  );
}

test('a node registers again, with its creation, after its epmd is killed and started again', async () => {
  const epmdPort = await nextPort();
  let epmd = await startStockEpmd(processes, epmdPort);
  const node = await Node.start({ name: 'kept_reg@127.0.0.1', cookie: 'kept', epmd: { port: epmdPort } });
  nodes.push(node);
  const creation = node.creation;
  assert.equal(await registeredAt('kept_reg', node.port, epmdPort), true);

  for (let restart = 1; restart <= 2; restart++) {
    await epmd.kill('SIGKILL');
    epmd = await startStockEpmd(processes, epmdPort);
    await waitFor(
      () => registeredAt('kept_reg', node.port, epmdPort),
      `the node registered again after restart ${restart}`,
      20_000,
    );
  }
  assert.equal(node.creation, creation, 'the node keeps the creation its pids carry');
});
