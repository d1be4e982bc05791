/**
 * The patch parser end to end: GitHub's own pull_request payloads (@octokit/webhooks-examples),
 * signed, into the real receiver, through real nsqd, to `lxcts ci worker --channel
 * patch-parser` as a real process, which talks to a stateful stand-in for GitHub's REST API
 * (test/helpers/github-pulls-api.ts) that records every request. Each request is then
 * checked against GitHub's documented API.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { sign } from '@octokit/webhooks-methods';

import { COMMENT_MARKER } from '../src/bot/comment';
import { readConfig, readState } from '../src/bot/pull-request';
import { createGitHub } from '../src/github/client';
import { publishMessage } from '../src/ci/nsq-api';
import { PUSH_TOPIC, toBuildMessage } from '../src/ci/push-event';
import { capturedLog } from './helpers/captured-log';
import { documentedProblems, startFakeGitHub, type FakeGitHub } from './helpers/github-pulls-api';
import { freePort, TestNsq } from './helpers/nsq';
import { CliProcesses } from './helpers/pipeline';
import { waitFor } from './helpers/wait';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const examples = require('@octokit/webhooks-examples') as Array<{ name: string; examples: Array<Record<string, unknown>> }>;
const prExamples = examples.find((e) => e.name === 'pull_request')!.examples;
const opened = prExamples.find((e) => e.action === 'opened') as { number: number; pull_request: { head: { sha: string }; base: { sha: string } } };
const synchronize = prExamples.find((e) => e.action === 'synchronize')!;

const SECRET = 'patch-parser-test-secret';
const TOKEN = 'ghp_patchparsertest';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-patch-parser-'));
const ada = { name: 'Ada Lovelace', email: 'ada@example.org' };
const unsigned = (sha: string) => ({ sha, message: 'Add a feature\n\nIt does things.\n', author: ada });
const signed = (sha: string) => ({ sha, message: `Add a feature\n\nIt does things.\n\nSigned-off-by: ${ada.name} <${ada.email}>\n`, author: ada });
const sha = (c: string) => c.repeat(40);

let nsq: TestNsq;
let github: FakeGitHub;
let procs: CliProcesses;
let bot: ChildProcess;
let receiverPort: number;

const parsedCount = () =>
  procs
    .logOf(bot)
    .split('\n')
    .filter((l) => l.includes('pull request parsed')).length;

/** Sends a pull_request event to the receiver, signed as GitHub signs it; waits until the bot has handled it. */
async function deliver(payload: Record<string, unknown>, delivery: string): Promise<void> {
  const before = parsedCount();
  const body = JSON.stringify(payload);
  const r = await fetch(`http://127.0.0.1:${receiverPort}/hooks/github`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'pull_request',
      'x-github-delivery': delivery,
      'x-hub-signature-256': await sign(SECRET, body),
    },
    body,
  });
  expect(r.status).toBeLessThan(300);
  await waitFor(
    () => parsedCount() > before,
    () => `the bot to handle ${delivery}; its log:\n${procs.logOf(bot)}`,
    { seconds: 60 },
  );
}

/** The example payload with this head (and action). */
function event(action: string, head: string): Record<string, unknown> {
  const base = structuredClone(action === 'synchronize' ? synchronize : opened) as { action: string; pull_request: { head: { sha: string } } };
  base.action = action;
  base.pull_request.head.sha = head;
  return base;
}

