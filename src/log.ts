// Owns the proxy's log output: leveled, structured lines to stderr (JSON, or pretty for a person), written synchronously, secrets masked.
import { pino } from 'pino';
import { prettyFactory } from 'pino-pretty';
import type { Config, LogLevel } from './config.ts';
import { maskUrlPasswords } from './mask.ts';

/** Facts about an event, logged as fields next to the message: plain values and objects, or an Error under `err`. */
export type LogFields = Readonly<Record<string, unknown>>;

/** What the rest of the code logs through; no module imports pino itself, and tests can pass their own. */
export interface Logger {
  /** For the failures the process exits on. */
  fatal(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  /** Whether `level` is written. The level is fixed at start, so a busy path can ask once and skip building lines. */
  isLevelEnabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  /** Least severe level written. Default info. */
  level?: LogLevel;
  /** One JSON object per line, or pino-pretty's one line per event for a person. Default json. */
  format?: 'json' | 'pretty';
  /** Pretty only: colour the level and message (for a terminal). Default false. */
  colorize?: boolean;
  /** Where each finished line (ending in a newline) goes. Default: written to stderr (fd 2) before the call returns. */
  write?: (line: string) => void;
  /** Fields on every line (a worker's `worker: id`, so that the operator can tell the processes' lines apart). */
  bindings?: LogFields;
}

/** Field names whose values are secrets wherever they appear: logged as `***`. */
const SECRET_FIELD = /^(password|pass|secret|token|auth)$/i;

/** Fields are copied this deep; deeper objects are logged as `[…]` (nothing the proxy logs nests further). */
const MAX_DEPTH = 4;

/**
 * A copy of `value` that is safe to log: passwords in URLs and secret-named fields hidden, Errors as
 * their type, message, code and stack (JSON would drop all but the enumerable fields).
 */
function safe(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return maskUrlPasswords(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return '[…]';
  if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code;
    return {
      type: value.name,
      message: maskUrlPasswords(value.message),
      ...(code === undefined ? {} : { code }),
      ...(value.stack === undefined ? {} : { stack: maskUrlPasswords(value.stack) }),
    };
  }
  if (Array.isArray(value)) return value.map((item) => safe(item, depth + 1));
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = SECRET_FIELD.test(key) && item !== undefined && item !== null ? '***' : safe(item, depth + 1);
  }
  return copy;
}

/**
 * Why no pino transport: transports run in a worker thread and lose the lines still queued when
 * `process.exit()` runs. JSON goes to stderr through sonic-boom in sync mode (a write per line, retried
 * on EAGAIN); pretty lines are made by pino-pretty's formatter in this thread and written the same way.
 */
export function createLogger({ level = 'info', format = 'json', colorize = false, write, bindings }: LoggerOptions = {}): Logger {
  const sink = write ? { write } : pino.destination({ dest: 2, sync: true });
  let destination = sink;
  if (format === 'pretty') {
    const prettify = prettyFactory({ colorize, singleLine: true, ignore: 'pid,hostname', translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l' });
    destination = { write: (line: string) => sink.write(prettify(line)) };
  }
  const root = pino(
    {
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      // Level names, not pino's numbers: what LOG_LEVEL takes, and readable without a lookup table.
      formatters: { level: (label) => ({ level: label }) },
      // `err` is already a plain object (safe() made it); pino's serializer would rename its type to Object.
      serializers: { err: (err: unknown) => err },
    },
    destination,
  );
  const logger = bindings === undefined ? root : root.child(safe(bindings, 0) as object);

  const noop = () => {};
  const at = (name: 'fatal' | 'error' | 'warn' | 'info' | 'debug') => {
    if (!logger.isLevelEnabled(name)) return noop;
    return (message: string, fields?: LogFields) => {
      if (fields === undefined) logger[name](maskUrlPasswords(message));
      else logger[name](safe(fields, 0) as object, maskUrlPasswords(message));
    };
  };
  return {
    fatal: at('fatal'),
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    isLevelEnabled: (name) => logger.isLevelEnabled(name),
  };
}

/** LOG_FORMAT resolved: auto is pretty when stderr is a terminal (a person is watching), else JSON (a collector is). */
export const resolveLogFormat = (format: 'json' | 'pretty' | 'auto', stderrIsTTY: boolean): 'json' | 'pretty' =>
  format === 'auto' ? (stderrIsTTY ? 'pretty' : 'json') : format;

/** The process's logger as the settings ask for it, with `bindings` on every line (a worker's id). */
export function processLogger(config: Config, bindings?: LogFields): Logger {
  return createLogger({
    level: config.logLevel,
    format: resolveLogFormat(config.logFormat, process.stderr.isTTY === true),
    colorize: process.stderr.isTTY === true && !('NO_COLOR' in process.env),
    ...(bindings ? { bindings } : {}),
  });
}

/** A bug must not take the proxy down with every client on it: log it and keep serving. */
export function logUncaughtErrors(log: Logger): void {
  process.on('uncaughtException', (err) => log.error(`uncaught exception: ${err.message}`, { event: 'internal_error', err }));
  process.on('unhandledRejection', (err) => log.error(`unhandled rejection: ${(err as Error)?.message ?? String(err)}`, { event: 'internal_error', err }));
}
