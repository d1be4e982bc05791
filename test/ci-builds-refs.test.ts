/**
 * `lxcts ci builds` (the built CLI) tells a tag build from the branch build of the same
 * commit, and shows the commit's subject and author and the pusher as one line each, even
 * when the file holds control characters (records written by anything). No container: the
 * records are made in the store directly.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { openDataDir } from '../src/ci/data-dir';
import { BuildStore } from '../src/ci/store';
import { lxcts } from './helpers/cli';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-ci-builds-refs-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

test('ci builds: REF says "tag v1.0" or "branch main"; subject, author and pusher in their columns, one line each', () => {
  const data = openDataDir(path.join(root, 'data'));
  const store = new BuildStore(data.database);
  const common = { repo: 'octo/hello', cloneUrl: 'https://example.test/octo/hello.git', commit: 'a'.repeat(40), job: 'binaries' };
  try {
    const branch = store.claim({ ...common, ref: 'refs/heads/main', branch: 'main', subject: 'Release 1.0', author: 'Ada', pusher: 'bob' }, true).record;
    store.finished(branch.id, { status: 'success' });
    const tag = store.claim(
      { ...common, ref: 'refs/tags/v1.0', branch: null, subject: 'Release\x1b[2J 1.0\nfake row', author: 'Ada', pusher: 'rel' },
      true,
    ).record;
    store.finished(tag.id, { status: 'success' });
  } finally {
    store.close();
  }
  const run = lxcts(path.join(root, 'lxc'), ['ci', 'builds', '--repo', 'octo/hello'], { env: { LXCTS_DATA_DIR: data.root } });
  expect(run.status).toBe(0);
  const lines = run.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^ID +REPO +COMMIT +REF +JOB +STATUS +DURATION +SUBJECT +AUTHOR +PUSHER +MESSAGE$/);
  expect(lines).toHaveLength(3);
  expect(lines[1]).toMatch(/^2 +octo\/hello +a{12} +tag v1\.0 +binaries +success +.* Release \[2J 1\.0 fake row +Ada +rel/);
  expect(lines[2]).toMatch(/^1 +octo\/hello +a{12} +branch main +binaries +success +.* Release 1\.0 +Ada +bob/);
  expect(run.stdout).not.toContain('\x1b');
});

test("ci builds: a pull request's merge build names the head it merged, in the table and in --json", () => {
  const data = openDataDir(path.join(root, 'pulls'));
  const store = new BuildStore(data.database);
  const merge = 'c'.repeat(40);
  const head = 'd'.repeat(40);
  const common = { repo: 'octo/pulls', cloneUrl: 'https://example.test/octo/pulls.git', job: 'binaries', branch: null };
  try {
    store.claim({ ...common, commit: merge, ref: 'refs/pull/12/merge', head }, true);
    store.claim({ ...common, commit: head, ref: 'refs/pull/12/head', head }, true);
    store.claim({ ...common, commit: head, ref: 'refs/heads/main', branch: 'main' }, true);
  } finally {
    store.close();
  }
  const env = { env: { LXCTS_DATA_DIR: data.root } };
  const run = lxcts(path.join(root, 'lxc'), ['ci', 'builds', '--repo', 'octo/pulls'], env);
  expect(run.status).toBe(0);
  const lines = run.stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(4);
  expect(lines[1]).toMatch(/^3 +octo\/pulls +d{12} +branch main +binaries/);
  // The head build is its own head: said once, in COMMIT.
  expect(lines[2]).toMatch(/^2 +octo\/pulls +d{12} +head of #12 +binaries/);
  expect(lines[3]).toMatch(/^1 +octo\/pulls +c{12} +merge of #12, head d{12} +binaries/);
  const json = lxcts(path.join(root, 'lxc'), ['ci', 'builds', '--repo', 'octo/pulls', '--json'], env);
  expect(json.status).toBe(0);
  const builds = JSON.parse(json.stdout) as Array<{ id: number; head: string | null }>;
  expect(builds.map((b) => [b.id, b.head])).toEqual([
    [3, null],
    [2, head],
    [1, head],
  ]);
});
