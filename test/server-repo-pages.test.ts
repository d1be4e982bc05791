/**
 * The repository page and its JSON (repo-pages.ts) on a real HTTP server over a real SQLite
 * store and a published tree laid out as publish.ts lays it out: each branch's newest
 * successful build per job, the files its pointer serves with their SHA-256 (and the link
 * downloads exactly that file), the docs site; names checked; everything escaped.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { encodePointerName } from '../src/ci/pointer-name';
import { serverApp } from '../src/server/app';
import { ingestEventBody } from '../src/server/ingest';
import { LiveStore } from '../src/server/live-store';
import type { RepoSummary } from '../src/server/repo-pages';
import { rawRequest, startServer, type TestServer } from './helpers/http-server';
import { at, must } from './helpers/must';
import { buildEvents } from './helpers/server-events';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-repo-pages-'));
const binariesRoot = path.join(dir, 'binaries');
const docsRoot = path.join(dir, 'docs');
const COMMIT = 'a'.repeat(40);
const HOSTILE = '<script>alert(1)</script>';
const HELLO = Buffer.from('#!/bin/sh\necho hello\n');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
let store: LiveStore;
let server: TestServer;

/** The events of a build with its record's fields replaced. */
function build(options: Parameters<typeof buildEvents>[0], fields: Record<string, unknown> = {}): string[] {
  return buildEvents(options).events.map((text) => {
    const event = JSON.parse(text) as { build: Record<string, unknown> };
    return JSON.stringify({ ...event, build: { ...event.build, ...fields } });
  });
}

beforeAll(async () => {
  // binaries/local/hello/.versions/<sha>-1 ← <sha> ← main, as publish.ts leaves them.
  const repoDir = path.join(binariesRoot, 'local', 'hello');
  const version = path.join(repoDir, '.versions', `${COMMIT}-1`);
  fs.mkdirSync(version, { recursive: true });
  fs.writeFileSync(path.join(version, 'hello'), HELLO);
  fs.writeFileSync(path.join(version, 'SHA256SUMS'), `${sha256(HELLO)}  hello\n`);
  fs.writeFileSync(path.join(version, 'commit'), `${COMMIT}\n`);
  fs.symlinkSync(path.join('.versions', `${COMMIT}-1`), path.join(repoDir, COMMIT));
  fs.symlinkSync(COMMIT, path.join(repoDir, encodePointerName('main')));
  fs.mkdirSync(path.join(docsRoot, 'local', 'hello', encodePointerName('main')), { recursive: true });
  fs.writeFileSync(path.join(docsRoot, 'local', 'hello', 'main', 'index.html'), '<h1>docs</h1>');
  store = new LiveStore(path.join(dir, 'server.sqlite'));
  const events = [
    ...build({ id: 1, repo: 'local/hello', branch: 'main', job: 'binaries' }, { subject: HOSTILE, author: 'Ada' }),
    ...build({ id: 2, repo: 'local/hello', branch: 'main', job: 'docs' }),
    // Newer, but failed: the page still shows build 1 as the newest success of binaries.
    ...build({ id: 3, repo: 'local/hello', branch: 'main', job: 'binaries', status: 'failure' }),
    ...build({ id: 4, repo: 'local/hello', branch: 'feature/x', job: 'binaries' }),
    // A tag build is no branch's.
    ...build({ id: 5, repo: 'local/hello', job: 'binaries' }, { ref: 'refs/tags/v1.0', branch: null }),
    ...build({ id: 6, repo: 'octo/other', branch: 'main' }),
    ...build({ id: 7, repo: 'octo/failing', branch: 'main', status: 'failure' }),
  ];
  for (const e of events) ingestEventBody(store, e);
  server = await startServer(serverApp({ store, binariesRoot, docsRoot }));
});

