/**
 * Fork approval end to end: a `ci server` process, a `ci worker --fork-approval` process,
 * real nsqd and real containers. A fork's pull request waits on the server (no record, no
 * container, no step, nothing left in nsqd) until the admin approves it; approving needs the
 * admin token (and, from a browser, the session's CSRF token); the approved build runs as a
 * fork's on the same page; the fork's next pull request is approved as it comes; another
 * fork's waits, and a newer push or the close cancels it. An approval forged onto a
 * same-repository pull request is refused by the worker. A pull request's build is re-run
 * as its pull request's (a fork's still a fork's).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { LOGS_TOPIC } from '../src/ci/log-chunks';
import { publishMessage } from '../src/ci/nsq-api';
import type { BuildMessage } from '../src/ci/push-event';
import { EVENTS_TOPIC, SERVER_CHANNEL } from '../src/server/ingest';
import type { ServerBuild } from '../src/server/server-store';
import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';
import { must } from './helpers/must';
import { TestNsq } from './helpers/nsq';
import { buildRequest, channelStats, CliProcesses } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { startServerProcess } from './helpers/server-process';
import { waitFor } from './helpers/wait';

const TOPIC = 'lxcts.pushes';
const ADMIN = 'approve-admin-token-of-enough-length';
const READ = 'approve-read-token-of-enough-length';
const nsq = new TestNsq({ lookupd: true });
const ci = new CiSandbox('approve');
const procs = new CliProcesses(ci.data.root);
const adminFile = path.join(ci.data.root, 'admin-token');
const readFile = path.join(ci.data.root, 'read-token');
const sources = path.join(ci.data.root, 'repos');
const REPO = 'test/forked';
let url = '';
let repo: TestRepo;
let base = '';

beforeAll(async () => {
  await nsq.start();
  await nsq.createChannel(TOPIC, 'binaries');
  for (const topic of [EVENTS_TOPIC, LOGS_TOPIC]) await nsq.createChannel(topic, SERVER_CHANNEL);
  fs.writeFileSync(adminFile, `${ADMIN}\n`, { mode: 0o600 });
  fs.writeFileSync(readFile, `${READ}\n`, { mode: 0o600 });
  ({ url } = await startServerProcess(
    procs,
    '--lookupd',
    nsq.lookupdHttp,
    '--nsqd-http',
    nsq.nsqdHttp,
    '--admin-token-file',
    adminFile,
    '--read-token-file',
    readFile,
  ));
  procs.startWorker(['--lookupd', nsq.lookupdHttp], 'binaries', '--live-logs', '--fork-approval', '--allow-local', sources);
  // The base's build file: pull requests build the job; its step leaves a mark in the log.
  repo = TestRepo.create(path.join(sources, 'forked'), 'jobs:\n  binaries:\n    pull_requests: true\n    steps: ["echo STEP-RAN-$((40 + 2))"]\n');
  base = repo.git('rev-parse', 'HEAD');
}, 120_000);
afterAll(async () => {
  await procs.killAll();
  await nsq.stop();
  ci.cleanup();
});

const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

async function builds(): Promise<ServerBuild[]> {
  const r = await fetch(`${url}/api/builds?limit=100&repo=${REPO}`, { headers: auth(READ) });
  return ((await r.json()) as { builds: ServerBuild[] }).builds;
}

async function build(id: number): Promise<ServerBuild & { steps: unknown[] }> {
  return (await (await fetch(`${url}/api/builds/${id}`, { headers: auth(READ) })).json()) as ServerBuild & { steps: unknown[] };
}

async function logOf(id: number): Promise<string> {
  return (await fetch(`${url}/api/builds/${id}/log?limit=1000000`, { headers: auth(READ) })).text();
}

/** Build `id`'s log once it has `text` (chunks may come just after the build's last event). */
async function logWith(id: number, text: string): Promise<string> {
  let log = '';
  await waitFor(
    async () => (log = await logOf(id)).includes(text),
    () => `build ${id}'s log to say ${text}; it says:\n${log}`,
    { seconds: 30, everyMs: 250 },
  );
  return log;
}

const serverAndWorkerLogs = () =>
  fs
    .readdirSync(procs.logDir)
    .filter((f) => f.startsWith(`${path.basename(ci.data.root)}-`))
    .map((f) => `${f}:\n${fs.readFileSync(path.join(procs.logDir, f), 'utf8').slice(-4000)}`)
    .join('\n');

/** A build of the server (by the pull request's head) once `check` holds for it. */
async function serverBuild(what: string, check: (b: ServerBuild) => boolean, seconds = 240): Promise<ServerBuild> {
  let found: ServerBuild | undefined;
  await waitFor(
    async () => {
      found = (await builds()).find(check);
      return found !== undefined;
    },
    () => `${what}; logs:\n${serverAndWorkerLogs()}`,
    { seconds, everyMs: 250 },
  );
  return must(found, what);
}

