/**
 * Runs inside a test host's network namespace (test/distribution/containers.test.ts starts it there):
 * a TS node that talks to OTP nodes in containers by `ContainerID@HostIP` names through `eid
 * daemon`, then cuts the link between the hosts and reports the nodedown. Prints one JSON line.
 *
 * Usage: node --import tsx test/distribution/probe.ts '{"name":..,"cookie":..,"targets":[..],"cut":{"device":..,"target":..}}'
 */
import { execFileSync } from 'node:child_process';
import { Node } from '../../src/distribution/node.ts';
import { formatTerm } from '../../src/etf/format.ts';
import { atom, Atom, Tuple, tuple, type Term } from '../../src/etf/terms.ts';

interface Config {
  name: string;
  cookie: string;
  targets: string[];
  /** Take this link down and wait for `target`'s nodedown (needs the host's network namespace). */
  cut?: { device: string; target: string };
  /** Listen on this port (default: Node's, which is the node port 12345 inside a container). */
  port?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const out: Record<string, unknown> = {};
const node = await Node.start({
  name: config.name,
  cookie: config.cookie,
  netTicktime: 4,
  ...(config.port === undefined ? {} : { port: config.port }),
});
/**
 * The remote process of the DOWN check waits at this gate (in rpc:call to js:hold) until it is
 * monitored, then exits normally: alive for as long as the monitor takes to arrive, however slow.
 */
let gate = Promise.resolve();
let openGate: () => void = () => undefined;
node.expose('js', {
  hello: (who) => Buffer.from(`hello ${formatTerm(who)} from ts`),
  hold: async () => {
    await gate;
    return atom('ok');
  },
});
try {
  for (const target of config.targets) {
    const r: Record<string, unknown> = {};
    out[target] = r;
    const before = node.signalCounts();
    r.ping = await node.ping(target);
    // net_kernel's gen:reply goes to our alias: ALIAS_SEND, or ALTACT_SIG_SEND from OTP 28+.
    const after = node.signalCounts();
    r.aliasReplies = {
      alias_send: (after['alias_send'] ?? 0) - (before['alias_send'] ?? 0),
      altact_sig: (after['altact_sig'] ?? 0) - (before['altact_sig'] ?? 0),
    };
    const release = (await node.rpc(target, 'erlang', 'system_info', [atom('otp_release')])) as number[];
    r.release = String.fromCharCode(...release);
    const sent = tuple(atom('ok'), 2n ** 70n, Buffer.alloc(200_000, 3), [atom('a'), 1.5]);
    r.echo =
      formatTerm((await node.rpc(target, 'erlang', 'list_to_tuple', [[sent]])) as Term) ===
      formatTerm(tuple(sent));
    // The target calls js:hello back on this node, through rpc:call and erpc:call.
    const callBack = async (module: 'rpc' | 'erpc') =>
      Buffer.from(
        (await node.rpc(target, module, 'call', [
          atom(node.name),
          atom('js'),
          atom('hello'),
          [atom(module)],
        ])) as Uint8Array,
      ).toString();
    r.rpcBack = await callBack('rpc');
    r.erpcBack = await callBack('erpc');
    const down = await new Promise<Term>((resolve) => {
      node.spawn(async (self) => {
        gate = new Promise<void>((opened) => (openGate = opened));
        const hold = [atom(node.name), atom('js'), atom('hold'), []];
        const pid = (await node.rpc(target, 'erlang', 'spawn', [atom('rpc'), atom('call'), hold])) as Term;
        self.monitor(pid as Tuple);
        openGate();
        resolve(
          await self.receive(
            (m) => m instanceof Tuple && m.elements[0] instanceof Atom && m.elements[0].name === 'DOWN',
            30_000,
          ),
        );
      });
    });
    r.down = formatTerm((down as Tuple).elements[4] as Term);
  }
  const cut = config.cut;
  if (cut !== undefined) {
    const started = Date.now();
    const downed = new Promise<{ node: string; reason: string }>((resolve) =>
      node.on('nodedown', (n, info) => {
        if (n === cut.target) resolve({ node: n, reason: info.reason });
      }),
    );
    execFileSync('ip', ['link', 'set', cut.device, 'down']);
    const d = await downed;
    out.cut = { ...d, seconds: (Date.now() - started) / 1000 };
  }
} catch (err) {
  out.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
} finally {
  await node.stop();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
