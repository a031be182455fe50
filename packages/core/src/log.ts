// A tiny structured logger shared by every Ambit process: one JSON object per line
// ({time, level, msg, ...fields}) on a writable, stdout by default. Lines below the configured
// level cost one comparison. Written by hand: pino would do, but this is 60 lines and the design
// keeps dependencies to the listed libraries.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Readonly<Record<string, unknown>>;

/** Where lines go: anything with write(string), e.g. process.stdout or a PassThrough in tests. */
export interface LogSink {
  write(line: string): unknown;
}

export interface Logger {
  readonly level: LogLevel;
  enabled(level: LogLevel): boolean;
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. {component: 'ztunnel'}). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  out?: LogSink;
  now?: () => number;
  fields?: LogFields;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const out = opts.out ?? process.stdout;
  const now = opts.now ?? Date.now;
  const base = opts.fields ?? {};
  const min = RANK[level];

  const log = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[lvl] < min) return;
    const line = { time: new Date(now()).toISOString(), level: lvl, msg, ...base, ...fields };
    out.write(JSON.stringify(line, replaceErrors) + '\n');
  };
  return {
    level,
    enabled: (lvl) => RANK[lvl] >= min,
    log,
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    child: (fields) => createLogger({ level, out, now, fields: { ...base, ...fields } }),
  };
}

/** Errors serialize as {name, code, message}; JSON.stringify would print {} for them. */
function replaceErrors(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, ...(code === undefined ? {} : { code }), message: value.message };
  }
  return value;
}
