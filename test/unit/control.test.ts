/**
 * @tier unit
 * Re-run and cancel's pure parts: the control message as workers check it (the topic is as
 * open as nsqd), the cancels a worker remembers, a re-run's push request and its `jobs`,
 * where a login may send the browser, and which token grants what.
 */
import { CancelMemory, type CancelMessage, controlMessageSchema } from '../../src/ci/control-message';
import { buildRequestSchema } from '../../src/ci/push-event';
import { Access, safeNext } from '../../src/server/access';
import { rerunRequest } from '../../src/server/control';
import type { ServerBuild } from '../../src/server/server-store';

const A = 'a'.repeat(40);
const KEY = '0b4c9a5e-1d2f-4a3b-8c7d-9e0f1a2b3c4d';
const cancel = (extra: Partial<CancelMessage> = {}): CancelMessage => ({
  type: 'cancel',
  key: KEY,
  repo: 'octo/hello',
  commit: A,
  job: 'binaries',
  by: 'admin',
  at: 1_000_000,
  ...extra,
});

test('a cancel is accepted only with every field well formed, and nothing more', () => {
  expect(controlMessageSchema.parse(cancel())).toEqual(cancel());
  const bad: Array<[string, unknown]> = [
    ['another type', { ...cancel(), type: 'rerun' }],
    ['an extra field', { ...cancel(), path: '/etc' }],
    ['a key that is no UUID', { ...cancel(), key: '../../x' }],
    ['a repository that is no owner/name', { ...cancel(), repo: '../etc' }],
    ['a short commit', { ...cancel(), commit: 'abc' }],
    ['a job with a slash', { ...cancel(), job: 'a/b' }],
    ['a job starting with a dash', { ...cancel(), job: '-x' }],
    ['a requester with a newline', { ...cancel(), by: 'admin\nforged line' }],
    ['a requester of 101 characters', { ...cancel(), by: 'x'.repeat(101) }],
    ['a negative time', { ...cancel(), at: -1 }],
    ['no JSON object', 'cancel'],
  ];
  for (const [what, message] of bad) expect({ what, ok: controlMessageSchema.safeParse(message).success }).toEqual({ what, ok: false });
});

test('a remembered cancel covers pushes of that commit and job received before it, and nothing else', () => {
  const memory = new CancelMemory(() => 1_000_000);
  memory.remember(cancel());
  const push = { repo: 'octo/hello', after: A, receivedAt: 999_999 };
  expect(memory.covering(push, 'binaries')?.by).toBe('admin');
  expect(memory.covering({ ...push, receivedAt: 1_000_001 }, 'binaries')).toBeUndefined();
  expect(memory.covering(push, 'docs')).toBeUndefined();
  expect(memory.covering({ ...push, after: 'b'.repeat(40) }, 'binaries')).toBeUndefined();
  expect(memory.covering({ ...push, repo: 'octo/other' }, 'binaries')).toBeUndefined();
});

test('cancels are forgotten after an hour, and at most 1000 are kept', () => {
  let now = 1_000_000;
  const memory = new CancelMemory(() => now);
  memory.remember(cancel());
  now += 60 * 60_000 + 1;
  expect(memory.covering({ repo: 'octo/hello', after: A, receivedAt: 0 }, 'binaries')).toBeUndefined();
  const commit = (i: number) => i.toString(16).padStart(40, '0');
  for (let i = 0; i < 1001; i++) memory.remember(cancel({ commit: commit(i), at: now }));
  expect(memory.covering({ repo: 'octo/hello', after: commit(0), receivedAt: 0 }, 'binaries')).toBeUndefined();
  expect(memory.covering({ repo: 'octo/hello', after: commit(1), receivedAt: 0 }, 'binaries')).toBeDefined();
});

const build: ServerBuild = {
  id: 7,
  key: KEY,
  worker: 'host-a',
  workerBuildId: 3,
  repo: 'octo/hello',
  cloneUrl: 'https://example.test/octo/hello.git',
  commit: A,
  ref: 'refs/heads/main',
  branch: 'main',
  job: 'binaries',
  status: 'failure',
  createdAt: '2026-12-04T10:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  exitCode: 2,
  message: null,
  artifacts: [],
  published: null,
  log: null,
  subject: null,
  author: null,
  pusher: null,
  head: null,
  pull: null,
  approvedBy: null,
  approvedAt: null,
};

test("a re-run is the build's push again, for its job only, standing where the original stood", () => {
  const request = rerunRequest(build, 'admin', 42);
  expect(typeof request).toBe('object');
  expect(buildRequestSchema.parse(request)).toMatchObject({
    kind: 'push',
    repo: 'octo/hello',
    cloneUrl: build.cloneUrl,
    ref: 'refs/heads/main',
    after: A,
    pusher: 'admin',
    receivedAt: 42,
    jobs: ['binaries'],
    rerun: { of: 7, requestedAt: Date.parse(build.createdAt) },
  });
  // A pull request's build is not re-run from its row: the row cannot say whether it came from a fork.
  expect(rerunRequest({ ...build, ref: 'refs/pull/3/head' }, 'admin')).toMatch(/names no pull request/);
  // Rows come from workers' events: what a worker would refuse is refused here, before nsqd.
  expect(rerunRequest({ ...build, ref: null }, 'admin')).toMatch(/no ref/);
  expect(rerunRequest({ ...build, ref: 'refs/heads/../x' }, 'admin')).toMatch(/cannot be built again/);
  expect(rerunRequest({ ...build, cloneUrl: '--upload-pack=evil' }, 'admin')).toMatch(/cannot be built again/);
});

test("a push request's jobs and rerun are checked", () => {
  const request = rerunRequest(build, 'admin') as object;
  for (const jobs of [[], ['../x'], [''], ['a b'], Array.from({ length: 101 }, (_, i) => `j${i}`)]) {
    expect({ jobs, ok: buildRequestSchema.safeParse({ ...request, jobs }).success }).toEqual({ jobs, ok: false });
  }
  expect(buildRequestSchema.safeParse({ ...request, rerun: { of: 7, requestedAt: 1, extra: true } }).success).toBe(false);
  expect(buildRequestSchema.safeParse({ ...request, rerun: { of: 0, requestedAt: 1 } }).success).toBe(false);
});

test('after logging in, the browser goes only to a path of this server', () => {
  expect(safeNext('/builds/3')).toBe('/builds/3');
  expect(safeNext('/?repo=a%2Fb')).toBe('/?repo=a%2Fb');
  for (const next of ['//evil.example', '/\\evil.example', 'https://evil.example', 'javascript:alert(1)', '/a\nb', '/a b', undefined, 3]) {
    expect(safeNext(next)).toBe('/');
  }
});

test('the admin token grants admin, the read token reading, anything else nothing', () => {
  const access = new Access({ adminToken: 'admin-token-0123456789', readToken: 'read-token-0123456789' });
  expect(access.roleOfToken('admin-token-0123456789')).toBe('admin');
  expect(access.roleOfToken('read-token-0123456789')).toBe('read');
  for (const given of ['', 'admin-token-012345678', 'admin-token-0123456789 ', 'ADMIN-TOKEN-0123456789']) expect(access.roleOfToken(given)).toBeNull();
  expect(new Access({}).roleOfToken('')).toBeNull();
  expect(new Access({}).controls).toBe(false);
  expect(new Access({ readToken: 'read-token-0123456789' }).roleOfToken('admin-token-0123456789')).toBeNull();
});
