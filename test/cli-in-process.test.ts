import { Console } from 'node:console';
import * as path from 'node:path';

import { runCommand } from '@oclif/test';

import { Sandbox } from './helpers/sandbox';

// The same commands through @oclif/test, in this process: parse, one library call, render.

// @oclif/core 4.5+ finds the platform with a dynamic import() of an ES module, which jest
// cannot run without --experimental-vm-modules. Answer it the synchronous way instead.
// jest hoists jest.mock above the imports, so the factory and its path use require().
/* eslint-disable @typescript-eslint/no-require-imports */
jest.mock(require('node:path').join(require('node:path').dirname(require.resolve('@oclif/core')), 'util', 'os.js'), () => ({
  ...jest.requireActual(require('node:path').join(require('node:path').dirname(require.resolve('@oclif/core')), 'util', 'os.js')),
  getPlatform: async () => require('node:os').platform(),
}));
/* eslint-enable @typescript-eslint/no-require-imports */
const root = path.resolve(__dirname, '..');
const sandbox = new Sandbox('oclif');
afterAll(() => sandbox.cleanup());
// jest's console decorates every line with its origin; commands must write plain text, as
// they do outside jest, for runCommand to capture it.
const jestConsole = global.console;
beforeAll(() => {
  global.console = new Console({ stdout: process.stdout, stderr: process.stderr });
});
afterAll(() => {
  global.console = jestConsole;
});
// Commands set process.exitCode for failures in JSON mode; it must not leak into jest's.
afterEach(() => {
  process.exitCode = undefined;
});

const run = (...args: string[]) => runCommand([...args, '--lxcpath', sandbox.lxcpath], { root });

test('create, list and destroy through runCommand', async () => {
  const name = sandbox.name('oc');
  const created = await run('create', name, '--json');
  expect(created.error).toBeUndefined();
  expect(JSON.parse(created.stdout)).toEqual({ name, template: 'busybox', state: 'STOPPED' });
  const listed = await run('list');
  expect(listed.stdout).toMatch(new RegExp(`^${name} +STOPPED +- +- +-$`, 'm'));
  const destroyed = await run('destroy', name, '--json');
  expect(JSON.parse(destroyed.stdout)).toEqual({ name, destroyed: true });
});

test('a failure in JSON mode is a JSON error on stdout with exit code 1', async () => {
  const result = await run('freeze', 'nosuch', '--json');
  expect(JSON.parse(result.stdout).error).toMatchObject({ code: 'LXC_NOT_DEFINED', message: 'container "nosuch" does not exist' });
  expect(process.exitCode).toBe(1);
});

test('a failure without JSON is a one-line message and a suggestion on stderr, exit 1', async () => {
  const result = await run('stop', 'nosuch');
  expect(result.stderr).toContain('Error: container "nosuch" does not exist (LXC_NOT_DEFINED)');
  expect(result.stderr).toContain('Try: lxcts create nosuch');
  expect(result.error?.oclif?.exit).toBe(1);
});

test('a missing argument is a usage error with exit 2', async () => {
  const result = await runCommand(['start'], { root });
  expect(result.error?.oclif?.exit).toBe(2);
  expect(result.stderr).toMatch(/Missing 1 required arg/);
  expect(result.stderr).not.toMatch(/\n\s+at /);
});
