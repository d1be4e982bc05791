/**
 * The nsqd flags say which of nsqd's addresses they take (--nsqd-tcp, --nsqd-http) on every
 * ci command; the old names still work, hidden, with one warning each. The services log
 * JSON lines, readable ones on a terminal, at the level --log-level or LXCTS_LOG_LEVEL gives.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';
import { ROOT } from './helpers/root';

const ci = new CiSandbox('flags');
afterAll(() => ci.cleanup());
const run = (...args: string[]) => lxcts('/nonexistent', args, { env: { LXCTS_DATA_DIR: ci.data.root } });

test('ci worker: --nsqd and --publish still work as --nsqd-tcp and --nsqd-http, with one warning each', () => {
  // --server is checked after "give --lookupd or --nsqd-tcp": reaching it shows --nsqd was taken as --nsqd-tcp.
  const old = run('ci', 'worker', '--nsqd', '127.0.0.1:4150', '--publish', '127.0.0.1:4151', '--channel', 'x', '--server', 'bad', '--worker-token-file', '/x');
  expect(old.stderr).toContain('--server expects http(s)://HOST:PORT');
  expect(old.stderr.match(/"--nsqd" flag has been deprecated\. Use "--nsqd-tcp" instead/g)).toHaveLength(1);
  expect(old.stderr.replace(/\s+›\s+/g, ' ')).toMatch(/"--publish" flag has been deprecated\. Use "--nsqd-http"\s+instead/);
  const none = run('ci', 'worker', '--channel', 'x', '--server', 'bad', '--worker-token-file', '/x');
  expect(none.stderr).toContain('give --lookupd or --nsqd-tcp');
  const fresh = run(
    'ci',
    'worker',
    '--nsqd-tcp',
    '127.0.0.1:4150',
    '--nsqd-http',
    '127.0.0.1:4151',
    '--channel',
    'x',
    '--server',
    'bad',
    '--worker-token-file',
    '/x',
  );
  expect(fresh.stderr).toContain('--server expects');
  expect(fresh.stderr).not.toContain('deprecated');
});

test('ci webhook: --nsqd still works as --nsqd-http, with one warning', () => {
  const old = run('ci', 'webhook', '--nsqd', '127.0.0.1:4151', '--secret-file', '/nonexistent');
  expect(old.stderr).toContain('the secret file /nonexistent is missing');
  expect(old.stderr.match(/"--nsqd" flag has been deprecated\. Use "--nsqd-http" instead/g)).toHaveLength(1);
});

test('help shows --nsqd-tcp and --nsqd-http, not the old names', () => {
  for (const command of ['webhook', 'worker', 'server']) {
    const help = run('ci', command, '--help').stdout;
    expect(help).toContain('--nsqd-http');
    expect(help).not.toMatch(/--nsqd[ =]|--publish/);
  }
  expect(run('ci', 'worker', '--help').stdout).toContain('--nsqd-tcp');
});

describe('service logs: JSON lines when stdout is not a terminal, readable lines on one', () => {
  // The services' own logger, as each of them uses it; LXCTS_LOG_LEVEL as the environment gives it.
  const script = `const { loggerFor } = require(${JSON.stringify(path.join(ROOT, 'dist', 'ci', 'logger'))});
    const log = loggerFor('worker').child({ channel: 'docs' });
    log.debug('hidden at info'); log.info({ build: 3 }, 'build finished'); log.warn('careful');`;

  test('piped: one JSON object a line, at the level LXCTS_LOG_LEVEL gives', () => {
    const piped = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, LXCTS_LOG_LEVEL: 'info' } });
    const lines = piped.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.level, l.component, l.channel, l.msg])).toEqual([
      [30, 'worker', 'docs', 'build finished'],
      [40, 'worker', 'docs', 'careful'],
    ]);
    const warnOnly = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, LXCTS_LOG_LEVEL: 'warn' } });
    expect(
      warnOnly.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { msg: string }).msg),
    ).toEqual(['careful']);
  });

  test('under a pseudo-terminal (script(1)): readable lines, no JSON', () => {
    const command = `${process.execPath} -e ${shellQuote(script)}`;
    const tty = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, LXCTS_LOG_LEVEL: 'debug', NO_COLOR: '1' } });
    const lines = tty.stdout.replace(/\r/g, '').trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} DEBUG worker hidden at info channel=docs$/);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}worker build finished channel=docs build=3$/);
    expect(lines[2]).toMatch(/ WARN {2}worker careful channel=docs$/);
  });

  test('--log-level takes the levels only, and LXCTS_LOG_LEVEL through it', () => {
    const bad = run('ci', 'webhook', '--log-level', 'loud', '--secret-file', '/nonexistent');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/Expected --log-level=loud to be one of: fatal, error, warn, info, debug, trace, silent/);
    for (const command of ['webhook', 'worker', 'server']) expect(run('ci', command, '--help').stdout).toMatch(/--log-level=<option>/);
  });
});

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
