/**
 * @tier unit
 * GitHub's own pull_request payloads (@octokit/webhooks-examples) become build requests
 * that carry the pull request: which one, what happened to it, its base (whose build file
 * decides) and whether it comes from a fork. A request that claims to be a pull request's
 * without saying which, or whose names are not valid, is refused.
 */
import { buildRequestSchema, BuildMessage, toBuildMessage } from '../../src/ci/push-event';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- a package of JSON files, without types
const examples = require('@octokit/webhooks-examples') as Array<{ name: string; examples: Array<Record<string, unknown>> }>;

interface PullPayload {
  action: string;
  number: number;
  pull_request: {
    mergeable: boolean | null;
    updated_at: string;
    head: { sha: string; repo: { full_name: string; clone_url: string } | null };
    base: { sha: string; ref: string; repo: { full_name: string } };
  };
  repository: { full_name: string; clone_url: string };
}

/** A deep copy of GitHub's example of `action`, to edit. */
function example(action: string): PullPayload {
  const found = examples.find((e) => e.name === 'pull_request')!.examples.find((e) => e.action === action);
  if (!found) throw new Error(`no pull_request ${action} example`);
  return structuredClone(found) as unknown as PullPayload;
}

/** The same pull request from a fork: only the head's repository differs. */
function fromFork(payload: PullPayload): PullPayload {
  payload.pull_request.head.repo = { full_name: 'mallory/Hello-World', clone_url: 'https://github.com/mallory/Hello-World.git' };
  return payload;
}

function built(payload: PullPayload): BuildMessage {
  const outcome = toBuildMessage('pull_request', 'delivery-1', payload, 1000);
  if (!('build' in outcome)) throw new Error(`not built: ${JSON.stringify(outcome)}`);
  // What the receiver publishes is what a worker accepts.
  expect(buildRequestSchema.parse(JSON.parse(JSON.stringify(outcome.build)))).toEqual(outcome.build);
  return outcome.build;
}

test.each(['opened', 'synchronize', 'reopened', 'closed'])('a same-repository pull request %s is published with its pull request', (action) => {
  const payload = example(action);
  const request = built(payload);
  expect(request).toMatchObject({
    kind: 'pull_request',
    repo: 'Codertocat/Hello-World',
    cloneUrl: 'https://github.com/Codertocat/Hello-World.git',
    ref: 'refs/pull/2/head',
    after: payload.pull_request.head.sha,
    before: payload.pull_request.base.sha,
    pull: {
      number: 2,
      action,
      baseRef: 'master',
      baseSha: payload.pull_request.base.sha,
      headRepo: 'Codertocat/Hello-World',
      fork: false,
      mergeable: payload.pull_request.mergeable,
    },
  });
});

test('a fork is untrusted: its head repository differs from the base, or GitHub no longer knows it', () => {
  const forked = built(fromFork(example('opened')));
  // The base repository is the one cloned: the fork's own URL never reaches git.
  expect(forked).toMatchObject({ repo: 'Codertocat/Hello-World', cloneUrl: 'https://github.com/Codertocat/Hello-World.git' });
  expect(forked.pull).toMatchObject({ fork: true, headRepo: 'mallory/Hello-World' });
  const deleted = example('synchronize');
  deleted.pull_request.head.repo = null;
  expect(built(deleted).pull).toMatchObject({ fork: true, headRepo: null });
  // Names compare as GitHub's do, without case.
  const sameCase = example('opened');
  sameCase.pull_request.head.repo = { full_name: 'codertocat/hello-world', clone_url: 'https://github.com/codertocat/hello-world.git' };
  expect(built(sameCase).pull?.fork).toBe(false);
});

test('GitHub saying it does not merge is carried; not computed yet is null', () => {
  const conflicting = example('synchronize');
  conflicting.pull_request.mergeable = false;
  expect(built(conflicting).pull?.mergeable).toBe(false);
  expect(built(example('opened')).pull?.mergeable).toBeNull();
});

test('each action on the same commits is a delivery of its own, not a replay of the first', () => {
  const opened = toBuildMessage('pull_request', 'a', example('opened'));
  const closed = toBuildMessage('pull_request', 'b', example('closed'));
  expect('pushedAt' in opened && 'pushedAt' in closed && opened.pushedAt !== closed.pushedAt).toBe(true);
});

test('other actions build nothing', () => {
  expect(toBuildMessage('pull_request', 'd', example('labeled'))).toEqual({ ignore: 'pull request labeled' });
});

test.each([
  ['a base branch that is no branch name', (p: PullPayload) => (p.pull_request.base.ref = 'main..x'), /base branch/],
  ['a base commit that is no commit id', (p: PullPayload) => (p.pull_request.base.sha = 'HEAD'), /not a full commit id/],
  ['a head repository that is no owner/name', (p: PullPayload) => (p.pull_request.head.repo!.full_name = '../x'), /head repository/],
])('a pull request with %s is invalid', (_what, change, reason) => {
  const payload = example('opened');
  change(payload);
  const outcome = toBuildMessage('pull_request', 'd', payload);
  expect(outcome).toEqual({ invalid: expect.stringMatching(reason) });
});

test("a message that says pull request but names none is refused (a fork's build must not pass for trusted)", () => {
  const request = built(fromFork(example('opened')));
  const { pull: _pull, ...withoutPull } = request;
  expect(buildRequestSchema.safeParse(withoutPull).success).toBe(false);
  expect(buildRequestSchema.safeParse({ ...request, pull: { ...request.pull, number: 3 } }).success).toBe(false);
  expect(buildRequestSchema.safeParse({ ...request, kind: 'push' }).success).toBe(false);
});
