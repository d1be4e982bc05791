/**
 * @tier unit
 * Fork approval and pull requests' re-runs, without workers: a request's approval is
 * obeyed only on a fork's pull request and grants it nothing else; the server's store holds
 * a fork's waiting build (migration 5 keeps every earlier row and id), cancels it on a newer
 * push or the close, approves it once, and remembers approved forks; a pull request's build
 * is re-run as its pull request's request, a fork's still a fork's.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { migrate, openDatabase } from '../../src/ci/database';
import { Access } from '../../src/server/access';
import { isTrusted } from '../../src/ci/pull-request';
import { type BuildMessage, buildRequestSchema } from '../../src/ci/push-event';
import { secretsAllowed } from '../../src/ci/secrets';
import { commitStatusOf } from '../../src/github/commit-status';
import { loggerFor } from '../../src/ci/logger';
import { approvedRequest, approveKnownForks } from '../../src/server/approval';
import { control, rerunRequest } from '../../src/server/control';
import { ingestEventBody } from '../../src/server/ingest';
import { LiveStore } from '../../src/server/live-store';
import { SERVER_MIGRATIONS } from '../../src/server/server-schema';
import { type ServerBuild, ServerStore } from '../../src/server/server-store';
import { must } from '../helpers/must';
import { buildEvents } from '../helpers/server-events';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-approve-'));
let files = 0;
const opened: ServerStore[] = [];
const open = (file = path.join(dir, `s-${files++}.db`)) => {
  const store = new ServerStore(file);
  opened.push(store);
  return store;
};
afterAll(() => {
  for (const s of opened) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const BASE = 'b'.repeat(40);
const HEAD = 'c'.repeat(40);
const MERGE = 'd'.repeat(40);
const KEY = '0f0f0f0f-0000-4000-8000-000000000001';

/** A fork's pull request as the receiver publishes it. */
function forkRequest(overrides: Partial<BuildMessage['pull'] & object> = {}, request: Partial<BuildMessage> = {}): BuildMessage {
  return {
    kind: 'pull_request',
    delivery: `d-${Math.random()}`,
    repo: 'octo/hello',
    cloneUrl: 'https://example.test/octo/hello.git',
    ref: `refs/pull/${overrides.number ?? 7}/head`,
    before: BASE,
    after: HEAD,
    pusher: 'mallory',
    receivedAt: 1000,
    pull: { number: 7, action: 'opened', baseRef: 'main', baseSha: BASE, headRepo: 'mallory/hello', fork: true, mergeable: null, ...overrides },
    ...request,
  };
}

function waiting(request: BuildMessage, key = KEY, job = 'binaries') {
  return JSON.stringify({
    type: 'waiting',
    key,
    worker: 'host-a',
    at: 2000,
    job,
    commit: MERGE,
    ref: `refs/pull/${request.pull?.number}/merge`,
    subject: 'a change',
    author: 'Mallory',
    request,
  });
}

test("an approval is obeyed only on a fork's pull request, and grants it no trust", () => {
  const approval = { by: 'admin', at: 5 };
  const fork = forkRequest({}, { approval });
  expect(buildRequestSchema.safeParse(fork).success).toBe(true);
  // Approved, still a fork: no secrets, no network (isTrusted decides both).
  expect(isTrusted(fork)).toBe(false);
  expect(secretsAllowed(fork)).toBe(false);
  // Forged onto a push or a same-repository pull request: not a build request at all.
  const same = forkRequest({ headRepo: 'octo/hello', fork: false }, { approval });
  expect(buildRequestSchema.safeParse(same).error?.issues[0]?.message).toMatch(/approval is for a fork/);
  const push: BuildMessage = { ...forkRequest(), kind: 'push', ref: 'refs/heads/main', pull: undefined, approval };
  expect(buildRequestSchema.safeParse(push).success).toBe(false);
  for (const bad of [
    { by: '' },
    { by: 'a\nb', at: 1 },
    { by: 'x'.repeat(101), at: 1 },
    { by: 'a', at: -1 },
    { by: 'a', at: 1, waiting: 'nope' },
    { ...approval, extra: 1 },
  ]) {
    expect(buildRequestSchema.safeParse({ ...fork, approval: bad }).success).toBe(false);
  }
});