/** Pull request #`number` from `headRepo` by `author`, as the receiver publishes it. */
function pullEvent(number: number, head: string, headRepo: string, author: string, action: 'opened' | 'synchronize' | 'closed' = 'opened'): BuildMessage {
  const fork = headRepo !== REPO;
  return buildRequest(repo, head, {
    kind: 'pull_request',
    ref: `refs/pull/${number}/head`,
    before: base,
    pusher: author,
    pull: { number, action, baseRef: 'main', baseSha: base, headRepo, fork, mergeable: null },
  });
}

/** A new head for pull request #`number` (on a branch of its own), with its merge ref. */
function pullHead(number: number, message: string): string {
  repo.git('checkout', '-q', '-B', `pr-${number}`, 'main');
  const head = repo.commit(message);
  must(repo.pullRequest(number, head), `the merge of #${number}`);
  repo.git('checkout', '-q', 'main');
  return head;
}

const control = (action: 'approve' | 'rerun' | 'cancel', id: number) =>
  lxcts('', ['ci', action, String(id), '--server', url, '--admin-token-file', adminFile, '--json'], { env: { LXCTS_DATA_DIR: ci.data.root } });

const post = (path_: string, headers: Record<string, string> = {}, body?: string) =>
  fetch(`${url}${path_}`, { method: 'POST', headers, body, redirect: 'manual' });
const FORM = 'application/x-www-form-urlencoded';

let approvedBuild = 0;

test("a fork's pull request waits, runs no step, until the admin approves it; then the same build runs as a fork's", async () => {
  const head = pullHead(1, 'from the fork');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(1, head, 'mallory/forked', 'mallory')));
  const waiting = await serverBuild('the build waiting for approval', (b) => b.head === head && b.status === 'waiting');
  // The worker finished the message: nothing waits in nsqd, nothing was requeued.
  await waitFor(
    async () => {
      const c = await channelStats(nsq.nsqdHttp, TOPIC, 'binaries');
      return c?.depth === 0 && c.in_flight_count === 0;
    },
    'the channel empty',
    { seconds: 30, everyMs: 100 },
  );
  expect(must(await channelStats(nsq.nsqdHttp, TOPIC, 'binaries'), 'the channel')).toMatchObject({ requeue_count: 0, message_count: 1 });
  // No record on the worker, no container, no step, no log: nothing of the fork ran.
  expect(ci.store.list({ repo: REPO })).toEqual([]);
  expect(ci.leftovers().containers).toEqual([]);
  expect((await build(waiting.id)).steps).toEqual([]);
  expect(await logOf(waiting.id)).not.toContain('STEP-RAN');
  expect(waiting.message).toMatch(/awaiting approval: #1 comes from mallory\/forked/);

  // Approving needs the admin token: none, a wrong one or the read token are refused.
  for (const headers of [{}, auth('not-the-token-at-all'), auth(READ)]) {
    expect((await post(`/api/builds/${waiting.id}/approve`, headers)).status).toBe(401);
  }
  // From a browser: a form without the admin's session, or without its CSRF token, is refused.
  const login = await post('/login', { 'Content-Type': FORM, Origin: url }, new URLSearchParams({ token: ADMIN, next: '/' }).toString());
  const cookie = must(must(login.headers.get('set-cookie'), 'the session cookie').split(';')[0], 'name=value');
  const page = await (await fetch(`${url}/builds/${waiting.id}`, { headers: { Cookie: cookie } })).text();
  expect(page).toContain(`action="/builds/${waiting.id}/approve"`);
  const csrf = must(/name="csrf" value="([^"]+)"/.exec(page)?.[1], 'the CSRF token');
  // Without the session cookie the read gate answers first (this server needs a token to read).
  expect((await post(`/builds/${waiting.id}/approve`, { 'Content-Type': FORM, Origin: url }, `csrf=${csrf}`)).status).toBe(401);
  expect((await post(`/builds/${waiting.id}/approve`, { 'Content-Type': FORM, Origin: url, Cookie: cookie }, 'csrf=wrong')).status).toBe(403);
  expect((await post(`/builds/${waiting.id}/approve`, { 'Content-Type': FORM, Origin: 'http://evil.example', Cookie: cookie }, `csrf=${csrf}`)).status).toBe(
    403,
  );
  // A reader's page shows no button.
  expect(await (await fetch(`${url}/builds/${waiting.id}`, { headers: auth(READ) })).text()).not.toContain('/approve"');
  expect((await build(waiting.id)).status).toBe('waiting');
  expect(ci.store.list({ repo: REPO })).toEqual([]);

  const run = control('approve', waiting.id);
  expect(run.status).toBe(0);
  expect(run.json()).toMatchObject({ action: 'approve', build: waiting.id });
  // The same build (its page, its id) runs, and passes.
  await waitFor(
    async () => (await build(waiting.id)).status === 'success',
    () => `the approved build to pass; logs:\n${serverAndWorkerLogs()}`,
    { seconds: 300, everyMs: 250 },
  );
  const done = await build(waiting.id);
  expect(done.approvedBy).toMatch(/^admin \(.+@.+\)$/);
  expect(done.head).toBe(head);
  expect(done.steps).toHaveLength(1);
  await logWith(waiting.id, 'STEP-RAN-42');
  // Still a fork's build: approval is not trust.
  await logWith(waiting.id, '#1 comes from a fork: no secrets, no network');
  expect(ci.store.list({ repo: REPO })).toMatchObject([{ status: 'success', ref: 'refs/pull/1/merge' }]);
  // Approved once: no second approval.
  expect(control('approve', waiting.id).status).toBe(1);
  approvedBuild = waiting.id;
}, 500_000);

