/**
 * @tier unit
 * The CI's git helpers against real repositories in a temporary directory: mirrors,
 * revisions, checkouts, and refs written by someone else.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { SourcePolicy } from '../../src/ci/clone-url';
import {
  checkout,
  CrossProcessLock,
  describeCommit,
  fetchMirror,
  identify,
  readConfigValue,
  readFileAt,
  resolveRevision,
  writeConfigValue,
} from '../../src/ci/git';
import { BuildStore } from '../../src/ci/store';
import { failureOf } from '../helpers/failure';
import { TestRepo } from '../helpers/repo';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-git-'));
// The operator's own `ci build PATH`: local repositories allowed; mirrors locked through the store.
const policy: SourcePolicy = { allowLocal: 'any', allowPrivateHosts: false };
const store = new BuildStore(':memory:');
const lock: CrossProcessLock = (name, fn) => store.withLock(name, fn);
afterAll(() => {
  store.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test.each([
  ['https://github.com/octo/hello.git', 'octo/hello'],
  ['https://github.com/octo/hello', 'octo/hello'],
  ['git@github.com:octo/hello.git', 'octo/hello'],
  ['ssh://git@example.test:2222/team/tool.git/', 'team/tool'],
])('identify(%s) is %s, cloned from where it says', (url, repo) => {
  expect(identify(url)).toEqual({ repo, cloneUrl: url });
});

test('a local path is local/<dir>-<hash of its real path>; one that does not exist is a GitError', () => {
  const dir = path.join(tmp, 'project.git');
  fs.mkdirSync(dir);
  expect(identify(path.relative(process.cwd(), dir))).toEqual({ repo: expect.stringMatching(/^local\/project-[0-9a-f]{8}$/), cloneUrl: fs.realpathSync(dir) });
  expect(() => identify(path.join(tmp, 'missing'))).toThrow('does not exist');
});

describe('a mirror of a repository with a branch and a tag', () => {
  let repo: TestRepo;
  let mirrors: string;
  let mirror: string;
  let first: string;
  let second: string;

  beforeAll(async () => {
    repo = TestRepo.create(path.join(tmp, 'hello'));
    first = repo.git('rev-parse', 'HEAD');
    repo.git('tag', 'v1.0');
    repo.write('NEWS', 'second\n');
    second = repo.commit('second');
    repo.git('branch', 'feature/x', first);
    mirrors = path.join(tmp, 'mirrors');
    fs.mkdirSync(mirrors);
    mirror = await fetchMirror(mirrors, identify(repo.dir), policy, lock);
  });

  test('resolves HEAD, a branch, a tag, a full ref and a commit id', async () => {
    expect(await resolveRevision(mirror)).toEqual({ commit: second, ref: 'refs/heads/main', branch: 'main' });
    expect(await resolveRevision(mirror, 'feature/x')).toEqual({ commit: first, ref: 'refs/heads/feature/x', branch: 'feature/x' });
    expect(await resolveRevision(mirror, 'v1.0')).toEqual({ commit: first, ref: 'refs/tags/v1.0', branch: null });
    expect(await resolveRevision(mirror, first.slice(0, 12))).toEqual({ commit: first, ref: null, branch: null });
    expect(await describeCommit(mirror, second)).toMatch(/^v1\.0-1-g[0-9a-f]+$/);
  });

  test('refs that look like options are refused by name; one that does not exist is a GitError', async () => {
    for (const ref of ['--output=/tmp/pwned', '-h']) {
      expect(await failureOf(resolveRevision(mirror, ref))).toMatchObject({ name: 'InvalidNameError', code: 'INVALID_NAME' });
    }
    expect(await failureOf(resolveRevision(mirror, 'nope'))).toMatchObject({ name: 'GitError', code: 'GIT_FAILED' });
    expect(fs.existsSync('/tmp/pwned')).toBe(false);
  });

  test('a second fetch picks up new commits; concurrent fetches of one mirror do not collide', async () => {
    repo.write('NEWS', 'third\n');
    const third = repo.commit('third');
    const dirs = await Promise.all([1, 2, 3].map(() => fetchMirror(mirrors, identify(repo.dir), policy, lock)));
    expect(new Set(dirs)).toEqual(new Set([mirror]));
    expect((await resolveRevision(mirror, 'main')).commit).toBe(third);
  });

  test("a checkout has the commit's files and no hard link into the mirror", async () => {
    const workspace = path.join(tmp, 'ws');
    await checkout(mirror, first, workspace);
    expect(fs.existsSync(path.join(workspace, 'hello.c'))).toBe(true);
    expect(fs.existsSync(path.join(workspace, 'NEWS'))).toBe(false);
    const objects = path.join(workspace, '.git', 'objects');
    const files = fs.readdirSync(objects, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(fs.statSync(path.join(f.parentPath, f.name)).nlink).toBe(1);
  });

  test('readFileAt reads a file at a commit, and null for one that is not there', async () => {
    expect(await readFileAt(mirror, second, 'NEWS')).toBe('second');
    expect(await readFileAt(mirror, first, 'NEWS')).toBeNull();
  });
});

test('a source that is not a repository is a GitError that says why', async () => {
  const empty = path.join(tmp, 'not-a-repository');
  fs.mkdirSync(empty);
  const err = await failureOf(fetchMirror(path.join(tmp, 'm2'), identify(empty), policy, lock));
  expect(err).toMatchObject({ code: 'GIT_FAILED' });
  expect(String(err.message)).toMatch(/^git clone failed: /);
});

test("a hooked repository's config: values are read back as written, even ones that look like options; a missing key or file is null, a broken file a GitError", async () => {
  const config = path.join(tmp, 'hooked-config');
  await writeConfigValue(config, 'lxcts.url', 'http://127.0.0.1:9/hooks/github');
  await writeConfigValue(config, 'lxcts.secretFile', '--upload-pack=touch /tmp/x');
  expect(await readConfigValue(config, 'lxcts.url')).toBe('http://127.0.0.1:9/hooks/github');
  expect(await readConfigValue(config, 'lxcts.secretFile')).toBe('--upload-pack=touch /tmp/x');
  expect(await readConfigValue(config, 'lxcts.missing')).toBeNull();
  expect(await readConfigValue(path.join(tmp, 'no-such-config'), 'lxcts.url')).toBeNull();
  // A config git cannot read is not "no value": it says so.
  fs.writeFileSync(path.join(tmp, 'broken-config'), '[lxcts\n');
  expect((await failureOf(readConfigValue(path.join(tmp, 'broken-config'), 'lxcts.url'))).code).toBe('GIT_FAILED');
});