test("a fork's waiting build is held by the server, and only a fork's, opened or updated, not approved", () => {
  const store = open();
  expect(ingestEventBody(store, waiting(forkRequest()))).toBe('stored');
  const build = must(store.getByKey(KEY), 'the waiting build');
  expect(build).toMatchObject({ status: 'waiting', commit: MERGE, head: HEAD, pusher: 'mallory', ref: 'refs/pull/7/merge', workerBuildId: 0 });
  expect(build.pull).toEqual({ number: 7, baseRef: 'main', baseSha: BASE, headRepo: 'mallory/hello', fork: true });
  expect(build.message).toMatch(/awaiting approval: #7 comes from mallory\/hello/);
  expect(store.heldRequest(KEY)).toMatchObject({ after: HEAD, pull: { number: 7, fork: true } });
  // On GitHub: pending, not a failure.
  expect(commitStatusOf(build)).toMatchObject({ state: 'pending', description: expect.stringMatching(/awaiting approval/) });
  // Not a fork, a close, an approved request, or no pull request's ref: refused, nothing stored.
  const others = [
    waiting(forkRequest({ headRepo: 'octo/hello', fork: false }), '0f0f0f0f-0000-4000-8000-000000000002'),
    waiting(forkRequest({ action: 'closed' }), '0f0f0f0f-0000-4000-8000-000000000003'),
    waiting(forkRequest({}, { approval: { by: 'admin', at: 1 } }), '0f0f0f0f-0000-4000-8000-000000000004'),
    JSON.stringify({ ...JSON.parse(waiting(forkRequest(), '0f0f0f0f-0000-4000-8000-000000000005')), ref: 'refs/heads/main' }),
  ];
  for (const body of others) expect(ingestEventBody(store, body)).toBe('invalid');
  expect(store.list({ limit: 10 })).toHaveLength(1);
  // A replay of the wait changes nothing.
  expect(ingestEventBody(store, waiting(forkRequest()))).toBe('stored');
  expect(store.list({ limit: 10 })).toHaveLength(1);
});

test('a newer push to the pull request, in either order, and its close cancel what waits', () => {
  const store = open();
  const older = forkRequest({}, { receivedAt: 1000 });
  const newer = forkRequest({ action: 'synchronize' }, { receivedAt: 2000, after: 'e'.repeat(40) });
  const [k1, k2, k3] = ['0f0f0f0f-0000-4000-8000-00000000000a', '0f0f0f0f-0000-4000-8000-00000000000b', '0f0f0f0f-0000-4000-8000-00000000000c'];
  // The newer one first: the older one arrives cancelled.
  ingestEventBody(store, waiting(newer, k2));
  ingestEventBody(store, waiting(older, k1));
  expect(store.getByKey(k1)).toMatchObject({ status: 'cancelled', message: `superseded by ${'e'.repeat(12)}` });
  expect(store.getByKey(k2)?.status).toBe('waiting');
  // Another job of the same pull request is not touched by the close of this job's worker... until its own close comes.
  ingestEventBody(store, waiting(newer, k3, 'docs'));
  const close = (job: string, receivedAt: number) =>
    JSON.stringify({ type: 'pull-closed', worker: 'host-a', at: 3000, job, request: forkRequest({ action: 'closed' }, { receivedAt }) });
  // A close older than the wait cancels nothing.
  ingestEventBody(store, close('binaries', 1500));
  expect(store.getByKey(k2)?.status).toBe('waiting');
  ingestEventBody(store, close('binaries', 2500));
  expect(store.getByKey(k2)).toMatchObject({ status: 'cancelled', message: 'cancelled by the close of #7' });
  expect(store.getByKey(k3)?.status).toBe('waiting');
  // A close is a close: one of an open pull request is refused.
  expect(ingestEventBody(store, JSON.stringify({ type: 'pull-closed', worker: 'w', at: 1, job: 'docs', request: forkRequest() }))).toBe('invalid');
});

test('approving: once, queued, the held request for its job with the approval; the fork remembered without case', () => {
  const store = open();
  ingestEventBody(store, waiting(forkRequest()));
  const build = must(store.getByKey(KEY), 'the waiting build');
  const request = approvedRequest(store, build, 'admin', 42);
  expect(request).toMatchObject({
    kind: 'pull_request',
    after: HEAD,
    jobs: ['binaries'],
    approval: { by: 'admin', at: 42, waiting: KEY },
    pull: { fork: true },
  });
  expect(buildRequestSchema.safeParse(request).success).toBe(true);
  expect(store.approveWaiting(KEY, 'admin', 42)).toBe(true);
  expect(store.approveWaiting(KEY, 'admin', 43)).toBe(false);
  expect(store.getByKey(KEY)).toMatchObject({ status: 'queued', message: 'approved by admin', approvedBy: 'admin' });
  expect(approvedRequest(store, must(store.getByKey(KEY), 'it'), 'admin')).toMatch(/does not wait for approval/);
  // The worker's events go on under the wait's key, from 1: the same row runs.
  const [queued] = buildEvents({ id: 9, repo: 'octo/hello', commit: MERGE, pull: { number: 7, head: HEAD } }).events;
  expect(ingestEventBody(store, JSON.stringify({ ...JSON.parse(must(queued, 'queued')), key: KEY, seq: 1 }))).toBe('stored');
  expect(store.getByKey(KEY)).toMatchObject({ id: build.id, status: 'queued', workerBuildId: 9, approvedBy: 'admin' });

  store.approveFork('octo/hello', 'Mallory/Hello', 'Mallory', 'admin', 42);
  store.approveFork('octo/hello', 'mallory/hello', 'mallory', 'someone else', 43);
  expect(store.forkApproval('Octo/Hello', 'mallory/hello', 'MALLORY')).toEqual({ approvedBy: 'admin', approvedAt: new Date(42).toISOString() });
  expect(store.forkApproval('octo/hello', 'mallory/hello', 'eve')).toBeUndefined();
  expect(store.forkApproval('octo/other', 'mallory/hello', 'mallory')).toBeUndefined();
});

test('a cancelled wait is final, and an approval undone when nsqd was not reached waits again', () => {
  const store = open();
  ingestEventBody(store, waiting(forkRequest()));
  expect(store.approveWaiting(KEY, 'admin', 1)).toBe(true);
  store.unapproveWaiting(KEY, 0, 'awaiting approval');
  expect(store.getByKey(KEY)).toMatchObject({ status: 'waiting', approvedBy: null });
  expect(store.cancelWaiting(KEY, 'cancelled by admin')).toBe(true);
  expect(store.cancelWaiting(KEY, 'again')).toBe(false);
  expect(store.approveWaiting(KEY, 'admin', 2)).toBe(false);
  expect(store.getByKey(KEY)).toMatchObject({ status: 'cancelled', message: 'cancelled by admin' });
});

const prBuild = (pull: ServerBuild['pull'], over: Partial<ServerBuild> = {}): ServerBuild => ({
  id: 5,
  key: KEY,
  worker: 'host-a',
  workerBuildId: 3,
  repo: 'octo/hello',
  cloneUrl: 'https://example.test/octo/hello.git',
  commit: MERGE,
  ref: 'refs/pull/7/merge',
  branch: null,
  job: 'binaries',
  status: 'failure',
  createdAt: '2026-12-04T10:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  exitCode: 1,
  message: null,
  artifacts: [],
  published: null,
  log: null,
  subject: null,
  author: null,
  pusher: 'mallory',
  head: HEAD,
  pull,
  approvedBy: null,
  approvedAt: null,
  ...over,
});

test("a pull request's build is re-run as its pull request's request: the head, its base, a fork's still a fork's", () => {
  const pull = { number: 7, baseRef: 'main', baseSha: BASE, headRepo: 'mallory/hello', fork: true };
  const fork = rerunRequest(prBuild(pull), 'admin', 42) as BuildMessage;
  expect(buildRequestSchema.parse(fork)).toMatchObject({
    kind: 'pull_request',
    ref: 'refs/pull/7/head',
    before: BASE,
    // The head, not GitHub's merge the build was of: the worker chooses the merge again.
    after: HEAD,
    jobs: ['binaries'],
    rerun: { of: 5 },
    pull: { number: 7, baseRef: 'main', baseSha: BASE, headRepo: 'mallory/hello', fork: true },
    // Asked for by the admin: workers with --fork-approval build it.
    approval: { by: 'admin', at: 42 },
  });
  expect(isTrusted(fork)).toBe(false);
  // A row that says "not a fork" of a head in another repository (or none) is a fork all the same.
  for (const headRepo of ['mallory/hello', null]) {
    const forged = rerunRequest(prBuild({ ...pull, headRepo, fork: false }), 'admin') as BuildMessage;
    expect(forged.pull?.fork).toBe(true);
  }
  const same = rerunRequest(prBuild({ ...pull, headRepo: 'Octo/Hello', fork: false }), 'admin') as BuildMessage;
  expect(buildRequestSchema.parse(same)).toMatchObject({ pull: { fork: false } });
  expect(same.approval).toBeUndefined();
  expect(isTrusted(same)).toBe(true);
  // Without its pull request (told by an older worker) it is refused, as before.
  for (const old of [prBuild(null), prBuild(pull, { head: null })]) expect(rerunRequest(old, 'admin')).toMatch(/cannot be built again/);
});

test('migration 5 keeps every build, its id and the id counter; waiting is a status only from then on', () => {
  const file = path.join(dir, 'v4.db');
  const db = openDatabase(file);
  migrate(db, SERVER_MIGRATIONS.slice(0, 4), file);
  const insert = db.prepare(
    `INSERT INTO builds (id, key, seq, worker, worker_build_id, repo, clone_url, commit_sha, job, status, created_at, head_sha)
     VALUES (?, ?, 0, 'w', 1, 'octo/hello', 'u', ?, 'binaries', 'success', 'now', ?)`,
  );
  insert.run(3, '0f0f0f0f-0000-4000-8000-000000000103', MERGE, HEAD);
  insert.run(8, '0f0f0f0f-0000-4000-8000-000000000108', MERGE, null);
  db.prepare("UPDATE sqlite_sequence SET seq = 20 WHERE name = 'builds'").run();
  expect(() => db.prepare("UPDATE builds SET status = 'waiting' WHERE id = 3").run()).toThrow(/CHECK/);
  db.close();
  const store = open(file);
  expect(store.list({ limit: 10 }).map((b) => [b.id, b.head, b.pull])).toEqual([
    [8, null, null],
    [3, HEAD, null],
  ]);
  // The next build is 21: an id the old counter spent is never given again.
  ingestEventBody(store, waiting(forkRequest()));
  expect(store.getByKey(KEY)).toMatchObject({ id: 21, status: 'waiting' });
});

test("a build event names its pull request only for a pull request's build, well formed; the first word stays", () => {
  const store = open();
  const pull = { number: 7, baseRef: 'main', baseSha: BASE, headRepo: 'mallory/hello', fork: true };
  const [queued, started] = buildEvents({ id: 4, repo: 'octo/hello', commit: MERGE, pull: { number: 7, head: HEAD } }).events.map(
    (e) => JSON.parse(e) as object,
  );
  const [push] = buildEvents({ id: 5 }).events.map((e) => JSON.parse(e) as object);
  for (const bad of [
    { ...push, pull },
    { ...queued, pull: { ...pull, headRepo: '../x' } },
    { ...queued, pull: { ...pull, baseRef: 'a..b' } },
    { ...queued, pull: { ...pull, baseSha: 'HEAD' } },
    { ...queued, pull: { ...pull, number: 0 } },
    { ...queued, pull: { ...pull, extra: 1 } },
  ]) {
    expect(ingestEventBody(store, JSON.stringify(bad))).toBe('invalid');
  }
  expect(ingestEventBody(store, JSON.stringify({ ...queued, pull }))).toBe('stored');
  // A later event saying "not a fork" changes nothing: the first word stays.
  expect(ingestEventBody(store, JSON.stringify({ ...started, pull: { ...pull, fork: false } }))).toBe('stored');
  expect(must(store.list({ limit: 10 })[0], 'the build').pull).toEqual(pull);
});

test('a waiting build: cancelled on the server without a word to the workers, not re-run, and still waiting when nsqd cannot be reached', async () => {
  const store = open();
  ingestEventBody(store, waiting(forkRequest()));
  const id = must(store.getByKey(KEY), 'the waiting build').id;
  const sent: string[] = [];
  const access = new Access({ adminToken: 'admin-token-0123456789' });
  const down = { store, access, publish: () => Promise.reject(new Error('connection refused')) };
  expect(await control(down, 'approve', id, 'admin')).toMatchObject({ ok: false, status: 503 });
  expect(store.get(id)).toMatchObject({ status: 'waiting', approvedBy: null });
  expect(store.forkApproval('octo/hello', 'mallory/hello', 'mallory')).toBeUndefined();
  const up = { store, access, publish: async (_topic: string, body: string) => void sent.push(body) };
  expect(await control(up, 'rerun', id, 'admin')).toMatchObject({ ok: false, status: 409 });
  expect(await control(up, 'cancel', id, 'admin')).toMatchObject({ ok: true, status: 202 });
  expect(store.get(id)).toMatchObject({ status: 'cancelled', message: 'cancelled by admin' });
  expect(await control(up, 'approve', id, 'admin')).toMatchObject({ ok: false, status: 409 });
  expect(sent).toEqual([]);
});

test("a remembered fork's build is approved once nsqd is back: retried on a growing, capped schedule, never in a loop", async () => {
  jest.useFakeTimers();
  const store = new LiveStore(path.join(dir, `s-${files++}.db`));
  opened.push(store);
  store.approveFork('octo/hello', 'mallory/hello', 'mallory', 'admin', 1);
  let down = true;
  let attempts = 0;
  const sent: string[] = [];
  const publish = async (_topic: string, body: string) => {
    attempts += 1;
    // Ends the loop an undo answered at once would make (without the fix), so that the test fails, not hangs.
    if (attempts > 50) down = false;
    if (down) throw new Error('connection refused');
    sent.push(body);
  };
  const watcher = approveKnownForks({ store, publish, log: loggerFor('test', 'silent'), retry: { firstMs: 1000, maxMs: 4000 } });
  try {
    ingestEventBody(store, waiting(forkRequest()));
    await jest.advanceTimersByTimeAsync(0);
    // One try, undone: the undo (a change of the build) does not try again at once.
    expect(attempts).toBe(1);
    expect(store.getByKey(KEY)).toMatchObject({ status: 'waiting', approvedBy: null });
    for (const [wait, expected] of [
      [999, 1],
      [1, 2],
      [2000, 3],
      [4000, 4],
      [4000, 5],
    ]) {
      await jest.advanceTimersByTimeAsync(wait as number);
      expect(attempts).toBe(expected);
    }
    down = false;
    await jest.advanceTimersByTimeAsync(4000);
    expect(attempts).toBe(6);
    expect(sent).toHaveLength(1);
    expect(JSON.parse(must(sent[0], 'the request'))).toMatchObject({ approval: { by: 'fork approved by admin', waiting: KEY } });
    expect(store.getByKey(KEY)).toMatchObject({ status: 'queued', approvedBy: 'fork approved by admin' });
    // Approved: nothing more is sent.
    await jest.advanceTimersByTimeAsync(60_000);
    expect(attempts).toBe(6);
  } finally {
    watcher.close();
    jest.useRealTimers();
  }
});
