/**
 * The nsqd flags say which of nsqd's addresses they take (--nsqd-tcp, --nsqd-http) on every
 * ci command; the old names still work, hidden, with one warning each.
 */
import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';

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
