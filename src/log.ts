/** A small structured logger: levels, and one line per event as JSON or human-readable text. */

export const LogLevels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LogLevels;
export type LogFormat = 'json' | 'pretty';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; standard error by default. */
  write?: (line: string) => void;
  /** Fields added to every line (component name, for instance). */
  base?: LogFields;
}

function pretty(value: unknown): string {
  if (typeof value === 'string') return /\s/.test(value) || value === '' ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = LogLevels[options.level ?? 'info'];
  const format = options.format ?? 'pretty';
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const base = options.base ?? {};
  const emit = (level: Exclude<LogLevel, 'silent'>, msg: string, fields: LogFields = {}) => {
    if (LogLevels[level] < threshold) return;
    const time = new Date().toISOString();
    const all = { ...base, ...fields };
    if (format === 'json') {
      write(
        JSON.stringify({ time, level, msg, ...all }, (_k, v: unknown) =>
          typeof v === 'bigint' ? v.toString() : v instanceof Error ? v.message : v,
        ),
      );
    } else {
      const rest = Object.entries(all)
        .map(([k, v]) => ` ${k}=${pretty(v)}`)
        .join('');
      write(`${time} ${level.toUpperCase().padEnd(5)} ${msg}${rest}`);
    }
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

/** A logger that drops everything (library default: libraries stay quiet unless given a logger). */
export const silentLogger: Logger = createLogger({ level: 'silent' });