beforeAll(async () => {
  nsq = await new TestNsq().start();
  github = await startFakeGitHub({
    owner: 'Codertocat',
    repo: 'Hello-World',
    number: opened.number,
    baseSha: opened.pull_request.base.sha,
    commits: [unsigned(sha('1'))],
    files: [{ filename: 'src/feature.ts', status: 'added', additions: 20, deletions: 0 }],
    buildFile: 'jobs: { b: { steps: [make] } }\nlabels:\n  "src/**": area/code\n  "docs/**": area/docs\n',
    sizes: { 'src/feature.ts': 600 },
  });
  const secretFile = path.join(dir, 'secret');
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(secretFile, SECRET, { mode: 0o600 });
  fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  procs = new CliProcesses(dir);
  bot = procs.startWorker(
    ['--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp],
    'patch-parser',
    '--github-api-url',
    github.url,
    '--github-token-file',
    tokenFile,
  );
  await waitFor(
    () => procs.logOf(bot).includes('patch parser started'),
    () => `the bot to start; its log:\n${procs.logOf(bot)}`,
    { seconds: 60 },
  );
  receiverPort = await freePort();
  await procs.startReceiver(receiverPort, '--secret-file', secretFile, '--nsqd-http', nsq.nsqdHttp, '--channel', 'patch-parser');
});

afterAll(async () => {
  await procs?.killAll();
  await github?.close();
  await nsq?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('opened without a sign-off: a failure status, labels from the base branch rules, one comment', async () => {
  github.pull.commits = [unsigned(sha('1'))];
  await deliver(event('opened', sha('1')), 'd-opened');
  expect(github.statuses.get(sha('1'))).toEqual([
    { state: 'failure', context: 'lxcts/dco', description: "1 commit without the author's Signed-off-by: 1111111" },
  ]);
  expect(github.labels).toEqual(['area/code', 'size/S']);
  expect(github.comments).toHaveLength(1);
  expect(github.comments[0]!.body.startsWith(COMMENT_MARKER)).toBe(true);
  expect(github.comments[0]!.body).toContain('**Sign-off missing** on 1 commit: 111111111111');
  expect(github.comments[0]!.body).toContain('**No test changed**');
  // The rules come from the base commit, never the pull request's head.
  expect(github.requests.filter((r) => r.path.endsWith('/contents/.lxcts.yml')).map((r) => r.query.ref)).toEqual([opened.pull_request.base.sha]);
});

test('the same event delivered twice writes nothing the second time', async () => {
  const writes = github.writes().length;
  const before = parsedCount();
  // The receiver drops a repeated X-GitHub-Delivery; NSQ may still hand a message over twice.
  const again = toBuildMessage('pull_request', 'd-opened', event('opened', sha('1')));
  if (!('build' in again)) throw new Error('not built');
  await publishMessage(nsq.nsqdHttp, PUSH_TOPIC, JSON.stringify(again.build));
  await waitFor(() => parsedCount() > before, 'the bot to handle the repeat');
  expect(procs.logOf(bot)).toContain('nothing to change');
  expect(github.writes().length).toBe(writes);
});

test('three updates edit the one comment; the fix turns the status green and deletes it (with a 500 and a 403 rate limit on the way)', async () => {
  // 1: another unsigned commit. A 403 rate limit with Retry-After on the first read.
  github.fail(/^GET \/repos\/[^/]+\/[^/]+\/pulls\/\d+\/commits$/, { status: 403, headers: { 'retry-after': '1', 'x-ratelimit-remaining': '0' } });
  github.pull.commits = [unsigned(sha('1')), unsigned(sha('2'))];
  github.pull.files = [{ filename: 'src/feature.ts', status: 'added', additions: 40, deletions: 0 }];
  await deliver(event('synchronize', sha('2')), 'd-sync-1');
  expect(
    github.requests
      .filter((r) => r.path.endsWith('/pulls/2/commits'))
      .slice(-2)
      .map((r) => r.method),
  ).toEqual(['GET', 'GET']);
  expect(github.statuses.get(sha('2'))?.[0]?.description).toBe("2 commits without the author's Signed-off-by: 1111111, 2222222");
  expect(github.labels).toEqual(['area/code', 'size/M']);
  expect(github.comments).toHaveLength(1);
  expect(github.comments[0]!.body).toContain('on 2 commits');

  // 2: tests added; still unsigned.
  github.pull.commits = [unsigned(sha('1')), unsigned(sha('2')), unsigned(sha('3'))];
  github.pull.files.push({ filename: 'test/feature.test.ts', status: 'added', additions: 10, deletions: 0 });
  await deliver(event('synchronize', sha('3')), 'd-sync-2');
  expect(github.comments).toHaveLength(1);
  expect(github.comments[0]!.body).not.toContain('No test changed');

  // 3: rebased with --signoff; the status post first fails with a 500.
  github.fail(/^POST \/repos\/[^/]+\/[^/]+\/statuses\//, { status: 500 });
  github.pull.commits = [signed(sha('4')), signed(sha('5')), signed(sha('6'))];
  await deliver(event('synchronize', sha('6')), 'd-sync-3');
  expect(github.requests.filter((r) => r.method === 'POST' && r.path.endsWith(`/statuses/${sha('6')}`))).toHaveLength(2);
  expect(github.statuses.get(sha('6'))).toEqual([{ state: 'success', context: 'lxcts/dco', description: 'All commits are signed off by their authors' }]);
  expect(github.comments).toEqual([]);

  const commentWrites = github.writes().filter((r) => r.path.includes('/comments'));
  expect(commentWrites.map((r) => r.method)).toEqual(['POST', 'PATCH', 'PATCH', 'DELETE']);
  expect(new Set(commentWrites.map((r) => r.path.replace(/\/issues\/2\/comments$/, '/issues/comments/1000'))).size).toBe(1);
});

test('a pull request whose head moved on is left to its newer event; pushes and garbage are acknowledged without a call', async () => {
  const writes = github.writes().length;
  const requests = github.requests.length;
  await publishMessage(nsq.nsqdHttp, PUSH_TOPIC, '{not json');
  const push = toBuildMessage(
    'push',
    'd-push',
    examples.find((e) => e.name === 'push')!.examples.find((p) => !p.deleted)!,
  );
  if (!('build' in push)) throw new Error('not built');
  await publishMessage(nsq.nsqdHttp, PUSH_TOPIC, JSON.stringify(push.build));
  await deliver(event('synchronize', sha('5')), 'd-stale');
  expect(procs.logOf(bot)).toContain('newer head');
  expect(github.writes().length).toBe(writes);
  // Only the stale event's reads (its commits list): nothing for the push or the garbage.
  expect(github.requests.slice(requests).map((r) => `${r.method} ${r.path}`)).toEqual(['GET /repos/Codertocat/Hello-World/pulls/2/commits']);
  expect(bot.exitCode).toBeNull();
});

test("every request is one GitHub's REST documentation describes", () => {
  expect(github.requests.length).toBeGreaterThan(20);
  expect(github.requests.flatMap((r) => documentedProblems(r, TOKEN))).toEqual([]);
});

describe('reading a pull request through the GitHub client (in this process)', () => {
  let other: FakeGitHub;
  const ref = { owner: 'o', repo: 'r', number: 9, headSha: '', baseSha: sha('b') };

  beforeAll(async () => {
    // Past one page of everything: 130 commits, 250 files, 120 comments.
    const commits = Array.from({ length: 130 }, (_, i) => signed(i.toString(16).padStart(40, 'c')));
    ref.headSha = commits.at(-1)!.sha;
    other = await startFakeGitHub({
      owner: 'o',
      repo: 'r',
      number: 9,
      baseSha: sha('b'),
      commits,
      files: Array.from({ length: 250 }, (_, i) => ({ filename: `docs/page-${i}.md`, status: 'modified', additions: 1, deletions: 1 })),
      buildFile: 'jobs: { b: { steps: [make] } }\nlabels: { "docs/**": 42 }\n',
      sizes: { 'docs/page-0.md': 3 * 1024 ** 2 },
    });
    for (let i = 0; i < 119; i++) other.comments.push({ id: i + 1, body: `comment ${i}`, user: { login: 'someone' } });
    other.comments.push({ id: 500, body: `${COMMENT_MARKER}\nnot the bot's`, user: { login: 'someone' } });
  });
  afterAll(() => other?.close());

  test('follows every page, takes only the bot login comments, falls back on defaults for an invalid build file', async () => {
    const api = await createGitHub({ baseUrl: other.url, auth: { token: TOKEN }, log: capturedLog().log }).forRepo('o', 'r');
    const state = await readState(api, ref, 'lxcts-bot');
    expect(state?.commits).toHaveLength(130);
    expect(state?.files).toHaveLength(250);
    expect(state?.sizes.get('docs/page-0.md')).toBe(3 * 1024 ** 2);
    // A comment by someone else that copies the marker is not the bot's to edit.
    expect(state?.botComments).toEqual([]);
    expect((await readState(api, ref))?.botComments.map((c) => c.id)).toEqual([500]);
    const { config, problem } = await readConfig(api, ref);
    expect(problem).toMatch(/labels\.docs\/\*\*/);
    expect(config.labels).toEqual([]);
    expect(other.requests.flatMap((r) => documentedProblems(r, TOKEN))).toEqual([]);
  });
});

test("a bot-only repository's build file (labels and patch_parser, no jobs) is the bot's configuration, not a problem", async () => {
  const ref = { owner: 'o', repo: 'botonly', number: 5, headSha: sha('e'), baseSha: sha('b') };
  const botOnly = await startFakeGitHub({
    ...ref,
    commits: [signed(sha('e'))],
    files: [{ filename: 'docs/guide.md', status: 'added', additions: 3, deletions: 0 }],
    buildFile: 'labels:\n  "docs/**": area/docs\npatch_parser:\n  dco: false\n',
    sizes: {},
  });
  try {
    const api = await createGitHub({ baseUrl: botOnly.url, auth: { token: TOKEN }, log: capturedLog().log }).forRepo('o', 'botonly');
    const { config, problem } = await readConfig(api, ref);
    expect(problem).toBeNull();
    expect(config).toMatchObject({ dco: false, labels: [{ glob: 'docs/**', labels: ['area/docs'] }] });
  } finally {
    await botOnly.close();
  }
});
