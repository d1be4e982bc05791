/**
 * The server's JSON read API on a real HTTP server (loopback, free port) over a real
 * SQLite store: filters, newest first, cursor paging, the log in bounded pages, and a 400
 * with the reason for every bad parameter.
 */
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { serve, type ServerType } from '@hono/node-server';

import { buildsApi, MAX_LOG_PAGE } from '../src/server/api';
import { ingestChunkBody, ingestEventBody } from '../src/server/ingest';
import { ServerStore } from '../src/server/server-store';
import { must } from './helpers/must';
import { buildEvents, chunkMessages, sampleOutput, seeded } from './helpers/server-events';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-server-api-'));
let store: ServerStore;
let server: ServerType;
let base = '';
const output = sampleOutput(200_000, seeded(3));
let logged = 0;

interface Page {
  builds: Array<{ id: number; workerBuildId: number; repo: string; branch: string; status: string; job: string; worker: string }>;
  next: number | null;
}

beforeAll(async () => {
  store = new ServerStore(path.join(dir, 'server.db'));
  const builds = [
    buildEvents({ id: 1, repo: 'local/hello', branch: 'main', status: 'success' }),
    buildEvents({ id: 2, repo: 'local/hello', branch: 'main', status: 'failure' }),
    buildEvents({ id: 3, repo: 'local/hello', branch: 'dev', status: 'success', job: 'docs' }),
    buildEvents({ id: 4, repo: 'octo/other', branch: 'main', status: 'success' }),
    buildEvents({ id: 5, repo: 'local/hello', branch: 'main', status: 'success' }),
  ];
  const logBuild = must(builds[4], 'build');
  const { bodies, totals } = await chunkMessages(logBuild.key, output, seeded(4));
  for (const b of builds.slice(0, 4)) for (const e of b.events) ingestEventBody(store, e);
  for (const e of buildEvents({ id: 5, log: totals }).events) ingestEventBody(store, JSON.stringify({ ...(JSON.parse(e) as object), key: logBuild.key }));
  for (const c of bodies) ingestChunkBody(store, c);
  logged = must(store.getByKey(logBuild.key), 'logged build').id;
  server = serve({ fetch: buildsApi(store).fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  store?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function json<T>(url: string): Promise<T> {
  const response = await fetch(`${base}${url}`);
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

test('/healthz answers', async () => {
  expect(await json('/healthz')).toEqual({ ok: true });
});

test('builds are listed newest first, filtered by repo, branch, status and job', async () => {
  const all = await json<Page>('/api/builds');
  // Ingested in the order of their worker build ids: the newest is the last one heard of.
  expect(all.builds.map((b) => b.workerBuildId)).toEqual([5, 4, 3, 2, 1]);
  expect(all.next).toBeNull();
  const main = await json<Page>('/api/builds?repo=local/hello&branch=main');
  expect(main.builds.map((b) => `${b.repo} ${b.branch}`)).toEqual(['local/hello main', 'local/hello main', 'local/hello main']);
  expect((await json<Page>('/api/builds?status=failure')).builds.map((b) => b.status)).toEqual(['failure']);
  expect((await json<Page>('/api/builds?job=docs')).builds.map((b) => b.branch)).toEqual(['dev']);
  expect((await json<Page>('/api/builds?repo=local/hello&status=success&job=binaries')).builds).toHaveLength(2);
});

test('pages follow the cursor to the end without repeating a build', async () => {
  const seen: number[] = [];
  let url = '/api/builds?limit=2';
  for (;;) {
    const page = await json<Page>(url);
    expect(page.builds.length).toBeLessThanOrEqual(2);
    seen.push(...page.builds.map((b) => b.id));
    if (page.next === null) break;
    url = `/api/builds?limit=2&before=${page.next}`;
  }
  expect(seen).toEqual((await json<Page>('/api/builds')).builds.map((b) => b.id));
});

test('a build comes with its steps; an unknown one is a 404', async () => {
  const build = await json<{ status: string; steps: Array<{ step: number; exitCode: number }>; logAvailable: number; logComplete: boolean }>(
    `/api/builds/${logged}`,
  );
  expect(build.status).toBe('success');
  expect(build.steps.map((s) => [s.step, s.exitCode])).toEqual([
    [1, 0],
    [2, 0],
  ]);
  expect(build).toMatchObject({ logAvailable: output.length, logComplete: true });
  expect((await fetch(`${base}/api/builds/999999`)).status).toBe(404);
});

test('the log comes in bounded pages that add up to the whole log', async () => {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const response = await fetch(`${base}/api/builds/${logged}/log?offset=${offset}&limit=50000`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const body = Buffer.from(await response.arrayBuffer());
    expect(body.length).toBeLessThanOrEqual(50000);
    if (body.length === 0) {
      expect(response.headers.get('x-log-complete')).toBe('true');
      break;
    }
    parts.push(body);
    offset = Number(response.headers.get('x-log-next-offset'));
  }
  expect(parts.length).toBe(Math.ceil(output.length / 50000));
  expect(Buffer.concat(parts).equals(output)).toBe(true);
  // Without a limit, one default page, not the whole log.
  const first = await fetch(`${base}/api/builds/${logged}/log`);
  expect((await first.arrayBuffer()).byteLength).toBe(64 * 1024);
});

test.each([
  '/api/builds?status=exploded',
  '/api/builds?limit=0',
  '/api/builds?limit=101',
  '/api/builds?limit=ten',
  '/api/builds?before=-1',
  '/api/builds?repo=../../etc',
  '/api/builds?repo=a/b/c',
  '/api/builds?branch=',
  '/api/builds?colour=red',
  '/api/builds/abc',
  '/api/builds/0',
  '/api/builds/1.5',
  '/api/builds/1/log?offset=-1',
  `/api/builds/1/log?limit=${MAX_LOG_PAGE + 1}`,
  '/api/builds/1/log?limit=0',
  '/api/builds/1/log?whole=1',
])('%s is a 400 saying why', async (url) => {
  const response = await fetch(`${base}${url}`);
  expect(response.status).toBe(400);
  const body = (await response.json()) as { error: string; issues: Array<{ message: string }> };
  expect(body.error).toBe('bad request');
  expect(body.issues.length).toBeGreaterThan(0);
});
