/**
 * Fork approval on the real CI server (startServer, as `ci server` runs it) with a real nsqd
 * and the recording GitHub API: a waiting build posts a `pending` status saying it awaits
 * approval; the approval publishes the held request, for its job only, with the approval and
 * the waiting build's key, and GitHub then shows it queued; what else waits of that fork (the
 * pull request's other jobs) goes with the same click; the approved fork's next pull
 * request (by the same author) is approved as it arrives, also after the server restarted
 * (the approval is kept in its store), and another author's from the same fork is not.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Reader } from 'nsqjs';

import { publishMessage } from '../src/ci/nsq-api';
import { type BuildMessage, PUSH_TOPIC } from '../src/ci/push-event';
import { createGitHub } from '../src/github/client';
import { type RunningServer, startServer } from '../src/server/app';
import { EVENTS_TOPIC } from '../src/server/ingest';
import type { ServerBuild } from '../src/server/server-store';
import { capturedLog } from './helpers/captured-log';
import { type GitHubApi, startGitHubApi } from './helpers/github-api';
import { must } from './helpers/must';
import { TestNsq } from './helpers/nsq';
import { waitFor } from './helpers/wait';

const ADMIN = 'approve-server-admin-token-0123456789';
const BASE = 'b'.repeat(40);
const PUBLIC = 'https://ci.example.org';
const nsq = new TestNsq();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-approve-server-'));
const requests: BuildMessage[] = [];
let api: GitHubApi;
let server: RunningServer | undefined;
let reader: Reader | undefined;
let heads = 0;

beforeAll(async () => {
  await nsq.start();
  api = await startGitHubApi();
  await nsq.createChannel(PUSH_TOPIC, 'test');
  reader = new Reader(PUSH_TOPIC, 'test', { nsqdTCPAddresses: [nsq.nsqdTcp] });
  reader.on('message', (m) => {
    requests.push(m.json() as BuildMessage);
    m.finish();
  });
  reader.connect();
});
afterAll(async () => {
  reader?.close();
  await server?.close();
  await api.close();
  await nsq.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function start(): Promise<RunningServer> {
  const { log } = capturedLog();
  const client = createGitHub({ baseUrl: api.url, auth: { token: 'ghp_status' }, log, retry: { baseDelayMs: 10, maxDelayMs: 20 } });
  return startServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    nsqdTcp: [nsq.nsqdTcp],
    nsqdHttp: [nsq.nsqdHttp],
    adminToken: ADMIN,
    github: { client, publicUrl: `${PUBLIC}/` },
    log,
  });
}

/** A worker's `waiting` event for pull request #`number` from `headRepo` by `author`; its key and head. */
async function waitFromWorker(number: number, headRepo: string, author: string, job = 'binaries', sameHead = false): Promise<{ key: string; head: string }> {
  if (!sameHead) heads += 1;
  const head = heads.toString(16).padStart(40, 'c');
  const key = `0a0a0a0a-0000-4000-8000-${(job === 'binaries' ? heads : heads + 0x1000).toString(16).padStart(12, '0')}`;
  const request: BuildMessage = {
    kind: 'pull_request',
    delivery: `delivery-${heads}`,
    repo: 'octo/widgets',
    // https: a request names no http:// clone URL; the host is the API stand-in's, so its statuses go there.
    cloneUrl: `${api.url.replace(/^http:/, 'https:')}/octo/widgets.git`,
    ref: `refs/pull/${number}/head`,
    before: BASE,
    after: head,
    pusher: author,
    receivedAt: Date.now(),
    pull: { number, action: 'opened', baseRef: 'main', baseSha: BASE, headRepo, fork: true, mergeable: null },
  };
  const wire = { type: 'waiting', key, worker: 'host-a', at: Date.now(), job, commit: head, ref: `refs/pull/${number}/head`, request };
  await publishMessage(nsq.nsqdHttp, EVENTS_TOPIC, JSON.stringify(wire));
  return { key, head };
}

async function buildOf(key: string): Promise<ServerBuild | undefined> {
  const all = (await (await fetch(`${must(server, 'the server').url}/api/builds?limit=100`)).json()) as { builds: ServerBuild[] };
  return all.builds.find((b) => b.key === key);
}

const statusesOf = (head: string) => api.to(`POST /repos/octo/widgets/statuses/${head}`).map((r) => r.body as { state: string; description: string });

test('a waiting build is pending on GitHub; approved, its request goes to the workers and GitHub shows it queued', async () => {
  server = await start();
  const { key, head } = await waitFromWorker(7, 'mallory/widgets', 'mallory');
  // The pull request's other job waits too (its own worker told the server).
  const docs = await waitFromWorker(7, 'mallory/widgets', 'mallory', 'docs', true);
  await waitFor(() => statusesOf(head).length > 1, 'the pending statuses');
  const waiting = must(await buildOf(key), 'the waiting build');
  expect(api.to(`POST /repos/octo/widgets/statuses/${head}`)[0]?.body).toMatchObject({
    state: 'pending',
    context: 'lxcts/binaries',
    description: expect.stringMatching(/awaiting approval/),
    target_url: `${PUBLIC}/builds/${waiting.id}`,
  });
  expect(requests).toEqual([]);

  const r = await fetch(`${server.url}/api/builds/${waiting.id}/approve`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN}` } });
  expect(r.status).toBe(202);
  // One click: the fork is approved, and what waits of it goes too.
  await waitFor(() => requests.length === 2, 'the approved requests on the push topic');
  expect(requests.find((q) => q.jobs?.[0] === 'docs')).toMatchObject({ after: head, approval: { by: 'fork approved by admin', waiting: docs.key } });
  expect(requests.find((q) => q.jobs?.[0] === 'binaries')).toMatchObject({
    delivery: 'delivery-1',
    after: head,
    jobs: ['binaries'],
    pull: { number: 7, fork: true, headRepo: 'mallory/widgets' },
    approval: { by: 'admin', waiting: key },
  });
  await waitFor(() => statusesOf(head).at(-1)?.description === 'queued', 'GitHub to show the approved build queued');
  expect(await buildOf(key)).toMatchObject({ status: 'queued', approvedBy: 'admin', message: 'approved by admin' });
}, 60_000);

test("the approved fork's next pull request by the same author is approved as it comes, also after a restart; another author's waits", async () => {
  const others = await waitFromWorker(8, 'mallory/widgets', 'trudy');
  const next = await waitFromWorker(9, 'Mallory/Widgets', 'Mallory');
  await waitFor(() => requests.length === 3, 'the approval of the next pull request');
  expect(requests[2]).toMatchObject({ after: next.head, approval: { by: 'fork approved by admin', waiting: next.key } });
  expect(await buildOf(next.key)).toMatchObject({ status: 'queued', approvedBy: 'fork approved by admin' });
  expect((await buildOf(others.key))?.status).toBe('waiting');

  await server?.close();
  server = await start();
  const later = await waitFromWorker(10, 'mallory/widgets', 'mallory');
  await waitFor(() => requests.length === 4, 'the approval after the restart');
  expect(requests[3]).toMatchObject({ after: later.head, approval: { waiting: later.key } });
  expect(requests.map((q) => q.after)).not.toContain(others.head);
  expect((await buildOf(others.key))?.status).toBe('waiting');
}, 60_000);
