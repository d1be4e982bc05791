/**
 * What a command takes from the process that runs it: with `clearEnv: false`, process.env
 * as it is at each call (not as it was when the lxcts-attach helper was spawned), and never
 * this process's working directory (the default is the container's `/`). Each is checked
 * on both paths: through the helper, and in-process (a request over the helper's 64 KiB).
 */
import { Container, type SpawnOptions } from '../src';
import { attachHelperPath, native } from '../src/lxc/native';
import { EXEC_PATHS, runVia, type Via } from './helpers/exec-via';
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

const paths = EXEC_PATHS;
const run = (script: string, options: SpawnOptions, via: Via) => runVia(c, script, options, via);

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
