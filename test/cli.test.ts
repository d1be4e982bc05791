import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { binRun, lxcts } from './helpers/cli';
import { Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('cli');
afterAll(() => sandbox.cleanup());
const cli = (...args: string[]) => lxcts(sandbox.lxcpath, args);

/** No network device: test containers must not reach past this machine. */
function isolate(name: string): void {
  expect(cli('config', 'set', name, 'lxc.net', '').status).toBe(0);
  expect(cli('config', 'set', name, 'lxc.net.0.type', 'empty').status).toBe(0);
}

describe('lifecycle commands', () => {
  const name = sandbox.name('web');

  test('create makes a container the lxc tools see, with progress on stderr', () => {
    const r = cli('create', name, '--template', 'busybox');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`Creating ${name} from template busybox... done`);
    expect(execFileSync('lxc-ls', ['-P', sandbox.lxcpath, '-1'], { encoding: 'utf8' }).split('\n')).toContain(name);
    isolate(name);
    expect(cli('config', 'get', name, 'lxc.net.0.type', '--json').json()).toEqual({ name, key: 'lxc.net.0.type', value: 'empty' });
  });

  test('start, list, info, freeze, unfreeze, stop: human output and --json', () => {
    expect(cli('start', name, '--json').json()).toMatchObject({ name, state: 'RUNNING', pid: expect.any(Number) });
    const list = cli('list');
    expect(list.stdout.split('\n')[0]).toMatch(/^NAME +STATE +IPV4 +PID +MEMORY$/);
    expect(list.stdout).toMatch(new RegExp(`^${name} +RUNNING +- +\\d+ +[\\d.]+ (KiB|MiB)$`, 'm'));
    expect(cli('list', '--json').json()).toEqual([expect.objectContaining({ name, state: 'RUNNING' })]);
    expect(cli('list', '--stopped', '--json').json()).toEqual([]);
    expect(cli('list', '--running', '--columns', 'name,pid').stdout.split('\n')[0]).toMatch(/^NAME +PID$/);
    const info = cli('info', name);
    expect(info.stdout).toMatch(/^State: +RUNNING$/m);
    expect(info.stdout).toMatch(/^Memory use: +[\d.]+ (KiB|MiB)$/m);
    expect(cli('info', name, '--json').json()).toMatchObject({ name, state: 'RUNNING', defined: true, cpuNs: expect.any(Number) });
    expect(cli('freeze', name, '--json').json()).toEqual({ name, state: 'FROZEN' });
    expect(cli('unfreeze', name, '--json').json()).toEqual({ name, state: 'RUNNING' });
    // lxc-info agrees with what lxcts did.
    expect(execFileSync('lxc-info', ['-P', sandbox.lxcpath, '-n', name, '-s'], { encoding: 'utf8' })).toMatch(/RUNNING/);
    expect(cli('stop', name, '--kill', '--json').json()).toEqual({ name, state: 'STOPPED', killed: true });
  });

  test('restart, shutdown and stop with a clean halt', () => {
    cli('start', name);
    const restarted = cli('restart', name, '--json').json();
    expect(restarted).toMatchObject({ name, state: 'RUNNING' });
    expect(cli('shutdown', name, '--timeout', '20', '--json').json()).toEqual({ name, state: 'STOPPED' });
    cli('start', name);
    expect(cli('stop', name, '--json').json()).toEqual({ name, state: 'STOPPED', killed: false });
  });

  test('config get reads, config set saves to the config file', () => {
    expect(cli('config', 'get', name, 'lxc.uts.name').stdout.trim()).toBe(name);
    expect(cli('config', 'set', name, 'lxc.start.auto', '1').status).toBe(0);
    expect(execFileSync('grep', ['lxc.start.auto', `${sandbox.lxcpath}/${name}/config`], { encoding: 'utf8' })).toContain('1');
    expect(cli('config', 'get', name, 'lxc.start.auto', '--json').json()).toEqual({ name, key: 'lxc.start.auto', value: '1' });
  });

  test('clone and snapshots', () => {
    const copy = sandbox.name('copy');
    expect(cli('clone', name, copy, '--snapshot', '--backend', 'overlay', '--json').json()).toEqual({ source: name, target: copy, state: 'STOPPED' });
    expect(
      cli('list', '--json')
        .json()
        .map((s: { name: string }) => s.name),
    ).toContain(copy);
    // liblxc will not restore or destroy an origin while overlay clones depend on it.
    expect(cli('destroy', copy, '--json').json()).toEqual({ name: copy, destroyed: true });
    expect(cli('snapshot', 'create', name, '--json').json()).toEqual({ name, snapshot: 'snap0' });
    expect(cli('snapshot', 'list', name).stdout).toMatch(/^snap0 +\d{4}:/m);
    expect(cli('snapshot', 'list', name, '--json').json()).toEqual([expect.objectContaining({ name: 'snap0' })]);
    const restored = sandbox.name('restored');
    expect(cli('snapshot', 'restore', name, 'snap0', '--as', restored, '--json').json()).toEqual({ name, snapshot: 'snap0', restoredAs: restored });
    expect(cli('snapshot', 'delete', name, 'snap0', '--json').json()).toEqual({ name, snapshot: 'snap0', deleted: true });
    expect(cli('destroy', restored).status).toBe(0);
  });

  test('destroy --force stops a running container first', () => {
    cli('start', name);
    const refused = cli('destroy', name);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('(LXC_RUNNING)');
    expect(cli('destroy', name, '--force', '--json').json()).toEqual({ name, destroyed: true });
    expect(cli('list', '--json').json()).toEqual([]);
  });
});

