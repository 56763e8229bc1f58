import { readFileSync } from 'node:fs';

interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

/** Each subcommand lives in its own module, loaded only when it runs. */
const commands: Record<string, Command> = {
  daemon: {
    summary: 'serve EPMD for this Docker host and its containers',
    run: async (args) => (await import('./daemon.ts')).runDaemon(args),
  },
  epmd: {
    summary: 'run an EPMD server in the foreground (a drop-in for epmd)',
    run: async (args) => (await import('./epmd.ts')).run(args),
  },
  names: {
    summary: 'list the names registered at an EPMD, like epmd -names',
    run: async (args) => (await import('./names.ts')).run(args),
  },
  resolve: {
    summary: "print a node's distribution port, asked of its host's EPMD",
    run: async (args) => (await import('./resolve.ts')).run(args),
  },
  ping: {
    summary: 'ping an Erlang node (net_adm:ping) from a hidden TS node',
    run: async (args) => (await import('./ping.ts')).run(args),
  },
  rpc: {
    summary: 'call module:function(args) on an Erlang node (rpc:call)',
    run: async (args) => (await import('./rpc.ts')).run(args),
  },
  remsh: {
    summary: 'an Erlang shell on a remote node, like erl -remsh, with no Erlang here',
    run: async (args) => (await import('./remsh.ts')).run(args),
  },
  status: {
    summary: "show the hosts, containers and nodes the daemon sees, or one cluster's mesh (--cluster)",
    run: async (args) => (await import('./status.ts')).run(args),
  },
};

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`);
  return [
    'eid: Erlang clusters across Docker hosts',
    '',
    'Usage: eid <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  --help     show this help',
    '  --version  show the version',
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = commands[first];
  if (command === undefined) {
    process.stderr.write(`eid: unknown command '${first}'\n\n${usage()}`);
    return 2;
  }
  return command.run(rest);
}
