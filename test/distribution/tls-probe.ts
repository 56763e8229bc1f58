/**
 * Runs in a test host's network namespace (tls-containers.test.ts starts it there): a TS node
 * with TLS distribution, registered with that host's `eid daemon`, against OTP nodes in TLS
 * containers named `ContainerID@HostIP`. Both directions: it dials them, then has each dial it.
 * Prints one JSON line.
 *
 * Usage: node --import tsx test/distribution/tls-probe.ts '{"name":..,"cookie":..,"targets":[..],"tls":{..}}'
 */
import { createHash, randomBytes } from 'node:crypto';
import { Node } from '../../src/distribution/node.ts';
import type { DistributionTlsOptions } from '../../src/distribution/tls-optfile.ts';
import { atom, Tuple, tuple, type Term } from '../../src/etf/terms.ts';

interface Config {
  name: string;
  cookie: string;
  targets: string[];
  tls: DistributionTlsOptions;
}

const MB10 = 10 * 1024 * 1024;
const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const out: Record<string, unknown> = {};
const node = await Node.start({
  name: config.name,
  cookie: config.cookie,
  distributionTls: config.tls,
  connectTimeoutMs: 15_000,
});
node.expose('js', { hello: () => Buffer.from('hello over tls') });
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

try {
  for (const target of config.targets) {
    const r: Record<string, unknown> = {};
    out[target] = r;
    r.ping = await node.ping(target);
    const release = (await node.rpc(target, 'erlang', 'system_info', [atom('otp_release')])) as number[];
    r.release = String.fromCharCode(...release);
    // 10 MB there and back, fragmented both ways.
    const bin = randomBytes(MB10);
    const back = (await node.rpc(target, 'erlang', 'list_to_tuple', [[bin]], 120_000)) as Tuple;
    r.big = md5(back.elements[0] as Uint8Array) === md5(bin);
    // Now the other way: the target dials us (after we drop the connection), and calls back.
    const up = new Promise<string>((resolve) => {
      const onUp = (n: string) => {
        if (n !== target) return;
        node.off('nodeup', onUp);
        resolve(n);
      };
      node.on('nodeup', onUp);
    });
    const mfa = [atom('rpc'), atom('call'), [atom(node.name), atom('js'), atom('hello'), []]];
    await node.rpc(target, 'timer', 'apply_after', [500, ...mfa]);
    node.disconnect(target);
    r.dialledBack = (await up) === target;
    // The target's own 10 MB over the connection it set up.
    const theirs = (await node.rpc(
      target,
      'erlang',
      'list_to_tuple',
      [[tuple(atom('ok'), Buffer.alloc(MB10, 7))]],
      120_000,
    )) as Tuple;
    r.bigOverTheirs =
      md5((theirs.elements[0] as Tuple).elements[1] as Uint8Array) === md5(Buffer.alloc(MB10, 7));
  }
} catch (err) {
  out.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err as Term);
} finally {
  await node.stop();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
