/**
 * @tier unit
 * A webhook payload becomes a small build message, or a reason to build nothing. The
 * payload is written by whoever can reach the receiver: anything not matching the schema
 * is ignored, never thrown.
 */
import { buildRequestSchema, toBuildMessage, ZERO_SHA } from '../../src/ci/push-event';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const push = (extra: Record<string, unknown> = {}) => ({
  ref: 'refs/heads/main',
  before: A,
  after: B,
  repository: { full_name: 'octo/hello', clone_url: 'https://example.test/octo/hello.git' },
  pusher: { name: 'mona' },
  ...extra,
});

test('a push becomes a message with only what a build needs', () => {
  const outcome = toBuildMessage('push', 'd-1', { ...push(), commits: new Array(1000).fill({ message: 'x'.repeat(1000) }) }, 42);
  expect(outcome).toEqual({
    build: {
      kind: 'push',
      delivery: 'd-1',
      repo: 'octo/hello',
      cloneUrl: 'https://example.test/octo/hello.git',
      ref: 'refs/heads/main',
      before: A,
      after: B,
      pusher: 'mona',
      receivedAt: 42,
      forced: false,
    },
  });
  // The message is small whatever the payload's size: nsqd refuses messages over 1 MiB.
  expect(JSON.stringify(outcome).length).toBeLessThan(1000);
  expect(buildRequestSchema.parse((outcome as { build: unknown }).build)).toBeTruthy();
});

test('a forced push says so; the pusher falls back to the sender', () => {
  const outcome = toBuildMessage('push', 'd', push({ forced: true, pusher: undefined, sender: { login: 'octocat' } }), 1) as {
    build: { forced: boolean; pusher: string };
  };
  expect(outcome.build).toMatchObject({ forced: true, pusher: 'octocat' });
});

test('a deleted branch builds nothing', () => {
  expect(toBuildMessage('push', 'd', push({ deleted: true }))).toEqual({ ignore: 'branch deleted: refs/heads/main' });
  expect(toBuildMessage('push', 'd', push({ after: ZERO_SHA }))).toEqual({ ignore: 'branch deleted: refs/heads/main' });
});

test('pull requests are published when opened, synchronised, reopened and closed, with their pull request', () => {
  const pr = (action: string) => ({
    action,
    number: 7,
    pull_request: {
      head: { sha: B, ref: 'feature', repo: { full_name: 'mona/hello', clone_url: 'https://example.test/fork.git' } },
      base: { sha: A, ref: 'main', repo: { full_name: 'octo/hello' } },
      user: { login: 'mona' },
    },
    repository: { full_name: 'octo/hello', clone_url: 'https://example.test/octo/hello.git' },
  });
  expect(toBuildMessage('pull_request', 'd', pr('opened'), 5)).toEqual({
    build: {
      kind: 'pull_request',
      delivery: 'd',
      repo: 'octo/hello',
      cloneUrl: 'https://example.test/octo/hello.git',
      ref: 'refs/pull/7/head',
      before: A,
      after: B,
      pusher: 'mona',
      receivedAt: 5,
      pull: { number: 7, action: 'opened', baseRef: 'main', baseSha: A, headRepo: 'mona/hello', fork: true, mergeable: null },
    },
    pushedAt: 'opened 5',
  });
  expect(toBuildMessage('pull_request', 'd', pr('closed'), 6)).toMatchObject({ build: { pull: { action: 'closed' } } });
  expect(toBuildMessage('pull_request', 'd', pr('labeled'))).toEqual({ ignore: 'pull request labeled' });
});

test.each([
  ['null', null],
  ['a string', 'push'],
  ['an array', [push()]],
  ['a repository that is a string', push({ repository: 'octo/hello' })],
  ['an after that is a number', push({ after: 5 })],
  ['a prototype-polluting key', JSON.parse('{"__proto__": {"ref": "refs/heads/x"}}')],
])('a push payload that is %s is invalid, not thrown', (_label, payload) => {
  expect(toBuildMessage('push', 'd', payload)).toEqual({ invalid: expect.stringMatching(/^not a push payload/) });
  expect(({} as Record<string, unknown>).ref).toBeUndefined();
});

test('other events are not built', () => {
  expect(toBuildMessage('issues', 'd', {})).toEqual({ ignore: 'event issues is not built' });
});

test('a message from the queue is checked before use: a wrong shape is refused', () => {
  expect(buildRequestSchema.safeParse({ kind: 'push' }).success).toBe(false);
  expect(buildRequestSchema.safeParse({ ...(toBuildMessage('push', 'd', push(), 1) as { build: object }).build, kind: 'tag' }).success).toBe(false);
});

test('a push to refs/pull/... is refused at the receiver and in the workers, never built as a trusted push', () => {
  for (const ref of ['refs/pull/7/head', 'refs/pull/7/merge']) {
    expect(toBuildMessage('push', 'd', push({ ref }))).toEqual({ invalid: expect.stringContaining('refs/pull/') });
    expect(toBuildMessage('push', 'd', push({ ref, deleted: true }))).toEqual({ invalid: expect.stringContaining('refs/pull/') });
  }
  // A request forged straight onto the topic: push, or no kind, without its pull request.
  const request = { ...(toBuildMessage('push', 'd', push(), 1) as { build: object }).build, ref: 'refs/pull/7/head' };
  const parsed = buildRequestSchema.safeParse(request);
  expect(parsed.success).toBe(false);
  expect(parsed.error?.issues[0]?.message).toMatch(/pull_request events/);
});
