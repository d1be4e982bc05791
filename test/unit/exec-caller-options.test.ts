/**
 * @tier unit
 * What exec's options take from this process: with clearEnv: false, process.env as it is
 * at each call (sent with the request, and counted against the kernel's limits); the
 * working directory never (the default is the container's "/").
 */
import { checkExecSize, checkSpawnOptions } from '../../src/lxc/exec';
import { failureOfSync } from '../helpers/failure';

afterEach(() => {
  delete process.env.LXCTS_UNIT_LATE;
});

test('clearEnv: false takes process.env at each call: a variable set or deleted since shows so', () => {
  expect(checkSpawnOptions({ clearEnv: false }, false).native.callerEnv).not.toContain('LXCTS_UNIT_LATE=1');
  process.env.LXCTS_UNIT_LATE = '1';
  expect(checkSpawnOptions({ clearEnv: false }, false).native.callerEnv).toContain('LXCTS_UNIT_LATE=1');
  delete process.env.LXCTS_UNIT_LATE;
  expect(checkSpawnOptions({ clearEnv: false }, false).native.callerEnv).not.toContain('LXCTS_UNIT_LATE=1');
});

test('a cleared environment sends nothing of this process', () => {
  process.env.LXCTS_UNIT_LATE = '1';
  expect(checkSpawnOptions({}, false).native).toMatchObject({ clearEnv: true, callerEnv: [] });
  expect(checkSpawnOptions({ env: { A: '1' } }, false).native.env).toEqual(['A=1']);
});

test("the default working directory is the container's /, whatever this process's is", () => {
  const original = process.cwd();
  try {
    process.chdir('/tmp');
    expect(checkSpawnOptions({}, false).native.cwd).toBe('/');
    expect(checkSpawnOptions({ cwd: '/srv' }, false).native.cwd).toBe('/srv');
  } finally {
    process.chdir(original);
  }
});

test("with clearEnv: false, a variable of this process over the kernel's limit refuses the command with E2BIG", () => {
  process.env.LXCTS_UNIT_LATE = 'x'.repeat(200 * 1024);
  const kept = checkSpawnOptions({ clearEnv: false }, false).native;
  const err = failureOfSync(() => checkExecSize(['/bin/true'], kept, 'exec', 'c'));
  expect(err).toMatchObject({ code: 'LXC_EXEC_FAILED', message: expect.stringContaining('E2BIG') });
  expect(() => checkExecSize(['/bin/true'], checkSpawnOptions({}, false).native, 'exec', 'c')).not.toThrow();
});