test("the approved fork's next pull request is approved as it comes; another fork's waits, and a newer push or the close cancels it", async () => {
  const second = pullHead(2, 'more from the fork');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(2, second, 'Mallory/Forked', 'Mallory')));
  const auto = await serverBuild('the approved fork’s next build to pass', (b) => b.head === second && b.status === 'success', 300);
  expect(auto.approvedBy).toMatch(/^fork approved by admin \(/);

  // Another fork, by another author: it waits, and nothing of it is recorded on the worker.
  const older = pullHead(3, 'from eve');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(3, older, 'eve/forked', 'eve')));
  const first = await serverBuild("eve's build waiting", (b) => b.head === older && b.status === 'waiting');
  const newer = pullHead(3, 'more from eve');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(3, newer, 'eve/forked', 'eve', 'synchronize')));
  const next = await serverBuild("eve's newer build waiting", (b) => b.head === newer && b.status === 'waiting');
  expect(await build(first.id)).toMatchObject({ status: 'cancelled', message: `superseded by ${newer.slice(0, 12)}` });
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(3, newer, 'eve/forked', 'eve', 'closed')));
  await waitFor(async () => (await build(next.id)).status === 'cancelled', 'the close to cancel the waiting build', { seconds: 60, everyMs: 250 });
  expect((await build(next.id)).message).toBe('cancelled by the close of #3');
  expect(ci.store.list({ repo: REPO }).filter((b) => b.ref?.startsWith('refs/pull/3/'))).toEqual([]);
  // What no longer waits is not approved.
  const late = control('approve', next.id);
  expect(late.status).toBe(1);
  expect(late.json().error.message).toMatch(/\(409\).*does not wait for approval/);
}, 500_000);

test("an approval forged onto a same-repository pull request is refused; a fork's build re-runs as a fork's", async () => {
  const own = pullHead(4, 'from the repository itself');
  const forged = { ...pullEvent(4, own, REPO, 'tests'), approval: { by: 'mallory', at: Date.now(), waiting: must(await build(approvedBuild), 'it').key } };
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(forged));
  await waitFor(() => serverAndWorkerLogs().includes("an approval is for a fork's pull request only"), 'the worker to refuse the forged approval', {
    seconds: 60,
    everyMs: 250,
  });
  expect(ci.store.list({ repo: REPO }).filter((b) => b.ref?.startsWith('refs/pull/4/'))).toEqual([]);
  expect((await build(approvedBuild)).status).toBe('success');

  // The same pull request without the forged field is the repository's own: built at once, no wait.
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(4, own, REPO, 'tests')));
  const ours = await serverBuild('the same-repository pull request built', (b) => b.head === own && b.status === 'success', 300);
  expect(await logWith(ours.id, 'STEP-RAN-42')).not.toContain('comes from a fork');
  const rerunOurs = control('rerun', ours.id);
  expect(rerunOurs.status).toBe(0);
  const again = await serverBuild('the re-run of #4', (b) => b.head === own && b.id !== ours.id && b.status === 'success', 300);
  expect(again.pull).toMatchObject({ number: 4, fork: false });
  expect(await logWith(again.id, 'STEP-RAN-42')).not.toContain('comes from a fork');

  // The fork's build again: a pull request's build, still a fork's, built without another approval.
  const rerun = control('rerun', approvedBuild);
  expect(rerun.status).toBe(0);
  const fork = must(await build(approvedBuild), 'the approved build');
  const rebuilt = await serverBuild('the re-run of the fork’s build', (b) => b.head === fork.head && b.id > approvedBuild && b.status === 'success', 300);
  expect(rebuilt).toMatchObject({ ref: 'refs/pull/1/merge', pull: { number: 1, fork: true, headRepo: 'mallory/forked' } });
  await logWith(rebuilt.id, '#1 comes from a fork: no secrets, no network');
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
}, 700_000);
