/**
 * @tier unit
 * What a build posts on GitHub (state, a description of at most 140 characters, context
 * lxcts/<job>), which builds post at all (only repositories whose clone URL is on the API's
 * host and names the same repository), and the credential files.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { BuildStatus } from '../../src/ci/build-status';
import { normalizeBaseUrl } from '../../src/github/client';
import { commitStatusOf, statusRepository, webHostOf } from '../../src/github/commit-status';
import { readGitHubAuth } from '../../src/github/credentials';

const build = (status: BuildStatus, extra: { message?: string | null; exitCode?: number | null } = {}) => ({
  job: 'binaries',
  status,
  exitCode: extra.exitCode ?? null,
  message: extra.message ?? null,
  startedAt: '2026-12-04T10:00:00.000Z',
  finishedAt: status === 'queued' || status === 'running' ? null : '2026-12-04T10:01:05.000Z',
});

test('each build status is the commit state GitHub knows, with a one-line description of at most 140 characters', () => {
  expect(commitStatusOf(build('queued'))).toEqual({ state: 'pending', description: 'queued', context: 'lxcts/binaries' });
  expect(commitStatusOf(build('running')).state).toBe('pending');
  expect(commitStatusOf(build('success'))).toEqual({ state: 'success', description: 'passed in 1m 5s', context: 'lxcts/binaries' });
  expect(commitStatusOf(build('failure', { exitCode: 2, message: 'step 2 failed' })).description).toBe('failed in 1m 5s (exit 2): step 2 failed');
  expect(commitStatusOf(build('error', { message: 'no container' }))).toMatchObject({ state: 'error', description: 'error: no container' });
  expect(commitStatusOf(build('cancelled', { message: 'cancelled by alice' }))).toMatchObject({ state: 'error', description: 'cancelled: cancelled by alice' });
  const long = commitStatusOf(build('failure', { message: `line one\nline\ttwo \u001b[31m${'é'.repeat(500)}` })).description;
  expect([...long].length).toBe(140);
  expect([...long].some((ch) => ch < ' ')).toBe(false);
  expect(long.endsWith('…')).toBe(true);
});

test('only repositories on the API host, named as their clone URL names them', () => {
  const gh = 'https://api.github.com';
  expect(webHostOf(gh)).toBe('github.com');
  expect(webHostOf('https://ghe.example/api/v3')).toBe('ghe.example');
  const yes: Array<[string, string, string]> = [
    ['octo/widgets', 'https://github.com/octo/widgets.git', gh],
    ['octo/widgets', 'https://github.com/Octo/Widgets', gh],
    ['octo/widgets', 'git@github.com:octo/widgets.git', gh],
    ['octo/widgets', 'ssh://git@github.com/octo/widgets.git', gh],
    ['octo/widgets', 'https://ghe.example/octo/widgets.git', 'https://ghe.example/api/v3'],
    ['octo/widgets', 'https://gitea.example:3000/octo/widgets.git', 'https://gitea.example:3000/api/v1'],
  ];
  for (const [repo, cloneUrl, api] of yes) expect(statusRepository({ repo, cloneUrl }, api)).toEqual({ owner: 'octo', repo: 'widgets' });
  const no: Array<[string, string]> = [
    ['local/hello-0123abcd', '/srv/git/hello.git'],
    ['octo/widgets', '/srv/git/octo/widgets.git'],
    ['octo/widgets', 'file:///srv/git/octo/widgets.git'],
    ['octo/widgets', 'https://evil.example/octo/widgets.git'],
    ['octo/widgets', 'https://github.com.evil.example/octo/widgets.git'],
    ['octo/widgets', 'https://github.com/mallory/widgets.git'],
    ['octo/widgets', 'https://github.com/octo/widgets/../../mallory/x.git'],
    ['octo/widgets', 'not a url'],
    ['../etc', 'https://github.com/../etc'],
  ];
  for (const [repo, cloneUrl] of no) expect(statusRepository({ repo, cloneUrl }, gh)).toBeNull();
});

test('base URLs: http(s) only, no credentials or query, no trailing slash', () => {
  expect(normalizeBaseUrl('https://ghe.example/api/v3/')).toBe('https://ghe.example/api/v3');
  expect(normalizeBaseUrl('https://api.github.com')).toBe('https://api.github.com');
  for (const bad of ['ftp://x', 'file:///etc', 'https://u:p@x', 'https://x/?a=1', 'nope']) expect(() => normalizeBaseUrl(bad)).toThrow();
});

describe('credential files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-github-auth-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text, { mode: 0o600 });
    return f;
  };

  test('a token, an App, or nothing; mixed, partial or malformed ones refused', () => {
    expect(readGitHubAuth({})).toBeNull();
    expect(readGitHubAuth({ tokenFile: file('token', 'ghp_abc\n') })).toEqual({ token: 'ghp_abc' });
    const key = file('key.pem', '-----BEGIN RSA PRIVATE KEY-----\nMII...\n-----END RSA PRIVATE KEY-----\n');
    expect(readGitHubAuth({ appId: 7, appKeyFile: key })).toMatchObject({ appId: 7, privateKey: expect.stringContaining('BEGIN RSA') });
    expect(readGitHubAuth({ appId: 7, appKeyFile: key, installationId: 9 })).toMatchObject({ installationId: 9 });
    expect(() => readGitHubAuth({ tokenFile: file('t2', 'a\nb') })).toThrow(/does not hold one token/);
    expect(() => readGitHubAuth({ tokenFile: file('t3', '  \n') })).toThrow(/does not hold one token/);
    expect(() => readGitHubAuth({ appId: 7 })).toThrow(/both/);
    expect(() => readGitHubAuth({ appId: 7, appKeyFile: file('nokey', 'hello') })).toThrow(/not a PEM/);
    expect(() => readGitHubAuth({ tokenFile: file('t4', 'x'), appId: 7, appKeyFile: key })).toThrow(/not both/);
  });
});
