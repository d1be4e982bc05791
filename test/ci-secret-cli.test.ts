/**
 * `lxcts ci secret set|list|rm` as a user runs them: the value from stdin (refused from a
 * terminal), list shows names and times but never values, the files are 0600 and hold no
 * plaintext, bad names and values are refused with a message and nothing stored.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { binRun, lxcts } from './helpers/cli';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-secret-cli-'));
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

const VALUE = 'cli-secret-value-0f9e8d7c';
const run = (args: string[], input = '') => lxcts(dataDir, ['ci', 'secret', ...args, '--data-dir', dataDir], { input });

test('set reads the value from stdin; list shows names and times, never values; the files are 0600 without plaintext', () => {
  const set = run(['set', 'octo/hello', 'DEPLOY_KEY'], VALUE);
  expect(set.stderr).toBe('');
  expect(set.stdout).toBe(`set secret DEPLOY_KEY of octo/hello (${VALUE.length} bytes)\n`);
  expect(run(['set', 'octo/hello', 'OTHER'], 'x\ny').status).toBe(0);
  const list = run(['list', 'octo/hello']);
  expect(list.status).toBe(0);
  expect(list.stdout).toMatch(/^NAME +CREATED +UPDATED\nDEPLOY_KEY +\d{4}-\d\d-\d\dT[\d:.]+Z +\S+\nOTHER +/);
  const json = run(['list', 'octo/hello', '--json']).json() as Array<Record<string, unknown>>;
  expect(json.map((s) => Object.keys(s).sort())).toEqual([
    ['createdAt', 'name', 'updatedAt'],
    ['createdAt', 'name', 'updatedAt'],
  ]);
  expect(list.stdout + JSON.stringify(json)).not.toContain(VALUE);
  expect(run(['list', 'octo/other', '--json']).json()).toEqual([]);
  for (const file of ['secrets.key', 'secrets.sqlite']) expect(fs.statSync(path.join(dataDir, file)).mode & 0o777).toBe(0o600);
  for (const file of fs.readdirSync(dataDir).filter((f) => f.startsWith('secrets'))) {
    expect(fs.readFileSync(path.join(dataDir, file)).includes(VALUE)).toBe(false);
  }
});

test('rm removes a secret; removing one that is not there fails', () => {
  expect(run(['set', 'octo/hello', 'GOES'], 'v').status).toBe(0);
  const rm = run(['rm', 'octo/hello', 'GOES']);
  expect([rm.status, rm.stdout]).toEqual([0, 'removed secret GOES of octo/hello\n']);
  const again = run(['rm', 'octo/hello', 'GOES']);
  expect(again.status).not.toBe(0);
  expect(again.stderr).toContain('octo/hello has no secret GOES');
  expect((run(['list', 'octo/hello', '--json']).json() as Array<{ name: string }>).map((s) => s.name)).not.toContain('GOES');
});

test('bad names, bad values and a bad repository are refused and nothing is stored', () => {
  const cases: Array<[string[], string, RegExp]> = [
    [['set', 'octo/hello', 'PATH'], 'v', /a variable lxcts or the system sets/],
    [['set', 'octo/hello', 'LXCTS_COMMIT'], 'v', /a variable lxcts or the system sets/],
    [['set', 'octo/hello', 'lower'], 'v', /upper-case letters/],
    [['set', 'octo/hello', 'EMPTY'], '', /the value is empty/],
    [['set', 'octo/hello', 'NUL'], 'a\0b', /NUL/],
    [['set', 'octo/hello', 'HUGE'], 'x'.repeat(64 * 1024 + 1), /more than 65536/],
    [['set', '../../etc', 'X'], 'v', /not owner\/name/],
  ];
  for (const [args, input, message] of cases) {
    const r = run(args, input);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  }
  expect((run(['list', 'octo/hello', '--json']).json() as Array<{ name: string }>).map((s) => s.name)).toEqual(['DEPLOY_KEY', 'OTHER']);
});

test('a value is not read from a terminal, where it would show: the message says how to pipe it', () => {
  // script(1) gives the command a pseudo-terminal as stdin.
  const command = `${process.execPath} ${binRun} ci secret set octo/hello TYPED --data-dir ${dataDir}`;
  const tty = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', input: '', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  expect(tty.stdout).toContain('stdin is a terminal');
  expect(tty.stdout).toContain('printf %s VALUE | lxcts ci secret set octo/hello TYPED');
  expect((run(['list', 'octo/hello', '--json']).json() as Array<{ name: string }>).map((s) => s.name)).not.toContain('TYPED');
});
