/**
 * Logs of the CI services: one pino logger per component. JSON lines (one object a line,
 * for log shippers and `jq`) unless stdout is a terminal, where a person reads them: then
 * one readable line each, `HH:MM:SS.mmm LEVEL component message key=value ...`.
 *
 * The terminal format is ours, not pino-pretty's: pino-pretty adds a dozen packages (most
 * for its own command line: help-me, joycon, minimist, dateformat) to print what the few
 * lines below print, and it formats in a worker thread unless told otherwise.
 *
 * The level: `--log-level` of a service command, else LXCTS_LOG_LEVEL, else info.
 */
import pino from 'pino';

export type Logger = pino.Logger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Fields every line has, shown in the line's own places rather than as key=value. */
const PLACED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component', 'v']);
const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLOURS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };

function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** LXCTS_LOG_LEVEL when it names a level; info otherwise (a typo must not silence a service). */
export function environmentLogLevel(): LogLevel {
  const value = process.env.LXCTS_LOG_LEVEL?.trim().toLowerCase();
  return value && isLogLevel(value) ? value : 'info';
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  // pino's error serializer: the message says enough on a terminal (the JSON log keeps the stack).
  if (value !== null && typeof value === 'object' && 'message' in value && typeof value.message === 'string') return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}

export interface ReadableLineOptions {
  /** ANSI colour on the level. */
  colour: boolean;
  /** The line goes after a component's prefix (`ci up`'s): no time and no component. */
  underPrefix?: boolean;
}

/**
 * One of pino's JSON lines as a person reads it (without a line end); any other line,
 * a child's own output for instance, comes back as it is.
 */
export function readableLogLine(line: string, o: ReadableLineOptions): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (
    entry === null ||
    typeof entry !== 'object' ||
    !('level' in entry) ||
    typeof entry.level !== 'number' ||
    !('msg' in entry) ||
    typeof entry.msg !== 'string'
  ) {
    return line;
  }
  const fields: Record<string, unknown> = entry;
  const level = entry.level;
  const name = (LEVEL_NAMES[level] ?? String(level)).padEnd(5);
  const shown = o.colour ? `\x1b[${LEVEL_COLOURS[level] ?? '0'}m${name}\x1b[0m` : name;
  const rest = Object.entries(fields)
    .filter(([key]) => !PLACED.has(key))
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  const time = typeof fields.time === 'number' && !o.underPrefix ? new Date(fields.time).toISOString().slice(11, 23) : '';
  const component = typeof fields.component === 'string' && !o.underPrefix ? fields.component : '';
  return [time, shown, component, entry.msg, ...rest].filter((part) => part !== '').join(' ');
}

/** `readableLogLine` with its line end, for a pino destination. */
export function prettyLogLine(line: string, colour: boolean): string {
  return `${readableLogLine(line.replace(/\n$/, ''), { colour })}\n`;
}

/** Readable lines on stdout, when it is a terminal (undefined: pino's own JSON to stdout). */
function terminal(): pino.DestinationStream | undefined {
  const out = process.stdout;
  if (!out.isTTY) return undefined;
  // NO_COLOR (no-color.org) asks for no colour; the line stays readable without it.
  const colour = !process.env.NO_COLOR;
  return { write: (line: string) => void out.write(prettyLogLine(line, colour)) };
}

const options: pino.LoggerOptions = { level: environmentLogLevel(), base: { pid: process.pid } };
const tty = terminal();
// Each component's child sets its own level (loggerFor).
const root = tty ? pino(options, tty) : pino(options);

/** The logger of `component`, at `level` (default: LXCTS_LOG_LEVEL, else info). */
export function loggerFor(component: string, level: LogLevel = environmentLogLevel()): Logger {
  return root.child({ component }, { level });
}
