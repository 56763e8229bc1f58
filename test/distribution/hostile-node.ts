/**
 * The TypeScript node hostile.test.ts attacks, run in a process of its own with
 * `--unhandled-rejections=strict`: anything that escapes as an unhandled rejection ends it.
 * Usage: hostile-node.ts NAME PORT EPMD_PORT COOKIE. Prints READY once registered.
 */
import { Node } from '../../src/distribution/node.ts';
import { ProcessExit } from '../../src/distribution/errors.ts';
import type { Term } from '../../src/etf/terms.ts';
import { createLogger } from '../../src/log.ts';

const [name, port, epmdPort, cookie] = process.argv.slice(2);
const node = await Node.start({
  name: name!,
  cookie: cookie!,
  port: Number(port),
  epmd: { port: Number(epmdPort) },
  logger: createLogger({ level: 'warn' }),
});
/** Values JavaScript functions return that have no Erlang term, typed away as a careless caller would. */
const noTerm = (value: unknown): Term => value as Term;
node.expose('greeter', {
  hello: (who) => Buffer.from(`hello ${String(who)}`),
  nothing: () => noTerm(undefined),
  nested_undefined: () => [1, noTerm(undefined)],
  null_value: () => noTerm(null),
  a_function: () => noTerm(() => 1),
  a_symbol: () => noTerm(Symbol('s')),
  exit_nan: () => {
    throw new ProcessExit(NaN);
  },
  rejects_with_nothing: () => Promise.reject(noTerm(undefined)),
});
process.stdout.write('READY\n');
