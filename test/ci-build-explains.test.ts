/**
 * `ci build` when no job runs for the ref: each job says why it did not run (its branches:
 * filter, a tag, a bare commit), the last line says nothing ran, and the exit status is 0;
 * a --job the build file does not have is a usage error (2) naming the jobs it has.
 * Nothing here starts a container: no job runs.
 */
import * as path from 'node:path';

import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';
import { TestRepo } from './helpers/repo';

const ci = new CiSandbox('explains');
afterAll(() => ci.cleanup());
const build = (...args: string[]) => lxcts('/nonexistent', ['ci', 'build', ...args], { env: { LXCTS_DATA_DIR: ci.data.root } });

// The README's sample: both jobs say branches: [main].
const repo = TestRepo.create(path.join(ci.data.root, 'repos', 'explains'));
repo.git('branch', 'feature');
repo.git('tag', 'v1.0');
const head = repo.git('rev-parse', 'HEAD');

test.each([
  ['a branch its filter does not list', 'feature', 'branches: [main] does not include feature'],
  ['a tag', 'v1.0', 'branches: [main] matches branches only, not tag v1.0'],
  ['a bare commit', head, `branches: [main] matches branches only, not commit ${head.slice(0, 12)}`],
])('%s: each job says why it did not run; exit 0', (_what, ref, why) => {
  const run = build(repo.dir, '--ref', ref);
  expect(run.stderr).toBe('');
  expect(run.stdout).toBe(`binaries: not run (${why})\ndocs: not run (${why})\nno job ran for ${ref}; nothing failed (exit status 0)\n`);
  expect(run.status).toBe(0);
});

test('--json lists the jobs not run with the reason', () => {
  const run = build(repo.dir, '--ref', 'v1.0', '--json');
  expect(run.json()).toEqual([
    { job: 'binaries', status: 'skipped', reason: 'branches: [main] matches branches only, not tag v1.0' },
    { job: 'docs', status: 'skipped', reason: 'branches: [main] matches branches only, not tag v1.0' },
  ]);
});

test('--job naming no job of the build file: exit 2, and the jobs it has', () => {
  const run = build(repo.dir, '--job', 'lint');
  expect(run.status).toBe(2);
  expect(run.stderr).toContain('no job "lint" in .lxcts.yml; it has: binaries, docs');
});
