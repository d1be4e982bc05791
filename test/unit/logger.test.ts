/**
 * @tier unit
 * The CI services' log lines (src/ci/logger.ts): the readable form a terminal gets, and
 * the level each component logs at.
 */
import { environmentLogLevel, loggerFor, prettyLogLine } from '../../src/ci/logger';

const line = JSON.stringify({
  level: 40,
  time: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
  pid: 7,
  component: 'worker',
  channel: 'docs',
  build: 3,
  err: 'no space left',
  msg: 'build finished',
});

test('a JSON line becomes time, level, component, message and the other fields as key=value', () => {
  expect(prettyLogLine(line, false)).toBe('03:04:05.678 WARN  worker build finished channel=docs build=3 err="no space left"\n');
});

test('colour marks only the level', () => {
  expect(prettyLogLine(line, true)).toBe('03:04:05.678 \x1b[33mWARN \x1b[0m worker build finished channel=docs build=3 err="no space left"\n');
});

test('a line that is not JSON is passed on as it is', () => {
  expect(prettyLogLine('not json', false)).toBe('not json\n');
});

test('the level: given, else LXCTS_LOG_LEVEL, else info (also for a level that does not exist)', () => {
  const saved = process.env.LXCTS_LOG_LEVEL;
  try {
    expect(loggerFor('t', 'warn').isLevelEnabled('info')).toBe(false);
    expect(loggerFor('t', 'debug').isLevelEnabled('debug')).toBe(true);
    process.env.LXCTS_LOG_LEVEL = 'ERROR';
    expect(environmentLogLevel()).toBe('error');
    expect(loggerFor('t').isLevelEnabled('warn')).toBe(false);
    process.env.LXCTS_LOG_LEVEL = 'loud';
    expect(environmentLogLevel()).toBe('info');
    delete process.env.LXCTS_LOG_LEVEL;
    expect(loggerFor('t').level).toBe('info');
  } finally {
    if (saved === undefined) delete process.env.LXCTS_LOG_LEVEL;
    else process.env.LXCTS_LOG_LEVEL = saved;
  }
});
