/**
 * The lines `ci up` shows for its children: the lxcts services log pino JSON (one object a
 * line, for machines), which reads badly on a terminal. A JSON log line becomes
 * `LEVEL message key=value ...`; any other line is shown as it came.
 */

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every line has, or that the prefix already says. */
const OMITTED = new Set(['level', 'time', 'pid', 'hostname', 'component', 'msg', 'v']);

function show(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  // pino's error serializer: the message says enough on a terminal (the JSON log has the stack).
  if (value !== null && typeof value === 'object' && 'message' in value && typeof value.message === 'string') return JSON.stringify(value.message);
  return JSON.stringify(value);
}

export function readableLine(line: string): string {
  if (!line.startsWith('{"level":')) return line;
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof record.level !== 'number' || typeof record.msg !== 'string') return line;
  const level = (LEVELS[record.level] ?? String(record.level)).padEnd(5);
  const fields = Object.entries(record)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => `${key}=${show(value)}`);
  return [level, record.msg, ...fields].join(' ');
}
