/**
 * Busy polling after reads (src/distribution/busy-poll.ts, NodeOptions.busyPollMicros): the
 * poller keeps the event loop turning only while a window after the last read is open, stops
 * re-arming once it has passed (so an idle node never spins), and a node reports its reads to it
 * unless told not to. The clock and the scheduler are stepped by hand; nothing here is timed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BusyPoll,
  busyPoll,
  DEFAULT_BUSY_POLL_MICROS,
  isBusyPollWindow,
  MAX_BUSY_POLL_MICROS,
} from '../../src/distribution/busy-poll.ts';
import { DistError, Node, Pid, StaticResolver, Tuple, atom, tuple } from '../../src/index.ts';
import { waitFor } from '../support/processes.ts';

/** A poller on a clock and a queue of scheduled spins that the test advances. */
function stepped() {
  let now = 0;
  const queue: (() => void)[] = [];
  const poller = new BusyPoll(
    () => now,
    (spin) => queue.push(spin),
  );
  return {
    poller,
    queue,
    /** Sets the clock (ms) and runs the spins scheduled so far, as one turn of the loop would. */
    turn(at: number): void {
      now = at;
      for (const spin of queue.splice(0)) spin();
    },
  };
}

describe('BusyPoll', () => {
  test('without a read, or with a window of 0, nothing is scheduled', () => {
    const { poller, queue } = stepped();
    poller.touch(0);
    poller.touch(-20);
    poller.touch(NaN);
    assert.equal(queue.length, 0);
    assert.equal(poller.spinning, false);
  });

  test('keeps re-arming while the window after the read is open, then stops by itself', () => {
    const { poller, queue, turn } = stepped();
    poller.touch(20);
    poller.touch(20);
    assert.equal(queue.length, 1, 'reads in one turn arm the poller once');
    assert.equal(poller.spinning, true);
    turn(1); // the window opens at the first spin: until 1.020 ms
    assert.equal(queue.length, 1);
    turn(1.015);
    assert.equal(queue.length, 1, 'still inside the window');
    turn(1.021);
    assert.equal(queue.length, 0, 'past the window: no spin left, the loop may sleep');
    assert.equal(poller.spinning, false);
    turn(5);
    assert.equal(queue.length, 0);
  });

  test('a read inside the window extends it; the longest window asked for counts', () => {
    const { poller, queue, turn } = stepped();
    poller.touch(20);
    turn(1); // until 1.020
    poller.touch(50);
    poller.touch(10);
    assert.equal(queue.length, 1, 'already armed: no second chain');
    turn(1.01); // until 1.060
    turn(1.055);
    assert.equal(queue.length, 1);
    turn(1.061);
    assert.equal(poller.spinning, false);
  });

  test(`a window is capped at ${MAX_BUSY_POLL_MICROS} µs`, () => {
    const { poller, turn } = stepped();
    poller.touch(1e9);
    turn(0);
    turn(MAX_BUSY_POLL_MICROS / 1000 - 0.001);
    assert.equal(poller.spinning, true);
    turn(MAX_BUSY_POLL_MICROS / 1000 + 0.001);
    assert.equal(poller.spinning, false);
  });

  test('on the real event loop the chain ends by itself', async () => {
    const poller = new BusyPoll();
    poller.touch(DEFAULT_BUSY_POLL_MICROS);
    assert.equal(poller.spinning, true);
    await waitFor(() => !poller.spinning, 'the poller to stop after its window', 5000);
  });

  test('accepted windows: integers from 0 to the maximum', () => {
    for (const ok of [0, 1, DEFAULT_BUSY_POLL_MICROS, MAX_BUSY_POLL_MICROS]) assert.ok(isBusyPollWindow(ok));
    for (const bad of [-1, 1.5, MAX_BUSY_POLL_MICROS + 1, NaN, Infinity]) assert.ok(!isBusyPollWindow(bad));
  });
});

describe('NodeOptions.busyPollMicros', () => {
  test('a window out of range is refused before the node listens', async () => {
    for (const busyPollMicros of [-1, 2.5, MAX_BUSY_POLL_MICROS + 1, NaN]) {
      await assert.rejects(
        Node.start({ name: 'bp_bad@127.0.0.1', cookie: 'bp', epmd: { register: false }, busyPollMicros }),
        (err: unknown) => err instanceof DistError && err.code === 'DIST_BADARG',
      );
    }
  });

  /**
   * Two nodes on free ports; the sender sends two messages, the receiver says whether the poller
   * was armed when the second arrived. With `reply` the receiver answers the first before the
   * second comes: an exchange; without, the two are a one-way stream.
   */
  async function armedOnSecondDelivery(
    receiverMicros: number | undefined,
    reply: boolean,
    tag: string,
  ): Promise<boolean> {
    const resolver = new StaticResolver({});
    const common = { cookie: 'bp', resolver, epmd: { register: false }, listenHost: '127.0.0.1', port: 0 };
    const sender = await Node.start({ ...common, name: `bp_send_${tag}@127.0.0.1`, busyPollMicros: 0 });
    const receiver = await Node.start({
      ...common,
      name: `bp_recv_${tag}@127.0.0.1`,
      ...(receiverMicros === undefined ? {} : { busyPollMicros: receiverMicros }),
    });
    try {
      for (const n of [sender, receiver]) resolver.set(n.name, { host: '127.0.0.1', port: n.port });
      let firstDone = false;
      let armed: boolean | undefined;
      const sink = receiver.spawn(async (self) => {
        const first = await self.receive();
        const back = first instanceof Tuple ? first.at(0) : undefined;
        if (reply && back instanceof Pid) self.send(back, atom('thanks'));
        firstDone = true;
        await self.receive();
        // Delivery runs in the turn of the socket read, before any scheduled spin.
        armed = busyPoll.spinning;
      });
      receiver.register('bp_sink', sink);
      assert.ok(await sender.ping(receiver.name));
      let thanked = false;
      const from = sender.spawn(async (self) => {
        await self.receive();
        thanked = true;
      });
      const to = tuple(atom('bp_sink'), atom(receiver.name));
      from.send(to, tuple(from.pid, atom('hello')));
      await waitFor(() => firstDone && (!reply || thanked), 'the first message (and its answer)', 10_000);
      await waitFor(() => !busyPoll.spinning, 'the window of the first read to pass', 5000);
      from.send(to, tuple(from.pid, atom('again')));
      await waitFor(() => armed !== undefined, 'the second message to arrive', 10_000);
      return armed!;
    } finally {
      await Promise.all([sender.stop(), receiver.stop()]);
    }
  }

  test('by default a read in an exchange (the node sent since its last read) keeps the event loop polling', async () => {
    assert.equal(await armedOnSecondDelivery(undefined, true, 'default'), true);
  });

  test('the reads of a one-way stream do not: nothing was sent since the last read', async () => {
    assert.equal(await armedOnSecondDelivery(undefined, false, 'oneway'), false);
  });

  test('with 0 a node never keeps the loop polling', async () => {
    assert.equal(await armedOnSecondDelivery(0, true, 'off'), false);
  });
});
