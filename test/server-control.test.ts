/**
 * Re-run and cancel on a real HTTP server (serverApp, as `ci server` wires it) over a real
 * store, publishing to a real nsqd: what reaches the control and push topics, and every
 * attack refused with nothing published (no token, a wrong one, a cross-origin form post, a
 * missing or wrong CSRF token, a read-only session, a GET). And the read token: without it
 * reading is open, with it every page, API and file route needs it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Reader } from 'nsqjs';

import { CONTROL_TOPIC, controlMessageSchema } from '../src/ci/control-message';
import { publishMessage } from '../src/ci/nsq-api';
import { buildRequestSchema } from '../src/ci/push-event';
import { serverApp } from '../src/server/app';
import { PUSH_TOPIC } from '../src/ci/push-event';
import { ingestEventBody } from '../src/server/ingest';
import { LiveStore } from '../src/server/live-store';
import { startServer, type TestServer } from './helpers/http-server';
import { must } from './helpers/must';
import { TestNsq } from './helpers/nsq';
import { topicStats } from './helpers/pipeline';
import { buildEvents } from './helpers/server-events';
import { waitFor } from './helpers/wait';

const ADMIN = 'admin-token-0123456789abcdef';
const READ = 'read-token-0123456789abcdef';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-server-control-'));
const nsq = new TestNsq();
let store: LiveStore;
const servers: TestServer[] = [];
const readers: Reader[] = [];
/** Messages read from each topic (on a channel of the test's). */
const seen: Record<string, unknown[]> = { [CONTROL_TOPIC]: [], [PUSH_TOPIC]: [] };
let finishedId = 0;
let runningId = 0;

async function serve(tokens: { adminToken?: string; readToken?: string }): Promise<TestServer> {
  const app = serverApp({
    store,
    binariesRoot: path.join(dir, 'binaries'),
    docsRoot: path.join(dir, 'docs'),
    ...tokens,
    publish: (topic, body) => publishMessage(nsq.nsqdHttp, topic, body),
  });
  const server = await startServer(app);
  servers.push(server);
  return server;
}

/** Messages nsqd has taken on `topic` so far (the server answers only once nsqd took it). */
const published = async (topic: string) => (await topicStats(nsq.nsqdHttp, topic))?.message_count ?? 0;
const counts = async () => [await published(CONTROL_TOPIC), await published(PUSH_TOPIC)];

beforeAll(async () => {
  await nsq.start();
  fs.mkdirSync(path.join(dir, 'binaries', 'local', 'hello'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'docs'));
  store = new LiveStore(path.join(dir, 'server.sqlite'));
  const done = buildEvents({ id: 1, status: 'success', job: 'binaries' });
  for (const e of done.events) ingestEventBody(store, e);
  const running = buildEvents({ id: 2, job: 'docs' });
  for (const e of running.events.slice(0, 3)) ingestEventBody(store, e);
  finishedId = must(store.getByKey(done.key), 'the finished build').id;
  runningId = must(store.getByKey(running.key), 'the running build').id;
  for (const topic of Object.keys(seen)) {
    await nsq.createChannel(topic, 'test');
    const reader = new Reader(topic, 'test', { nsqdTCPAddresses: [nsq.nsqdTcp] });
    reader.on('message', (m) => {
      must(seen[topic], topic).push(m.json());
      m.finish();
    });
    reader.connect();
    readers.push(reader);
  }
});

