/**
 * A small structured logger: levels, and one line per event as JSON or human-readable text.
 * Log text often comes from peers (node names, atoms, reasons), so control characters never
 * reach the output raw: an ESC in a peer's name must not drive the operator's terminal.
 */

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

/* eslint-disable no-control-regex -- these patterns exist to find control characters */
/** C0 controls (ESC among them), DEL, C1 controls, and the Unicode line and paragraph separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
/* eslint-enable no-control-regex */

/** `text` with every control character written as a `\uXXXX` escape (valid inside JSON strings too). */
export function escapeControls(text: string): string {
  return CONTROL.test(text)
    ? text.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    : text;
}

const replacer = (_k: string, v: unknown): unknown =>
  typeof v === 'bigint' ? v.toString() : v instanceof Error ? v.message : v;

function pretty(value: unknown): string {
  if (typeof value === 'string')
    return /\s/.test(value) || value === '' || CONTROL.test(value)
      ? escapeControls(JSON.stringify(value))
      : value;
  if (value instanceof Error) return escapeControls(JSON.stringify(value.message));
  return escapeControls(JSON.stringify(value, replacer) ?? String(value));
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
      // JSON.stringify escapes C0 controls; DEL, C1 and the separators it leaves raw.
      write(escapeControls(JSON.stringify({ time, level, msg, ...all }, replacer)));
    } else {
      const rest = Object.entries(all)
        .map(([k, v]) => ` ${escapeControls(k)}=${pretty(v)}`)
        .join('');
      write(`${time} ${level.toUpperCase().padEnd(5)} ${escapeControls(msg)}${rest}`);
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

export interface LogSummaryOptions {
  /** The field the counts go in (`{ reasons: { key: count } }` by default). */
  field?: string;
  /** Log a pending summary this long after the first event counted in it; without, only flush() logs. */
  intervalMs?: number;
  /**
   * Log the first event of each key in an interval at once, in full (`firstMsg` and its fields);
   * the summary then counts only the repeats.
   */
  firstMsg?: string;
}

/**
 * Repeated events counted by key and logged as one `warn` line per interval, so a flood of
 * failures (refused connections, failed handshakes) cannot flood the log.
 */
export class LogSummary {
  private counts = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly field: string;

  constructor(
    private readonly logger: Logger,
    private readonly msg: string,
    private readonly options: LogSummaryOptions = {},
  ) {
    this.field = options.field ?? 'reasons';
  }

  /** Counts one event under `key`, described by `fields` (logged when it is the first with `firstMsg`). */
  count(key: string, fields: LogFields = {}): void {
    const seen = this.counts.get(key);
    const first = this.options.firstMsg;
    if (first !== undefined && seen === undefined) {
      this.counts.set(key, 0);
      this.logger.warn(first, fields);
    } else {
      this.counts.set(key, (seen ?? 0) + 1);
    }
    const interval = this.options.intervalMs;
    if (interval !== undefined && this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), interval);
      this.timer.unref();
    }
  }

  /** Logs what was counted since the last summary, if anything, and starts over. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const counted = [...this.counts].filter(([, n]) => n > 0);
    this.counts = new Map();
    if (counted.length > 0) this.logger.warn(this.msg, { [this.field]: Object.fromEntries(counted) });
  }
}
