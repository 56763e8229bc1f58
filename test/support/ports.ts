/**
 * TCP ports for tests that listen in the root network namespace. Each area owns a range and each
 * test file a slice of it, so files running in parallel (one process each) never collide; the
 * allocator also skips ports something else on the machine holds. Below: the TCP probes tests share.
 */
import net from 'node:net';
import { waitFor } from './processes.ts';

export type PortSlice = readonly [from: number, to: number];

/** EPMD 43000-43999, daemon 44000-44999, distribution 45000-45999, later areas 46000+; bench takes the top of each. */
export const PortSlices = {
  epmd: {
    server: [43000, 43199],
    otp: [43200, 43499],
    cli: [43500, 43699],
    client: [43700, 43799],
    limits: [43800, 43849],
    restart: [43850, 43899],
    bench: [43900, 43999],
  },
  daemon: {
    daemon: [44300, 44399],
    env: [44400, 44499],
  },
  distribution: {
    otp: [45000, 45099],
    guard: [45100, 45199],
    elixir: [45200, 45249],
    hostile: [45250, 45299],
    faults: [45300, 45379],
    registration: [45380, 45399],
    cluster: [45400, 45499],
    cli: [45500, 45599],
    containers: [45600, 45699],
    api: [45700, 45799],
    // test/cli/docs.test.ts and test/examples.test.ts run erl nodes through the distribution Fixture.
    cliDocs: [45800, 45849],
    examples: [45850, 45899],
    bench: [45900, 45999],
  },
  /** TLS distribution (TS node and stock nodes). */
  tls: {
    node: [46000, 46099],
    cli: [46100, 46149],
    stock: [46150, 46199],
    bench: [46200, 46299],
  },
  /** pg, Phoenix.PubSub, global, JS terms and backpressure on the TS node. */
  groups: {
    pg: [46300, 46399],
    pubsub: [46400, 46449],
    global: [46450, 46499],
    terms: [46500, 46549],
    backpressure: [46550, 46599],
  },
  /** Packaging, socket activation, Compose and metrics. */
  deploy: {
    install: [46600, 46649],
    activation: [46650, 46699],
    metrics: [46700, 46749],
    /** An Elixir release with TLS distribution on the machine (test/deploy/release.test.ts). */
    release: [46750, 46799],
  },
  /** remsh, the cluster page and eid status. */
  operator: {
    remsh: [46800, 46899],
    page: [46900, 46949],
    status: [46950, 46999],
  },
  /** Self-forming clusters: membership endpoints in the root namespace, eid status. */
  clusters: {
    daemon: [47000, 47099],
    status: [47100, 47199],
    tls: [47200, 47299],
    /** test/daemon/peer-hosts.test.ts: a peer host's membership endpoint on 127.0.0.1. */
    peerHosts: [47350, 47359],
  },
  /** Reading with `onread` on the connections a TS node dials. */
  receivePath: { onread: [47300, 47349] },
  /** npm run soak (never npm test). */
  soak: {
    /** soak/lib.ts takes 44600-44699, soak/fragments.ts 44700-44749. */
    load: [44600, 44749],
    docker: [44750, 44799],
  },
} as const satisfies Record<string, Record<string, PortSlice>>;

/**
 * Whether a listener can take `port` on `host` now. Only "in use" and "not permitted" say no: a
 * machine without IPv6 refuses '::' for another reason and does not make the port busy.
 */
export function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', (err: NodeJS.ErrnoException) =>
      resolve(err.code !== 'EADDRINUSE' && err.code !== 'EACCES'),
    );
    s.listen({ port, host, ipv6Only: host === '::' }, () => s.close(() => resolve(true)));
  });
}

/** Hands out ports of `slice` free on all IPv4 and IPv6 interfaces, each at most once per process. */
export function portAllocator(slice: PortSlice): () => Promise<number> {
  const [from, to] = slice;
  let next = from;
  return async () => {
    while (next <= to) {
      const port = next++;
      if ((await canBind(port, '0.0.0.0')) && (await canBind(port, '::'))) return port;
    }
    throw new Error(`no free port left in ${from}-${to}`);
  };
}

/** Whether something at host:port accepts a TCP connection (closed again at once). */
export function connectable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export function waitForListening(port: number): Promise<void> {
  return waitFor(() => connectable('127.0.0.1', port), `a listener on port ${port}`);
}