afterAll(async () => {
  for (const r of readers) r.close();
  await Promise.all(servers.map((s) => s.close()));
  store?.close();
  await nsq.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const post = (url: string, headers: Record<string, string> = {}, body?: string) => fetch(url, { method: 'POST', headers, body, redirect: 'manual' });
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = 'application/x-www-form-urlencoded';

/** Logs in with `token`; the session cookie (name=value). */
async function logIn(server: TestServer, token: string): Promise<string> {
  const r = await post(`${server.url}/login`, { 'Content-Type': FORM, Origin: server.url }, form({ token, next: '/' }));
  expect(r.status).toBe(303);
  const cookie = must(r.headers.get('set-cookie'), 'the session cookie');
  return must(cookie.split(';')[0], 'name=value');
}

/** The CSRF token the build page's form carries for this session. */
async function csrfOf(server: TestServer, cookie: string, id: number): Promise<string> {
  const page = await (await fetch(`${server.url}/builds/${id}`, { headers: { Cookie: cookie } })).text();
  return must(/name="csrf" value="([^"]+)"/.exec(page)?.[1], 'a CSRF token on the build page');
}

describe('without an admin token', () => {
  test('re-run and cancel answer 403 saying why, and the build page shows no button', async () => {
    const server = await serve({});
    const before = await counts();
    for (const action of ['rerun', 'cancel']) {
      const api = await post(`${server.url}/api/builds/${finishedId}/${action}`, { Authorization: `Bearer ${ADMIN}` });
      expect(api.status).toBe(403);
      expect(((await api.json()) as { error: string }).error).toMatch(/--admin-token-file/);
      const web = await post(`${server.url}/builds/${finishedId}/${action}`, { 'Content-Type': FORM, Origin: server.url }, form({ csrf: 'x' }));
      expect(web.status).toBe(403);
    }
    const page = await (await fetch(`${server.url}/builds/${finishedId}`)).text();
    expect(page).not.toMatch(/Re-run|Cancel|Log in/);
    expect(await counts()).toEqual(before);
    // Reading is open.
    expect((await fetch(`${server.url}/api/builds`)).status).toBe(200);
  });
});

describe('with an admin token', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await serve({ adminToken: ADMIN });
  });

  test('the API refuses a missing or wrong token, and a GET changes nothing', async () => {
    const before = await counts();
    const url = `${server.url}/api/builds/${runningId}/cancel`;
    const attempts: Array<Record<string, string>> = [
      {},
      { Authorization: `Bearer ${ADMIN.slice(0, -1)}x` },
      { Authorization: `Basic ${ADMIN}` },
      { Authorization: 'Bearer ' },
    ];
    for (const headers of attempts) {
      const r = await post(url, headers);
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    for (const action of ['rerun', 'cancel']) {
      const r = await fetch(`${server.url}/api/builds/${runningId}/${action}?token=${ADMIN}`, { headers: { Authorization: `Bearer ${ADMIN}` } });
      expect(r.status).toBe(404);
    }
    expect(await counts()).toEqual(before);
  });

  test('a cancel through the API reaches the control topic, checked as the workers check it', async () => {
    const r = await post(
      `${server.url}/api/builds/${runningId}/cancel`,
      { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
      '{"by":"alice"}',
    );
    expect(r.status).toBe(202);
    expect(await r.json()).toMatchObject({ action: 'cancel', build: runningId });
    const build = must(store.get(runningId), 'the running build');
    await waitFor(() => seen[CONTROL_TOPIC]?.length === 1, 'the cancel on the control topic');
    const message = controlMessageSchema.parse(seen[CONTROL_TOPIC]?.[0]);
    expect(message).toMatchObject({ type: 'cancel', key: build.key, repo: build.repo, commit: build.commit, job: 'docs', by: 'admin (alice)' });
    // A finished build has nothing to cancel, a running one is not re-run, an unknown one is not found.
    expect((await post(`${server.url}/api/builds/${finishedId}/cancel`, { Authorization: `Bearer ${ADMIN}` })).status).toBe(409);
    expect((await post(`${server.url}/api/builds/${runningId}/rerun`, { Authorization: `Bearer ${ADMIN}` })).status).toBe(409);
    expect((await post(`${server.url}/api/builds/99999/rerun`, { Authorization: `Bearer ${ADMIN}` })).status).toBe(404);
    // A requester that is not a short printable name is refused.
    const bad = await post(`${server.url}/api/builds/${runningId}/cancel`, { Authorization: `Bearer ${ADMIN}` }, JSON.stringify({ by: 'x\ny' }));
    expect(bad.status).toBe(400);
  });

  test('a re-run through the API is the push again, for that job only, marked as a re-run', async () => {
    const r = await post(`${server.url}/api/builds/${finishedId}/rerun`, { Authorization: `Bearer ${ADMIN}` });
    expect(r.status).toBe(202);
    await waitFor(() => seen[PUSH_TOPIC]?.length === 1, 'the re-run on the push topic');
    const request = buildRequestSchema.parse(seen[PUSH_TOPIC]?.[0]);
    const build = must(store.get(finishedId), 'the finished build');
    expect(request).toMatchObject({ repo: build.repo, cloneUrl: build.cloneUrl, ref: build.ref, after: build.commit, jobs: ['binaries'], pusher: 'admin' });
    expect(request.rerun).toEqual({ of: finishedId, requestedAt: Date.parse(build.createdAt) });
  });

  test('logging in: a wrong token sets no cookie; the right one an HttpOnly, SameSite=Strict session (not Secure over http)', async () => {
    const wrong = await post(`${server.url}/login`, { 'Content-Type': FORM, Origin: server.url }, form({ token: 'nope-nope-nope-nope' }));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const right = await post(`${server.url}/login`, { 'Content-Type': FORM, Origin: server.url }, form({ token: ADMIN, next: '//evil.example/x' }));
    expect(right.status).toBe(303);
    // `next` stays on this server.
    expect(right.headers.get('location')).toBe('/');
    const cookie = must(right.headers.get('set-cookie'), 'the cookie');
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/);
    // A login form posted from another site is refused before the token is looked at.
    const crossSite = await post(`${server.url}/login`, { 'Content-Type': FORM, Origin: 'http://evil.example' }, form({ token: ADMIN }));
    expect(crossSite.status).toBe(403);
    expect(crossSite.headers.get('set-cookie')).toBeNull();
  });

  test('the build page shows a way in to a visitor, and to the admin a form with the session’s CSRF token', async () => {
    const visitor = await (await fetch(`${server.url}/builds/${finishedId}`)).text();
    expect(visitor).toContain(`/login?next=${encodeURIComponent(`/builds/${finishedId}`)}`);
    expect(visitor).not.toMatch(/name="csrf"/);
    const cookie = await logIn(server, ADMIN);
    const page = await (await fetch(`${server.url}/builds/${finishedId}`, { headers: { Cookie: cookie } })).text();
    expect(page).toContain(`action="/builds/${finishedId}/rerun"`);
    const running = await (await fetch(`${server.url}/builds/${runningId}`, { headers: { Cookie: cookie } })).text();
    expect(running).toContain(`action="/builds/${runningId}/cancel"`);
  });

  test('the page’s forms: refused without the session, without or with a wrong CSRF token, from another origin; accepted from its page', async () => {
    const cookie = await logIn(server, ADMIN);
    const csrf = await csrfOf(server, cookie, runningId);
    const other = await csrfOf(server, await logIn(server, ADMIN), runningId);
    expect(other).not.toBe(csrf);
    const url = `${server.url}/builds/${runningId}/cancel`;
    const before = await counts();
    const attempts: Array<[string, Record<string, string>, string]> = [
      ['no session', { 'Content-Type': FORM, Origin: server.url }, form({ csrf })],
      ['no CSRF token', { 'Content-Type': FORM, Origin: server.url, Cookie: cookie }, form({})],
      ['a wrong CSRF token', { 'Content-Type': FORM, Origin: server.url, Cookie: cookie }, form({ csrf: `${csrf.slice(0, -2)}xx` })],
      ["another session's CSRF token", { 'Content-Type': FORM, Origin: server.url, Cookie: cookie }, form({ csrf: other })],
      ['another origin', { 'Content-Type': FORM, Origin: 'http://evil.example', Cookie: cookie }, form({ csrf })],
      ['another site (Sec-Fetch-Site)', { 'Content-Type': FORM, 'Sec-Fetch-Site': 'cross-site', Cookie: cookie }, form({ csrf })],
      ['no origin at all', { 'Content-Type': FORM, Cookie: cookie }, form({ csrf })],
      ['the admin token as a Bearer (the forms take sessions)', { 'Content-Type': FORM, Origin: server.url, Authorization: `Bearer ${ADMIN}` }, form({ csrf })],
    ];
    for (const [what, headers, body] of attempts) {
      const r = await post(url, headers, body);
      expect({ what, status: r.status }).toEqual({ what, status: 403 });
    }
    expect(await counts()).toEqual(before);
    const ok = await post(url, { 'Content-Type': FORM, Origin: server.url, Cookie: cookie }, form({ csrf }));
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe(`/builds/${runningId}`);
    expect(await published(CONTROL_TOPIC)).toBe((before[0] ?? 0) + 1);
    // Logged out: the same cookie and token no longer work.
    expect((await post(`${server.url}/logout`, { 'Content-Type': FORM, Origin: server.url, Cookie: cookie }, form({ csrf }))).status).toBe(303);
    expect((await post(url, { 'Content-Type': FORM, Origin: server.url, Cookie: cookie }, form({ csrf }))).status).toBe(403);
    expect(await published(CONTROL_TOPIC)).toBe((before[0] ?? 0) + 1);
  });
});

