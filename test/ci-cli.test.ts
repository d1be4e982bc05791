import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { localRepository } from '../src/ci/names';
import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';
import { TestRepo } from './helpers/repo';

const ci = new CiSandbox('cli');
afterAll(() => ci.cleanup());
/** The sample's repository name here: local/hello-<hash of this test's path>. */
const sampleRepo = localRepository(path.join(fs.realpathSync(ci.data.root), 'hello'));
const run = (...args: string[]) => lxcts('/nonexistent', args, { env: { LXCTS_DATA_DIR: ci.data.root } });

test("the README's CI sample, pasted into a shell, builds binaries and docs", () => {
  const readme = fs.readFileSync(path.resolve(__dirname, '..', 'README.md'), 'utf8');
  const block = /<!-- ci-sample -->\n```sh\n([\s\S]*?)```\n<!-- \/ci-sample -->/.exec(readme)?.[1];
  expect(block).toBeDefined();
  // Same commands, in this test's own places.
  const sample = path.join(ci.data.root, 'hello');
  expect(block).toContain(localRepository('/tmp/hello'));
  // A local repository is named by its real path: /tmp/hello's name in the README, this test's here.
  const script = block!.replaceAll(localRepository('/tmp/hello'), sampleRepo).replaceAll('/tmp/hello', sample).replaceAll('/var/lib/lxcts', ci.data.root);
  const result = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: path.resolve(__dirname, '..'),
    // stdin from /dev/null: Debian's bash may read /etc/bash.bashrc (which fails under -u)
    // when its stdin is a socket; the runner's own stdin must not decide the result.
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, LXCTS_DATA_DIR: ci.data.root },
    timeout: 120_000,
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/^==> \[1\/2\] make build$/m);
  expect(result.stdout).toMatch(/^binaries: success$/m);
  expect(result.stdout).toMatch(/^docs: success$/m);
  expect(result.stdout).toMatch(/^hello, world$/m);
  expect(result.stdout).toContain('<h1>hello</h1>');
  expect(result.stdout).toContain(`repository ${sampleRepo}: binaries under ${path.join(ci.data.binaries, sampleRepo)}`);
});

test('ci builds and ci logs show the records; a failing build exits 1', () => {
  const builds = run('ci', 'builds', '--json').json();
  expect(builds.map((b: { job: string; status: string }) => [b.job, b.status])).toEqual([
    ['docs', 'success'],
    ['binaries', 'success'],
  ]);
  const table = run('ci', 'builds', '--repo', sampleRepo);
  expect(table.stdout.split('\n')[0]).toMatch(/^ID +REPO +COMMIT +REF +JOB +STATUS +DURATION +SUBJECT +AUTHOR +PUSHER +MESSAGE$/);
  const log = run('ci', 'logs', String(builds[1].id));
  expect(log.stdout).toContain('==> [2/2] ./bin/hello --version: exit 0');
  expect(run('ci', 'logs', '999').status).toBe(1);

  const failing = TestRepo.create(path.join(ci.data.root, 'failing'), 'jobs:\n  t:\n    steps: ["echo oops >&2; exit 4"]\n');
  const r = run('ci', 'build', failing.dir);
  expect(r.status).toBe(1);
  expect(r.stdout).toContain('t: failure (step 1 (echo oops >&2; exit 4) exited 4)');
  expect(run('ci', 'build', failing.dir, '--json', '--force').json()).toEqual([
    expect.objectContaining({ job: 't', status: 'failure', exitCode: 4, built: true }),
  ]);
});

test('an invalid build file is a located error; the base list shows host', () => {
  const invalid = TestRepo.create(path.join(ci.data.root, 'invalid'), 'jobs:\n  a:\n    steps: make\n');
  const r = run('ci', 'build', invalid.dir);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('.lxcts.yml:3:12: jobs.a.steps: expected array, got string "make"');
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(run('ci', 'base', 'list', '--json').json()).toEqual(['host']);
  expect(execFileSync('lxc-ls', ['-P', ci.data.containers], { encoding: 'utf8' }).trim()).toBe('');
});