describe('exec and execute pass the exit code through', () => {
  const name = sandbox.name('run');
  beforeAll(() => {
    cli('create', name);
    isolate(name);
  });

  test.each([
    [0, 'exit 0'],
    [3, 'exit 3'],
    [255, 'exit 255'],
    [137, 'kill -KILL $$'],
  ])('execute exits %i for `%s`', (code, script) => {
    expect(cli('execute', name, '--', '/bin/sh', '-c', script).status).toBe(code);
  });

  test.each([
    [0, 'exit 0'],
    [3, 'exit 3'],
    [255, 'exit 255'],
    [137, 'kill -KILL $$'],
  ])('exec exits %i for `%s`', (code, script) => {
    cli('start', name);
    expect(cli('exec', name, '--', '/bin/sh', '-c', script).status).toBe(code);
  });

  test('exec streams stdout and stderr apart, forwards stdin, and applies env, cwd and user', () => {
    const r = lxcts(
      sandbox.lxcpath,
      [
        'exec',
        name,
        '-e',
        'A=1',
        '--cwd',
        '/tmp',
        '--user',
        '1000:1000',
        '--',
        '/bin/sh',
        '-c',
        'read x; echo "$x $A $(pwd) $(id -u):$(id -g)"; echo oops >&2',
      ],
      { input: 'hello\n' },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('hello 1 /tmp 1000:1000\n');
    expect(r.stderr).toBe('oops\n');
  });

  test('exec --json reports status and output', () => {
    const r = cli('exec', name, '--json', '--', '/bin/sh', '-c', 'echo hi; exit 4');
    expect(r.status).toBe(4);
    expect(r.json()).toEqual({ exitCode: 4, signal: null, stdout: 'hi\n', stderr: '' });
    cli('stop', name, '--kill');
    const e = cli('execute', name, '--json', '--', '/bin/sh', '-c', 'echo app');
    expect(e.json()).toEqual({ exitCode: 0, signal: null, stdout: 'app\n', stderr: '' });
  });
});

describe('errors', () => {
  test('an unknown container: message, code, suggestion, exit 1, no stack trace', () => {
    const r = cli('start', 'nosuch');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'Error: container "nosuch" does not exist (LXC_NOT_DEFINED)\nTry: lxcts create nosuch -t busybox, or lxcts list to see what exists\n',
    );
    expect(cli('start', 'nosuch', '--json').json()).toEqual({
      error: { code: 'LXC_NOT_DEFINED', message: 'container "nosuch" does not exist', suggestion: expect.any(String), details: [] },
    });
  });

  test('a stopped container: "is not running" with the start suggestion', () => {
    const name = sandbox.name('idle');
    cli('create', name);
    const r = cli('exec', name, '--', '/bin/true');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`Error: container "${name}" is not running (LXC_NOT_RUNNING)\nTry: lxcts start ${name}`);
  });

  test('an invalid name and a missing -- are usage errors (exit 2)', () => {
    const bad = cli('start', '../x');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('(LXC_INVALID_NAME)');
    const noDashes = cli('exec', 'web', 'ls');
    expect(noDashes.status).toBe(2);
    expect(noDashes.stderr).toContain('missing the command to run: put it after --');
    expect(cli('exec', 'web', '--json').json().error.code).toBe('USAGE');
  });

  test('an unknown config key, an unknown flag and a missing argument', () => {
    const name = sandbox.name('cfg');
    cli('create', name);
    const key = cli('config', 'get', name, 'lxc.nope');
    expect(key.status).toBe(1);
    expect(key.stderr).toContain('unknown config key "lxc.nope" (LXC_INVALID_CONFIG_KEY)');
    const flag = cli('start', name, '--bogus');
    expect(flag.status).toBe(2);
    expect(flag.stderr).not.toMatch(/\n\s+at /);
    expect(cli('start').status).toBe(2);
  });

  test("--verbose shows liblxc's log lines of the failed call", () => {
    const name = sandbox.name('broken');
    cli('create', name);
    cli('config', 'set', name, 'lxc.net.0.type', 'veth');
    cli('config', 'set', name, 'lxc.net.0.link', 'lxctsnobr1');
    const quiet = cli('start', name);
    expect(quiet.status).toBe(1);
    expect(quiet.stderr).toMatch(/--verbose shows them/);
    const verbose = cli('start', name, '--verbose');
    expect(verbose.stderr).toContain('liblxc said:');
    expect(verbose.stderr).toContain('lxctsnobr1');
  });
});