afterAll(async () => {
  await server?.close();
  store?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const idOf = (workerBuildId: number, repo = 'local/hello') =>
  must(
    store.list({ repo, limit: 100 }).find((b) => b.workerBuildId === workerBuildId),
    `build ${workerBuildId}`,
  ).id;

test("the JSON: each branch's newest success per job, main first; the pointer's files with their sums; the docs site", async () => {
  const response = await fetch(`${server.url}/api/repos/local/hello`);
  expect(response.status).toBe(200);
  const summary = (await response.json()) as RepoSummary;
  expect(summary.repo).toBe('local/hello');
  expect(summary.branches.map((b) => b.branch)).toEqual(['main', 'feature/x']);
  const [main, feature] = [at(summary.branches, 0), at(summary.branches, 1)];
  expect(main.builds.map((b) => [b.job, b.id])).toEqual([
    ['binaries', idOf(1)],
    ['docs', idOf(2)],
  ]);
  expect(main.builds[0]).toMatchObject({ commit: COMMIT, subject: HOSTILE, author: 'Ada' });
  expect(main.binaries).toEqual({
    url: '/binaries/local/hello/main/',
    commit: COMMIT,
    files: [{ name: 'hello', sha256: sha256(HELLO), url: '/binaries/local/hello/main/hello' }],
  });
  expect(main.docs).toBe('/docs/local/hello/main/');
  // Built, but nothing of it on this server.
  expect(feature).toMatchObject({ branch: 'feature/x', binaries: null, docs: null });
  expect(feature.builds.map((b) => b.id)).toEqual([idOf(4)]);
  // The download link is the file whose sum is shown.
  const file = await fetch(`${server.url}${at(main.binaries?.files ?? [], 0).url}`);
  expect(sha256(Buffer.from(await file.arrayBuffer()))).toBe(sha256(HELLO));
  expect((await fetch(`${server.url}${main.docs ?? ''}`)).status).toBe(200);
  // A repository with builds but no success has a page with no branches; one never built has none.
  expect(await (await fetch(`${server.url}/api/repos/octo/failing`)).json()).toEqual({ repo: 'octo/failing', branches: [], truncated: false });
  expect((await fetch(`${server.url}/api/repos/octo/nothing`)).status).toBe(404);
});

test('the page: links to builds, downloads, SHA256SUMS and docs; hostile text escaped; linked from the builds list', async () => {
  const response = await fetch(`${server.url}/repos/local/hello`);
  expect(response.status).toBe(200);
  const page = await response.text();
  expect(page).toContain('<h2 id="branch-main">branch main</h2>');
  expect(page).toContain(`<a href="/builds/${idOf(1)}">#${idOf(1)}</a>`);
  expect(page).toContain(`<a href="/binaries/local/hello/main/hello" download>hello</a>`);
  expect(page).toContain(`<code>${sha256(HELLO)}</code>`);
  expect(page).toContain('href="/binaries/local/hello/main/SHA256SUMS"');
  expect(page).toContain('<a href="/docs/local/hello/main/">docs</a>');
  expect(page).toContain('branch feature/x');
  expect(page).toContain('No binaries of this branch on this server.');
  expect(page).not.toContain(HOSTILE);
  expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  expect(page).not.toContain('<script');
  const list = await (await fetch(`${server.url}/`)).text();
  expect(list).toContain('<a href="/repos/local/hello" title="binaries and docs of its branches">files</a>');
  expect(await (await fetch(`${server.url}/builds/${idOf(1)}`)).text()).toContain('<a href="/repos/local/hello">local/hello</a>');
});

test.each(['/repos/..%2Fetc/passwd', '/repos/-rf/x', '/api/repos/a/b%00', '/api/repos/a/..', '/api/repos/a%2Fb/c', '/repos/a/' + 'x'.repeat(101)])(
  '%s is refused before anything is looked up',
  async (target) => {
    const response = await rawRequest(server.port, target);
    // 400 from the name check, or 404 from a router that matches no route for it.
    expect([400, 404]).toContain(response.status);
    expect(response.body.toString()).not.toContain('branch');
  },
);

test('no builds of a repository: 404', async () => {
  const response = await fetch(`${server.url}/repos/octo/nothing`);
  expect(response.status).toBe(404);
  expect(await response.text()).toContain('No builds of octo/nothing');
});
