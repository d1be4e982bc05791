/**
 * Commit statuses from the real CI server (startServer, as `ci server` runs it) consuming
 * real build events from a real nsqd, posted to a local recording stand-in for the GitHub
 * API (test/helpers/github-api.ts) and checked against GitHub's documentation of
 * `POST /repos/{owner}/{repo}/statuses/{sha}`: pending when queued, then the end
 * (cancelled → error with the reason), context lxcts/<job>, the build page as target; none
 * for hook repositories or clone URLs elsewhere; a failed post shown on the build page; a
 * post still waiting for GitHub survives a restart; no credentials → one warning.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { publishMessage } from '../src/ci/nsq-api';
import { createGitHub } from '../src/github/client';
import { EVENTS_TOPIC, ingestEventBody } from '../src/server/ingest';
import { LiveStore } from '../src/server/live-store';
import { type RunningServer, SERVER_DATABASE, startServer } from '../src/server/app';
import { StatusOutbox } from '../src/server/status-outbox';
import { watchBuildStatuses } from '../src/server/status-reporter';
import { capturedLog } from './helpers/captured-log';
import { lxcts } from './helpers/cli';
import { type GitHubApi, type RecordedRequest, startGitHubApi } from './helpers/github-api';
import { must } from './helpers/must';
import { TestNsq } from './helpers/nsq';
import { buildEvents } from './helpers/server-events';
import { waitFor } from './helpers/wait';

const SHA = 'b'.repeat(40);
const PUBLIC = 'https://ci.example.org';
const dirs: string[] = [];
const nsq = new TestNsq();
let api: GitHubApi;
let server: RunningServer | undefined;

const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-github-status-'));
  dirs.push(dir);
  return dir;
};
const statusPosts = (): RecordedRequest[] => api.to(/^POST \/repos\/[^/]+\/[^/]+\/statuses\//);
const lastFor = (context: string) =>
  statusPosts()
    .filter((r) => (r.body as { context?: string }).context === context)
    .at(-1);
const publish = async (events: string[]) => {
  for (const e of events) await publishMessage(nsq.nsqdHttp, EVENTS_TOPIC, e);
};

beforeAll(async () => {
  await nsq.start();
});
beforeEach(async () => {
  api = await startGitHubApi();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await api.close();
});
afterAll(async () => {
  await nsq.stop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

test('events from nsqd become GitHub statuses: pending, then success / failure / error, each its context and build page', async () => {
  const { log } = capturedLog();
  const dataDir = tempDir();
  const client = createGitHub({ baseUrl: api.url, auth: { token: 'ghp_status' }, log, retry: { baseDelayMs: 10, maxDelayMs: 20 } });
  server = await startServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    nsqdTcp: [nsq.nsqdTcp],
    nsqdHttp: [nsq.nsqdHttp],
    github: { client, publicUrl: `${PUBLIC}/` },
    log,
  });
  const cloneUrl = `${api.url}/octo/widgets.git`;
  const ok = buildEvents({ id: 1, repo: 'octo/widgets', cloneUrl, commit: SHA, job: 'binaries', status: 'success' });
  const failed = buildEvents({ id: 2, repo: 'octo/widgets', cloneUrl, commit: SHA, job: 'docs', status: 'failure' });
  const cancelled = buildEvents({
    id: 3,
    repo: 'octo/widgets',
    cloneUrl,
    commit: SHA,
    job: 'tests',
    status: 'cancelled',
    message: `cancelled by alice: ${'x'.repeat(300)}`,
  });
  // Not GitHub's: a hook repository, and a name whose clone URL is on another host or of another repository.
  const local = buildEvents({ id: 4, job: 'local' });
  const elsewhere = buildEvents({ id: 5, repo: 'octo/widgets', cloneUrl: 'https://evil.example/octo/widgets.git', commit: SHA, job: 'elsewhere' });
  const other = buildEvents({ id: 6, repo: 'octo/widgets', cloneUrl: `${api.url}/mallory/widgets.git`, commit: SHA, job: 'other' });
  api.script(`POST /repos/octo/widgets/statuses/${SHA}`, { status: 500, body: { message: 'Server Error' } });

  // Queued first, on its own: its pending status is posted before the build goes on.
  await publish(ok.events.slice(0, 1));
  await waitFor(() => lastFor('lxcts/binaries') !== undefined, 'the pending status');
  await publish([...ok.events.slice(1), ...failed.events, ...cancelled.events, ...local.events, ...elsewhere.events, ...other.events]);
  await waitFor(
    () =>
      ['lxcts/binaries', 'lxcts/docs', 'lxcts/tests'].every((c) =>
        ['success', 'failure', 'error'].includes((lastFor(c)?.body as { state?: string })?.state ?? ''),
      ),
    () => `the final statuses, got ${JSON.stringify(statusPosts().map((r) => r.body))}`,
  );

  // The first post met a 500 and was sent again.
  for (const pending of statusPosts().slice(0, 2)) expect(pending.body).toMatchObject({ state: 'pending', context: 'lxcts/binaries', description: 'queued' });
  for (const r of statusPosts()) {
    // GitHub's documented request: the path with the full commit, JSON with these fields only.
    expect(r.path).toBe(`/repos/octo/widgets/statuses/${SHA}`);
    expect(r.headers.authorization).toBe('token ghp_status');
    expect(r.headers.accept).toBe('application/vnd.github+json');
    expect(r.headers['x-github-api-version']).toBe('2022-11-28');
    expect(Object.keys(r.body as object).sort()).toEqual(['context', 'description', 'state', 'target_url']);
    expect([...(r.body as { description: string }).description].length).toBeLessThanOrEqual(140);
  }
  const store = new LiveStore(path.join(dataDir, SERVER_DATABASE));
  try {
    const page = (key: string) => `${PUBLIC}/builds/${must(store.getByKey(key), key).id}`;
    expect(lastFor('lxcts/binaries')?.body).toEqual({ state: 'success', context: 'lxcts/binaries', description: 'passed in 8s', target_url: page(ok.key) });
    expect(lastFor('lxcts/docs')?.body).toEqual({
      state: 'failure',
      context: 'lxcts/docs',
      description: 'failed in 8s (exit 2): step 2 failed',
      target_url: page(failed.key),
    });
    expect(lastFor('lxcts/tests')?.body).toMatchObject({ state: 'error', context: 'lxcts/tests', target_url: page(cancelled.key) });
    expect((lastFor('lxcts/tests')?.body as { description: string }).description).toMatch(/^cancelled: cancelled by alice: x+…$/);
  } finally {
    store.close();
  }
  // The builds of other places posted nothing, to no repository.
  expect(statusPosts().filter((r) => !['lxcts/binaries', 'lxcts/docs', 'lxcts/tests'].includes((r.body as { context: string }).context))).toEqual([]);
  expect(api.requests.filter((r) => !r.path.startsWith('/repos/octo/widgets/statuses/'))).toEqual([]);
});

test('a post GitHub refuses is shown on the build page; no credentials is one warning and no posts', async () => {
  const { log } = capturedLog();
  const dataDir = tempDir();
  const client = createGitHub({ baseUrl: api.url, auth: { token: 't' }, log, retry: { baseDelayMs: 10, maxDelayMs: 20 } });
  server = await startServer({ dataDir, host: '127.0.0.1', port: 0, nsqdTcp: [nsq.nsqdTcp], nsqdHttp: [nsq.nsqdHttp], github: { client }, log });
  api.script(/^POST \/repos\/octo\/refused\/statuses\//, { status: 422, body: { message: 'Validation Failed' } });
  api.script(/^POST \/repos\/octo\/refused\/statuses\//, { status: 422, body: { message: 'Validation Failed' } });
  const build = buildEvents({ id: 1, repo: 'octo/refused', cloneUrl: `${api.url}/octo/refused.git`, commit: SHA, job: 'binaries' });
  await publish(build.events);
  const store = new LiveStore(path.join(dataDir, SERVER_DATABASE));
  try {
    await waitFor(() => store.getByKey(build.key)?.status === 'success', 'the build');
    const id = must(store.getByKey(build.key), 'the build').id;
    const pageText = async () => (await fetch(`${server?.url}/builds/${id}`)).text();
    await waitFor(async () => (await pageText()).includes('failed: 422'), 'the failure on the page');
    expect(await pageText()).toMatch(/GitHub status <code>lxcts\/binaries<\/code> success: failed: 422: Validation Failed/);
    // Linked to the listen URL without --public-url.
    expect((at0(api.to(/statuses/)).body as { target_url: string }).target_url).toBe(`${server.url}/builds/${id}`);
  } finally {
    store.close();
  }
  await server.close();
  server = undefined;

  const quiet = capturedLog();
  const posts = statusPosts().length;
  server = await startServer({ dataDir: tempDir(), host: '127.0.0.1', port: 0, nsqdTcp: [nsq.nsqdTcp], nsqdHttp: [nsq.nsqdHttp], log: quiet.log });
  await publish(buildEvents({ id: 9, repo: 'octo/refused', cloneUrl: `${api.url}/octo/refused.git`, commit: SHA, job: 'quiet' }).events);
  expect(quiet.lines.filter((l) => /commit statuses are off/.test(String(l.msg)))).toHaveLength(1);
  expect(statusPosts()).toHaveLength(posts);
});

test("a pull request's build of GitHub's merge commit posts on the pull request's head, even when the head comes late", async () => {
  const { log } = capturedLog();
  const dataDir = tempDir();
  const client = createGitHub({ baseUrl: api.url, auth: { token: 't' }, log, retry: { baseDelayMs: 10, maxDelayMs: 20 } });
  server = await startServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    nsqdTcp: [nsq.nsqdTcp],
    nsqdHttp: [nsq.nsqdHttp],
    github: { client, publicUrl: PUBLIC },
    log,
  });
  const MERGE = 'c'.repeat(40);
  const HEAD = 'd'.repeat(40);
  const cloneUrl = `${api.url}/octo/widgets.git`;
  const pull = { number: 12, head: HEAD };
  // A worker that sweeps a build its dead builder left says nothing of the head in that last event.
  const unheaded = (e: string) => JSON.stringify({ ...(JSON.parse(e) as object), head: undefined });
  const inOrder = buildEvents({ id: 1, repo: 'octo/widgets', cloneUrl, commit: MERGE, job: 'binaries', pull });
  await publish([...inOrder.events.slice(0, -1), unheaded(must(inOrder.events.at(-1), 'finished'))]);
  // The swept end first, the builder's events (with the head) after it.
  const late = buildEvents({ id: 2, repo: 'octo/widgets', cloneUrl, commit: MERGE, job: 'docs', status: 'failure', pull });
  await publish([unheaded(must(late.events.at(-1), 'finished'))]);
  const store = new LiveStore(path.join(dataDir, SERVER_DATABASE));
  try {
    await waitFor(() => store.getByKey(late.key)?.status === 'failure', 'the swept end');
    await publish(late.events.slice(0, -1));
    const onHead = (context: string, state: string) => {
      const last = lastFor(context);
      return last?.path === `/repos/octo/widgets/statuses/${HEAD}` && (last.body as { state: string }).state === state;
    };
    await waitFor(
      () => onHead('lxcts/binaries', 'success') && onHead('lxcts/docs', 'failure'),
      () => `the final statuses on the head, got ${JSON.stringify(statusPosts().map((r) => [r.path, r.body]))}`,
    );
    expect(store.getByKey(inOrder.key)).toMatchObject({ commit: MERGE, ref: 'refs/pull/12/merge', head: HEAD });
    expect(store.getByKey(late.key)).toMatchObject({ commit: MERGE, head: HEAD });
    const page = await (await fetch(`${server.url}/builds/${must(store.getByKey(inOrder.key), 'the build').id}`)).text();
    expect(page).toContain(`<dt>pull request head</dt>`);
    expect(page).toMatch(new RegExp(`<code>${HEAD}</code> \\(GitHub's merge of it was built`));
    // Nothing of the build told in order went to the merge commit, which the pull request does not show.
    const binaries = statusPosts().filter((r) => (r.body as { context: string }).context === 'lxcts/binaries');
    expect(binaries.map((r) => r.path)).toEqual(binaries.map(() => `/repos/octo/widgets/statuses/${HEAD}`));
  } finally {
    store.close();
  }
});

const at0 = (requests: RecordedRequest[]) => must(requests[0], 'a request');

test('a status GitHub could not take survives a restart and is posted by the next reporter', async () => {
  const { log } = capturedLog();
  const file = path.join(tempDir(), SERVER_DATABASE);
  const client = createGitHub({ baseUrl: api.url, auth: { token: 't' }, log, retry: { retries: 0 } });
  // GitHub down for the first post (the events are all stored before it: one post, of the final state).
  api.script(/statuses/, { status: 503 });
  let store = new LiveStore(file);
  let outbox = new StatusOutbox(file);
  let reporter = watchBuildStatuses({ store, outbox, github: client, log, backoffMs: 60 * 60_000 });
  reporter.startPosting(PUBLIC);
  const build = buildEvents({ id: 1, repo: 'octo/widgets', cloneUrl: `${api.url}/octo/widgets.git`, commit: SHA, job: 'binaries' });
  for (const e of build.events) ingestEventBody(store, e);
  await waitFor(() => outbox.get(build.key)?.outcome === 'retrying', 'the failed post to wait for its retry');
  expect(must(outbox.get(build.key), 'the row')).toMatchObject({ state: 'success', attempts: 1, error: expect.stringMatching(/^503/) });
  reporter.close();
  outbox.close();
  store.close();

  // An hour's backoff is not over: moving the clock stands in for the wait.
  store = new LiveStore(file);
  outbox = new StatusOutbox(file);
  const later = Date.now() + 2 * 60 * 60_000;
  reporter = watchBuildStatuses({ store, outbox, github: client, log, now: () => later });
  try {
    reporter.startPosting(PUBLIC);
    await waitFor(() => outbox.get(build.key)?.outcome === 'posted', 'the retried post after the restart');
    const posted = statusPosts().filter((r) => r.headers.authorization === 'token t');
    expect(posted.at(-1)?.body).toEqual({ state: 'success', context: 'lxcts/binaries', description: 'passed in 8s', target_url: `${PUBLIC}/builds/1` });
  } finally {
    reporter.close();
    outbox.close();
    store.close();
  }
});

test('ci server: unusable GitHub options and --public-url are refused before it starts (exit 2)', () => {
  const dir = tempDir();
  const token = path.join(dir, 'token');
  fs.writeFileSync(token, 'ghp_x\n', { mode: 0o600 });
  const run = (...args: string[]) =>
    lxcts('/nonexistent', ['ci', 'server', '--nsqd-tcp', '127.0.0.1:1', '--listen', '127.0.0.1:0', ...args], { env: { LXCTS_DATA_DIR: dir } });
  const cases: Array<[string[], RegExp]> = [
    [['--github-app-id', '7'], /GitHub: a GitHub App needs both its id and its private key file/],
    [['--github-token-file', token, '--github-app-id', '7', '--github-app-key-file', token], /GitHub: give a token file or a GitHub App, not both/],
    [['--github-token-file', path.join(dir, 'missing')], /GitHub: ENOENT/],
    [['--github-token-file', token, '--github-api-url', 'javascript:alert(1)'], /GitHub: not an http\(s\) URL/],
    [['--github-token-file', token, '--public-url', 'ftp://ci.example'], /--public-url: not an http\(s\) URL/],
  ];
  for (const [args, message] of cases) {
    const r = run(...args);
    expect({ args, status: r.status, stderr: r.stderr }).toEqual({ args, status: 2, stderr: expect.stringMatching(message) });
  }
});