test('containers made by lxc-create are managed by lxcts, and lxc-attach reaches what lxcts started', () => {
  const name = sandbox.name('theirs');
  execFileSync('lxc-create', ['-P', sandbox.lxcpath, '-n', name, '-t', 'busybox'], { stdio: 'ignore' });
  isolate(name);
  expect(cli('start', name).status).toBe(0);
  expect(execFileSync('lxc-attach', ['-P', sandbox.lxcpath, '-n', name, '--', '/bin/hostname'], { encoding: 'utf8' }).trim()).toBe(name);
  expect(cli('ip', name, '--json').json()).toEqual({ name, addresses: [] });
  expect(cli('stats', name, '--json').json()).toMatchObject({ name, cpuPercent: expect.any(Number), memoryBytes: expect.any(Number) });
  expect(cli('destroy', name, '--force').status).toBe(0);
});

test('stats --watch --json prints one sample per interval until Ctrl-C, then exits 0', async () => {
  const name = sandbox.name('watch');
  cli('create', name);
  isolate(name);
  cli('start', name);
  const child = spawn(process.execPath, [binRun, 'stats', name, '--watch', '--json', '--interval', '1'], {
    env: { ...process.env, LXCTS_LXCPATH: sandbox.lxcpath },
  });
  const samples: Array<{ name: string; cpuPercent: number | null }> = [];
  const lines = readline.createInterface({ input: child.stdout });
  await new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      samples.push(JSON.parse(line));
      if (samples.length === 2) resolve();
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(samples.map((s) => s.name)).toEqual([name, name]);
  expect(samples.every((s) => typeof s.cpuPercent === 'number' && s.cpuPercent >= 0)).toBe(true);
  cli('destroy', name, '--force');
});

test('shell completion is available', () => {
  // oclif caches completions under LXCTS_CACHE_DIR: keep them inside the sandbox.
  const r = lxcts(sandbox.lxcpath, ['autocomplete', 'script', 'bash'], { env: { LXCTS_CACHE_DIR: sandbox.lxcpath } });
  expect(r.stdout).toContain('lxcts');
});

test('help has at least one example for every command', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'oclif.manifest.json'), 'utf8')) as {
    commands: Record<string, { examples?: string[] }>;
  };
  const commands = Object.entries(manifest.commands);
  expect(commands.length).toBeGreaterThanOrEqual(20);
  expect(commands.filter(([, c]) => (c.examples ?? []).length === 0).map(([id]) => id)).toEqual([]);
  expect(cli('exec', '--help').stdout).toContain('lxcts exec -it web -- sh');
  expect(cli('--version').stdout).toMatch(/^lxcts\/\d+\.\d+\.\d+/);
});
