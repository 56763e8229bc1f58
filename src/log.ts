/**
 * The one logging entry of the code base: levels, and one line per event as JSON or human-readable
 * text, on pino. Log text often comes from peers (node names, atoms, reasons), so control
 * characters never reach the output raw: an ESC in a peer's name must not drive the operator's
 * terminal.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export const LogLevels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LogLevels;
/** `auto`: pretty on a terminal, JSON lines otherwise (a journal, a pipe, a container log). */
export type LogFormat = 'json' | 'pretty' | 'auto';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** `pretty` by default. */
  format?: LogFormat;
  /** Where lines go (without their newline); standard error by default. */
  write?: (line: string) => void;
  /** Fields added to every line (component name, for instance). */
  base?: LogFields;
}

/* eslint-disable no-control-regex -- these patterns exist to find control characters */
/** C0 controls (ESC among them), DEL, C1 controls, and the Unicode line and paragraph separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
/** What a key must not hold to go into pino's JSON unquoted. */
const UNSAFE_KEY = /["\\\u0000-\u001f]/;
/* eslint-enable no-control-regex */

/** `text` with every control character written as a `\uXXXX` escape (valid inside JSON strings too). */
export function escapeControls(text: string): string {
  return CONTROL.test(text)
    ? text.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    : text;
}

/** The format `auto` stands for in this process. */
export function resolveLogFormat(format: LogFormat = 'auto'): 'json' | 'pretty' {
  return format === 'auto' ? (process.stderr.isTTY ? 'pretty' : 'json') : format;
}

/** A field as the JSON line shows it: errors by their message, bigints as strings (pino would write `{}` and a bare number), keys pino would write unescaped made JSON-safe. */
function safeField(key: string, value: unknown): [string, unknown] {
  return [
    UNSAFE_KEY.test(key) ? JSON.stringify(key).slice(1, -1) : key,
    value instanceof Error ? value.message : typeof value === 'bigint' ? value.toString() : value,
  ];
}

function loggable(fields: LogFields): LogFields {
  let changed = false;
  const entries = Object.entries(fields).map(([key, value]) => {
    const field = safeField(key, value);
    changed ||= field[0] !== key || field[1] !== value;
    return field;
  });
  return changed ? Object.fromEntries(entries) : fields;
}

function prettyValue(value: unknown): string {
  if (typeof value === 'string')
    return /\s/.test(value) || value === '' || CONTROL.test(value)
      ? escapeControls(JSON.stringify(value))
      : value;
  return escapeControls(JSON.stringify(value) ?? String(value));
}

/** One JSON line as `TIME LEVEL msg key=value...` (a tiny stand-in for pino-pretty). */
function prettyLine(json: string): string {
  const { time, level, msg, ...rest } = JSON.parse(json) as Record<string, unknown>;
  const fields = Object.entries(rest)
    .map(([k, v]) => ` ${escapeControls(k)}=${prettyValue(v)}`)
    .join('');
  return `${String(time)} ${String(level).toUpperCase().padEnd(5)} ${escapeControls(String(msg))}${fields}`;
}

const noop = (): void => undefined;

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const format = resolveLogFormat(options.format ?? 'pretty');
  const out = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const destination = {
    write(chunk: string): void {
      const json = chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk;
      // pino escapes C0 controls in strings; DEL, C1 and the separators it leaves raw.
      out(format === 'json' ? escapeControls(json) : prettyLine(json));
    },
  };
  const logger: PinoLogger = pino(
    {
      level,
      base: options.base === undefined ? null : loggable(options.base),
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }), log: loggable },
    },
    destination,
  );
  // Disabled levels are plain no-ops: a debug line on the lookup path costs a call, nothing more.
  const at = (name: Exclude<LogLevel, 'silent'>) =>
    logger.isLevelEnabled(name) ? (msg: string, fields?: LogFields) => logger[name](fields ?? {}, msg) : noop;
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
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
