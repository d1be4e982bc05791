/**
 * @tier unit
 * The checks that run before anything reaches the addon: names, paths, config text, exec
 * arguments and options. Hostile input is refused here, with what was expected.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { checkArgv, checkExecInput, checkSpawnOptions } from '../../src/lxc/exec';
import { missingToolSuggestion, onPath } from '../../src/lxc/missing-tools';
import { checkConfigText, checkLxcpath, checkName, expectStringArray, timeoutSeconds } from '../../src/lxc/validate';
import { failureOfSync } from '../helpers/failure';
import { INVALID_NAMES } from '../helpers/invalid-names';

describe('container names', () => {
  test.each(INVALID_NAMES)('a name that is %s is LXC_INVALID_NAME', (_label, name) => {
    const err = failureOfSync(() => checkName(name));
    expect(err).toMatchObject({ name: 'LxcError', code: 'LXC_INVALID_NAME', op: 'new', container: name });
    expect(err.message).toContain('invalid container name');
  });

  test('64 bytes and ordinary characters are accepted', () => {
    expect(checkName('x'.repeat(64))).toHaveLength(64);
    expect(checkName('web-1.example_A')).toBe('web-1.example_A');
  });

  test.each([[123], [null], [undefined], [{}], [['a']]])('a non-string name (%p) is a TypeError naming what it got', (name) => {
    const err = failureOfSync(() => checkName(name));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toMatch(/^Expected a string for the container name but received /);
  });
});

test('lxcpaths are made absolute; empty ones, NULs and non-strings are refused', () => {
  expect(checkLxcpath('relative/dir')).toBe(path.resolve('relative/dir'));
  expect(checkLxcpath(undefined)).toBeUndefined();
  for (const bad of ['', 'a\0b', 5]) expect(failureOfSync(() => checkLxcpath(bad))).toBeInstanceOf(TypeError);
});

test('config keys and values cannot add a line to the config file', () => {
  for (const text of ['lxc.uts.name\nlxc.hook.pre-start = /bin/evil', 'a\rb', 'a\0b']) {
    expect(failureOfSync(() => checkConfigText(text, 'key', 'set', 'c'))).toMatchObject({ code: 'LXC_INVALID_CONFIG_KEY' });
    expect(failureOfSync(() => checkConfigText(text, 'value', 'set', 'c'))).toMatchObject({ code: 'LXC_INVALID_CONFIG_VALUE' });
  }
  expect(failureOfSync(() => checkConfigText('', 'key', 'get', 'c'))).toMatchObject({ code: 'LXC_INVALID_CONFIG_KEY' });
  expect(checkConfigText('', 'value', 'set', 'c')).toBe('');
});

test('timeouts: whole seconds rounded up, Infinity and huge values are no limit, negatives and NaN refused', () => {
  expect(timeoutSeconds(undefined, 't', 60)).toBe(60);
  expect(timeoutSeconds(0.2, 't', 60)).toBe(1);
  expect(timeoutSeconds(Infinity, 't', 60)).toBe(-1);
  expect(timeoutSeconds(2 ** 40, 't', 60)).toBe(-1);
  for (const bad of [-1, NaN, '5', null]) expect(failureOfSync(() => timeoutSeconds(bad, 't', 60))).toBeInstanceOf(TypeError);
});

test('string arrays are copied, so a caller cannot change them after the check', () => {
  const args = ['a'];
  const checked = expectStringArray(args, 'args');
  args.push('b');
  expect(checked).toEqual(['a']);
  expect(failureOfSync(() => expectStringArray(['a', 1], 'args'))).toBeInstanceOf(TypeError);
});

describe('exec arguments', () => {
  test.each([
    ['not an array', 'ls'],
    ['empty', []],
    ['a number inside', ['ls', 1]],
    ['a NUL inside', ['ls', 'a\0b']],
    ['an empty program', ['']],
  ])('argv that is %s is a TypeError', (_label, argv) => {
    expect(failureOfSync(() => checkArgv(argv))).toBeInstanceOf(TypeError);
  });

  test('env as an object or KEY=value strings; bad names and values are refused', () => {
    expect(checkSpawnOptions({ env: { A: '1', B: 'x=y' } }, false).native.env).toEqual(['A=1', 'B=x=y']);
    expect(checkSpawnOptions({ env: ['A=1'] }, false).native.env).toEqual(['A=1']);
    for (const env of [['NOEQUALS'], { '': 'x' }, { 'A\0B': 'x' }, { A: 'x\0y' }, { A: 5 }, 'A=1']) {
      expect(failureOfSync(() => checkSpawnOptions({ env }, false))).toBeInstanceOf(TypeError);
    }
  });

  test('uid, gid, timeout, signal and tty are range-checked', () => {
    const ok = checkSpawnOptions({ uid: 0, gid: 1000, timeout: 1.5, tty: { cols: 100, rows: 40 } }, true);
    expect(ok.native).toMatchObject({ uid: 0, gid: 1000, tty: true, cols: 100, rows: 40, pipeStdin: true, clearEnv: true });
    expect(ok.timeout).toBe(1.5);
    for (const options of [
      { uid: -1 },
      { uid: 1.5 },
      { gid: 2 ** 32 },
      { timeout: 0 },
      { timeout: -1 },
      { signal: {} },
      { tty: { cols: 0, rows: 1 } },
      { tty: 'yes' },
      { clearEnv: 'no' },
      { cwd: 5 },
    ]) {
      expect(failureOfSync(() => checkSpawnOptions(options, false))).toBeInstanceOf(TypeError);
    }
    expect(failureOfSync(() => checkSpawnOptions('fast', false))).toBeInstanceOf(TypeError);
  });

  test('exec input is a Buffer, a string or a Readable', () => {
    expect(checkExecInput({ input: 'x' })).toBe('x');
    for (const input of [5, {}, ['x']]) expect(failureOfSync(() => checkExecInput({ input }))).toBeInstanceOf(TypeError);
  });
});

test("a missing rsync in liblxc's log becomes the package to install, only when rsync is really missing", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-path-'));
  try {
    const log = ['lxc-clone: ... Failed to rsync from "/a" into "/b"'];
    expect(missingToolSuggestion(log, dir)).toContain('apt-get install rsync');
    fs.writeFileSync(path.join(dir, 'rsync'), '#!/bin/sh\n', { mode: 0o755 });
    expect(onPath('rsync', dir)).toBe(true);
    expect(missingToolSuggestion(log, dir)).toBeUndefined();
    expect(missingToolSuggestion(['some other failure'], '/nonexistent')).toBeUndefined();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
