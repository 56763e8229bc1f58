/** `eid daemon`: runs until SIGINT or SIGTERM. */
import { EidError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { Daemon } from '../daemon/daemon.ts';
import { DAEMON_USAGE, parseDaemonArgs } from '../daemon/options.ts';

export async function runDaemon(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(DAEMON_USAGE);
    return 0;
  }
  let settings;
  try {
    settings = parseDaemonArgs(args, process.env);
  } catch (err) {
    if (!(err instanceof EidError)) throw err;
    process.stderr.write(`eid daemon: ${err.message}\n\n${DAEMON_USAGE}`);
    return 2;
  }
  const logger = createLogger({
    level: settings.logLevel,
    format: settings.logFormat,
    base: { component: 'eid' },
  });
  let daemon: Daemon;
  try {
    // The constructor reads the clusters' certificate files: an unusable one stops the daemon here.
    daemon = new Daemon({ ...settings, logger });
    await daemon.start();
  } catch (err) {
    logger.error('cannot start', { error: err });
    return 1;
  }
  logger.info('daemon started', {
    port: daemon.server.port,
    ...(settings.inherited === undefined ? {} : { socketActivation: true }),
    docker: settings.docker,
    nodePort: settings.nodePort,
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info('stopping', { signal });
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    void daemon.server.closed.then(() => stop('epmd closed'));
  });
  await daemon.stop();
  return 0;
}
