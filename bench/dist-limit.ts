/**
 * The limit for the distribution rows: the same byte stream over plain TCP between Node and the
 * BEAM, with no distribution protocol on either side. Frames are pre-encoded once; Node writes
 * them into a `gen_tcp` sink, or Node reads them from a `gen_tcp` sender and only counts bytes, or
 * an Erlang echo returns each frame.
 */
import net from 'node:net';
import { once } from 'node:events';
import { encode, type Term } from '../src/etf/index.ts';

/** A pass-through distribution frame (length, 112, control, message) as a peer without an atom cache sends it. */
export function passThroughFrame(control: Term, message: Term): Buffer {
  const body = Buffer.concat([Buffer.from([112]), encode(control), encode(message)]);
  const frame = Buffer.alloc(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/** `count` frames as `times` writes of a chunk of `perChunk` frames (about 64 KiB, as a batching sender writes). */
export function chunked(frame: Buffer, count: number): { chunk: Buffer; perChunk: number; times: number } {
  const perChunk = Math.max(1, Math.min(count, Math.floor(65536 / frame.length)));
  return {
    chunk: Buffer.concat(Array.from({ length: perChunk }, () => frame)),
    perChunk,
    times: Math.ceil(count / perChunk),
  };
}

const connect = async (port: number): Promise<net.Socket> => {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await once(socket, 'connect');
  return socket;
};

/** Node → BEAM: microseconds to write `times` × `chunk` into the `gen_tcp` sink on `port` until it answers. */
export async function writeToSink(port: number, chunk: Buffer, times: number): Promise<number> {
  const socket = await connect(port);
  try {
    const answered = once(socket, 'data');
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < times; i++) if (!socket.write(chunk)) await once(socket, 'drain');
    await answered;
    return Number(process.hrtime.bigint() - t0) / 1000;
  } finally {
    socket.destroy();
  }
}

/**
 * BEAM → Node: microseconds for Node to read `bytes` bytes from the `gen_tcp` sender listening on
 * the port `listen` starts. Node dials it and reads into one buffer of its own (the `onread` socket
 * option): without a buffer allocated per read it reads with a fraction of the CPU time of
 * `'data'` events and up to 1 MiB a read, the most plain Node can take in (docs/performance.md,
 * "Distribution").
 */
export async function readFromBeam(bytes: number, listen: () => Promise<number>): Promise<number> {
  const port = await listen();
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  return new Promise((resolve, reject) => {
    let left = bytes;
    const t0 = process.hrtime.bigint();
    const socket = net.connect({
      port,
      host: '127.0.0.1',
      noDelay: true,
      onread: {
        buffer,
        // Returning false would pause the socket.
        callback: (n) => {
          left -= n;
          if (left <= 0) {
            resolve(Number(process.hrtime.bigint() - t0) / 1000);
            socket.end(Buffer.from([1]));
          }
          return true;
        },
      },
    });
    socket.on('error', reject);
  });
}

/** Node ↔ BEAM: microseconds for `k` sequential round trips of `frame` through the Erlang echo on `port`. */
export async function echoRoundTrips(port: number, frame: Buffer, k: number): Promise<number> {
  const socket = await connect(port);
  try {
    let received = 0;
    let wake: () => void = () => undefined;
    socket.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= frame.length) {
        received -= frame.length;
        wake();
      }
    });
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < k; i++) {
      const back = new Promise<void>((resolve) => (wake = resolve));
      socket.write(frame);
      await back;
    }
    return Number(process.hrtime.bigint() - t0) / 1000;
  } finally {
    socket.destroy();
  }
}
