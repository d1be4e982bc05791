/**
 * What a command takes from the process that runs it: with `clearEnv: false`, process.env
 * as it is at each call (not as it was when the lxcts-attach helper was spawned), and never
 * this process's working directory (the default is the container's `/`). Each is checked
 * on both paths: through the helper, and in-process (a request over the helper's 64 KiB).
 */
import { buffer } from 'node:stream/consumers';

import { Container, type SpawnOptions } from '../src';
import { attachHelperPath, native } from '../src/lxc/native';
import { parentPid } from './helpers/procfs';
import { Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('exec-caller');
let c: Container;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('caller'));
  await c.setConfigItem('lxc.environment', 'FROM_CONFIG=config');
  await c.setConfigItem('lxc.environment', 'OVERRIDDEN=config');
  await c.saveConfig();
  await c.start();
});
afterAll(() => sandbox.cleanup());

type Via = 'helper' | 'in-process';
const paths: [string, Via][] = [
  ['through the lxcts-attach helper', 'helper'],
  ['in-process', 'in-process'],
];

/**
 * Runs a shell line and returns its stdout, after checking that it was attached where
 * `via` says: a request is attached in-process when it is over the helper's 64 KiB.
 */
async function run(script: string, options: SpawnOptions, via: Via): Promise<string> {
  const env = via === 'in-process' ? { ...(options.env as Record<string, string>), BIG: 'x'.repeat(70 * 1024) } : options.env;
  // The command waits for a line on stdin, so that its parent can be looked at while it runs.
  const proc = await c.spawn(['/bin/sh', '-c', `read go; ${script}`], { ...options, env });
  try {
    expect(parentPid(proc.pid)).toBe(via === 'helper' ? native().attachHelperPid() : process.pid);
  } finally {
    proc.stdin.end('go\n');
  }
  const [stdout, stderr, status] = await Promise.all([buffer(proc.stdout), buffer(proc.stderr), proc.wait()]);
  expect({ stderr: stderr.toString(), ...status }).toEqual({ stderr: '', exitCode: 0, signal: null });
  return stdout.toString().trim();
}

/** A variable of this process's real environment, which the helper got when it was spawned. */
function inheritedVariable(): string {
  // jest gives tests a copy of process.env, so take one the real environment has too.
  const name = Object.keys(process.env).find((k) => /^[A-Z][A-Z0-9_]*$/.test(k) && k !== 'PATH' && /^[\w./:-]+$/.test(process.env[k] ?? ''));
  if (name === undefined) throw new Error('this process has no environment variable to test with');
  return name;
}

describe.each(paths)('%s', (_label, via) => {
  test('with clearEnv: false, variables set and deleted after the first exec are seen so by the next', async () => {
    const kept = inheritedVariable();
    const value = process.env[kept];
    const show = `echo "\${LXCTS_LATE-unset}|\${${kept}-unset}"`;
    delete process.env.LXCTS_LATE;
    try {
      expect(await run(show, { clearEnv: false }, via)).toBe(`unset|${value}`);
      process.env.LXCTS_LATE = 'set-later';
      delete process.env[kept];
      expect(await run(show, { clearEnv: false }, via)).toBe('set-later|unset');
      delete process.env.LXCTS_LATE;
      expect(await run(show, { clearEnv: false }, via)).toBe('unset|unset');
    } finally {
      delete process.env.LXCTS_LATE;
      process.env[kept] = value;
    }
  });

  test("with clearEnv: false, container=lxc and lxc.environment still win over this process's variables, and env over both", async () => {
    Object.assign(process.env, { container: 'caller', FROM_CONFIG: 'caller', OVERRIDDEN: 'caller' });
    try {
      const out = await run('echo "$container|$FROM_CONFIG|$OVERRIDDEN"', { clearEnv: false, env: { OVERRIDDEN: 'env' } }, via);
      expect(out).toBe('lxc|config|env');
    } finally {
      for (const name of ['container', 'FROM_CONFIG', 'OVERRIDDEN']) delete process.env[name];
    }
  });

  test("the default working directory is the container's /, whatever this process's is", async () => {
    const binding = native();
    const original = process.cwd();
    try {
      // A helper spawned here, and this process moved on: directories the container has too.
      binding.setAttachHelper(null);
      process.chdir('/tmp');
      binding.setAttachHelper(attachHelperPath());
      expect(await run('pwd', {}, via)).toBe('/');
      process.chdir('/etc');
      expect(await run('pwd', {}, via)).toBe('/');
      expect(await run('pwd', { clearEnv: false }, via)).toBe('/');
      expect(await run('pwd', { cwd: '/etc', uid: 1000 }, via)).toBe('/etc');
    } finally {
      process.chdir(original);
      binding.setAttachHelper(attachHelperPath());
    }
  });
});