describe('with a read token', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await serve({ adminToken: ADMIN, readToken: READ });
  });

  test('pages, API, files and badges need it (or the admin token); /healthz and /login stay open', async () => {
    const routes = ['/', `/builds/${finishedId}`, '/api/builds', `/api/builds/${finishedId}/log`, '/binaries/local/hello/', '/badge/local/hello/main.svg'];
    for (const route of routes) {
      const anonymous = await fetch(`${server.url}${route}`, { redirect: 'manual' });
      expect({ route, status: anonymous.status }).toEqual({ route, status: 401 });
      const browser = await fetch(`${server.url}${route}`, { redirect: 'manual', headers: { Accept: 'text/html' } });
      expect({ route, status: browser.status }).toEqual({ route, status: 303 });
      expect(browser.headers.get('location')).toMatch(/^\/login\?next=/);
      const wrong = await fetch(`${server.url}${route}`, { headers: { Authorization: `Bearer ${READ}x` } });
      expect({ route, status: wrong.status }).toEqual({ route, status: 401 });
      for (const token of [READ, ADMIN]) {
        const r = await fetch(`${server.url}${route}`, { headers: { Authorization: `Bearer ${token}` } });
        expect({ route, status: r.status }).toEqual({ route, status: 200 });
      }
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/login`)).status).toBe(200);
  });

  test('a session from the read token reads but cannot re-run; the read token is no admin token', async () => {
    const cookie = await logIn(server, READ);
    const page = await fetch(`${server.url}/builds/${finishedId}`, { headers: { Cookie: cookie } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).not.toMatch(/name="csrf"/);
    const before = await counts();
    const web = await post(`${server.url}/builds/${finishedId}/rerun`, { 'Content-Type': FORM, Origin: server.url, Cookie: cookie }, form({ csrf: 'x' }));
    expect(web.status).toBe(403);
    expect((await post(`${server.url}/api/builds/${finishedId}/rerun`, { Authorization: `Bearer ${READ}` })).status).toBe(401);
    expect(await counts()).toEqual(before);
  });
});
