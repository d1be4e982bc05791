/**
 * The dashboard's pages on a real HTTP server over a real SQLite store (serverApp, the
 * same wiring `ci server` runs): the builds list with filters and paging, a build with
 * steps, artifacts and their sums, its log paged with colours; everything from a build
 * escaped; the live log over server-sent events while a build runs; the badge as XML.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { XMLParser, XMLValidator } from 'fast-xml-parser';

import { serverApp } from '../src/server/app';
import { ingestChunkBody, ingestEventBody } from '../src/server/ingest';
import { LiveStore } from '../src/server/live-store';
import { LOG_PAGE } from '../src/server/pages';
import { startServer, type TestServer } from './helpers/http-server';
import { must } from './helpers/must';
import { buildEvents, chunkMessages, sampleOutput, seeded } from './helpers/server-events';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-server-pages-'));
const binariesRoot = path.join(dir, 'binaries');
const docsRoot = path.join(dir, 'docs');
const COMMIT = 'a'.repeat(40);
const HOSTILE = '<script>alert(1)</script>';
const HOSTILE_NAME = '<img src=x onerror=alert(1)>';
let store: LiveStore;
let server: TestServer;
const stopping = new AbortController();
const output = sampleOutput(3 * LOG_PAGE + 1000, seeded(7));
let logged = 0;
/** The server's number of each build, by the worker's (the server numbers them its own way). */
const ids = new Map<number, number>();
const idOf = (workerBuildId: number) => must(ids.get(workerBuildId), `build ${workerBuildId}`);

/** A build's events with `change` applied to each record. */
function edited(events: string[], change: (build: Record<string, unknown>) => void): string[] {
  return events.map((text) => {
    const event = JSON.parse(text) as { build: Record<string, unknown> };
    change(event.build);
    return JSON.stringify(event);
  });
}

beforeAll(async () => {
  fs.mkdirSync(path.join(binariesRoot, 'local', 'hello', COMMIT), { recursive: true });
  fs.mkdirSync(docsRoot);
  fs.writeFileSync(path.join(binariesRoot, 'local', 'hello', COMMIT, 'SHA256SUMS'), `${'b'.repeat(64)}  hello\n${'c'.repeat(64)}  lib/${HOSTILE_NAME}\n`);
  store = new LiveStore(path.join(dir, 'server.sqlite'));
  const builds = [
    buildEvents({ id: 1, repo: 'local/hello', branch: 'main', status: 'success' }),
    buildEvents({ id: 2, repo: 'local/hello', branch: 'dev', status: 'failure', job: 'docs' }),
    buildEvents({ id: 3, repo: 'octo/other', branch: 'main', status: 'success' }),
  ];
  for (const b of builds) for (const e of b.events) ingestEventBody(store, e);
  // A build whose branch, message and commands are markup.
  const hostile = buildEvents({ id: 4, repo: 'octo/other', branch: 'evil', status: 'failure' });
  const events = edited(hostile.events, (b) => {
    b.branch = HOSTILE;
    b.message = HOSTILE;
    // A commit's subject and author, and the pusher's name, are anyone's to choose.
    b.subject = HOSTILE;
    b.author = HOSTILE;
    b.pusher = HOSTILE;
  }).map((e) => e.replaceAll('"make test"', JSON.stringify(HOSTILE)));
  for (const e of events) ingestEventBody(store, e);
  // The last: a log of several pages, with colours.
  const withLog = buildEvents({ id: 5, repo: 'local/hello', branch: 'main', status: 'success' });
  const { bodies, totals } = await chunkMessages(withLog.key, Buffer.concat([Buffer.from(`${HOSTILE}\n`), output]), seeded(8));
  for (const e of buildEvents({ id: 5, log: totals }).events) ingestEventBody(store, JSON.stringify({ ...(JSON.parse(e) as object), key: withLog.key }));
  for (const c of bodies) ingestChunkBody(store, c);
  logged = must(store.getByKey(withLog.key), 'the build with a log').id;
  for (const b of store.list({ limit: 100 })) ids.set(b.workerBuildId, b.id);
  server = await startServer(serverApp({ store, binariesRoot, docsRoot, stopping: stopping.signal }));
});

afterAll(async () => {
  stopping.abort();
  await server?.close();
  store?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function page(url: string, status = 200): Promise<string> {
  const response = await fetch(`${server.url}${url}`);
  expect(response.status).toBe(status);
  if (status === 200) expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  return response.text();
}

/** The build numbers linked from a list page, in order. */
const listed = (html: string) => [...html.matchAll(/<a href="\/builds\/(\d+)">/g)].map((m) => Number(m[1]));

test('the builds list: newest first, filters, paging, empty form fields, bad filters refused', async () => {
  const all = listed(await page('/'));
  expect(all).toEqual([5, 4, 3, 2, 1].map(idOf));
  expect(listed(await page('/?status=failure'))).toEqual([4, 2].map(idOf));
  expect(listed(await page('/?repo=local%2Fhello&branch=main'))).toEqual([5, 1].map(idOf));
  expect(listed(await page('/?job=docs'))).toEqual([idOf(2)]);
  expect(listed(await page('/?repo=&branch=&job=&status='))).toEqual(all);
  const first = await page('/?limit=2');
  expect(listed(first)).toEqual([5, 4].map(idOf));
  const older = must(/<a rel="next" href="([^"]+)">/.exec(first)?.[1], 'the older link').replaceAll('&amp;', '&');
  expect(listed(await page(older))).toEqual([3, 2].map(idOf));
  expect(await page('/?repo=..%2Fetc', 400)).toContain('not owner/name');
  expect(await page('/?status=weird', 400)).toContain('status');
  expect(await page('/?sort=1', 400)).toContain('Bad request');
});

test('nothing from a build becomes markup: branch, message, commands, commit subject and author, pusher, artifact names, log', async () => {
  const list = await page('/');
  expect(list).not.toContain(HOSTILE);
  expect(list).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  // Branch, subject and author in the list's row.
  expect(list.match(/&lt;script&gt;alert\(1\)&lt;\/script&gt;/g)?.length).toBeGreaterThanOrEqual(3);
  const hostile = await page(`/builds/${idOf(4)}`);
  expect(hostile).not.toContain(HOSTILE);
  expect(hostile.match(/&lt;script&gt;alert\(1\)&lt;\/script&gt;/g)?.length).toBeGreaterThanOrEqual(6);
  expect(hostile).toContain('pushed by &lt;script&gt;');
  const logged5 = await page(`/builds/${logged}?offset=0`);
  expect(logged5).not.toContain(HOSTILE);
  // The only script on a page is the server's own live script (none on a finished build).
  expect(logged5.match(/<script/g)).toBeNull();
});

test('a build: its steps with exit codes, artifacts with SHA-256 links, the log paged with its colours', async () => {
  const html = await page(`/builds/${logged}`);
  expect(html).toMatch(/<code>make<\/code>[\s\S]*1\.5s[\s\S]*<code>make test<\/code>[\s\S]*2\.3s/);
  expect(html).toContain(`<code>${'b'.repeat(64)}</code>`);
  expect(html).toContain(`href="/binaries/local/hello/${COMMIT}/hello"`);
  expect(html).toContain(`href="/binaries/local/hello/${COMMIT}/lib/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"`);
  expect(html).toContain('>lib/&lt;img src=x onerror=alert(1)&gt;</a>');
  expect(html).not.toContain(HOSTILE_NAME);
  // Unasked, the page shows the end of the log, one page of it, and links to the rest.
  const total = HOSTILE.length + 1 + output.length;
  expect(html).toContain(`bytes ${total - LOG_PAGE}–${total} of ${total}`);
  expect(html).toContain(`href="/builds/${logged}?offset=${total - 2 * LOG_PAGE}">← earlier</a>`);
  const start = await page(`/builds/${logged}?offset=0`);
  expect(start).toContain(`bytes 0–${LOG_PAGE} of ${total}`);
  expect(start).toContain('<span class="a-fg2">line 0</span>');
  expect(start).toContain(`href="/builds/${logged}?offset=${LOG_PAGE}">later →</a>`);
  expect(await page('/builds/99999', 404)).toContain('No build 99999');
  expect(await page('/builds/x', 400)).toContain('Bad request');
  expect(await page(`/builds/${logged}?offset=-1`, 400)).toContain('offset');
});

/** Reads server-sent events from `url` until `until` holds for what arrived; the text received. */
async function readEvents(url: string, until: (text: string) => boolean, whileOpen: () => Promise<void>): Promise<string> {
  const abort = new AbortController();
  const response = await fetch(url, { signal: abort.signal });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = must(response.body, 'the stream').getReader();
  const decoder = new TextDecoder();
  let text = '';
  let acted = false;
  try {
    while (!until(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      // Once the stream has said something (the status), the build goes on.
      if (!acted && text.includes('event: status')) {
        acted = true;
        await whileOpen();
      }
    }
  } finally {
    abort.abort();
  }
  return text;
}

test('the live log ends when the build finishes even though a chunk of its log was lost; the page then says so and is not live', async () => {
  const build = buildEvents({ id: 7, repo: 'local/lost', branch: 'main', status: 'failure' });
  for (const e of build.events.slice(0, 3)) ingestEventBody(store, e);
  const id = must(store.getByKey(build.key), 'the running build').id;
  const pieces = ['one\n', 'two (lost)\n', 'three\n'].map((t) => Buffer.from(t));
  let offset = 0;
  // Chunk n was cut 5 s + n minutes after the build started (its record says 10:00:01).
  const at = (seq: number) => Date.parse('2026-12-04T10:00:01.000Z') + 5_000 + seq * 60_000;
  const chunks = pieces.map((data, seq) => {
    const body = JSON.stringify({ v: 1, build: build.key, seq, offset, step: 1, at: at(seq), data: data.toString('base64') });
    offset += data.length;
    return body;
  });
  const text = await readEvents(
    `${server.url}/builds/${id}/events?from=0`,
    (t) => t.includes('event: end'),
    async () => {
      // Chunk 1 never comes: the worker gave up on it.
      ingestChunkBody(store, must(chunks[0], 'chunk 0'));
      ingestChunkBody(store, must(chunks[2], 'chunk 2'));
      const finished = JSON.parse(must(build.events[6], 'finished')) as object;
      ingestEventBody(store, JSON.stringify({ ...finished, log: { chunks: 3, bytes: offset } }));
    },
  );
  // Each line with the time its chunk says, as elapsed time; the lost chunk's line is not there.
  expect(text).toContain('<span class=\\"t\\" data-t=\\"0:05\\"');
  expect(text).toContain('one');
  expect(text).not.toContain('three');
  expect(text).toMatch(/event: end\ndata: \{"status":"failure","incomplete":true\}/);
  const after = await page(`/builds/${id}`);
  expect(after).not.toContain('<script>');
  expect(after).toContain(`${offset - 4} bytes of this log did not reach the server`);
  expect(after).toMatch(/<span class="t" data-t="0:05" title="2026-12-04T10:00:06.000Z[^"]*"><\/span>one\n/);
  // The raw log is the build's bytes, no time in it.
  expect(await (await fetch(`${server.url}/api/builds/${id}/log`)).text()).toBe('one\n');
  // Its times are beside it, in the API too.
  expect(await (await fetch(`${server.url}/api/builds/${id}/log/times`)).json()).toEqual({
    offset: 0,
    next: 4,
    startedAt: '2026-12-04T10:00:01.000Z',
    times: [{ offset: 0, at: at(0) }],
  });
  expect((await fetch(`${server.url}/api/builds/${id}/log/times?offset=-1`)).status).toBe(400);
}, 20_000);

test('the live log: a line written while the build runs arrives over SSE, then its status, then the end', async () => {
  const build = buildEvents({ id: 6, repo: 'local/live', branch: 'main', status: 'success' });
  for (const e of build.events.slice(0, 3)) ingestEventBody(store, e);
  const id = must(store.getByKey(build.key), 'the running build').id;
  const running = await page(`/builds/${id}`);
  expect(running).toContain('<script>');
  expect(running).toContain(`data-events="/builds/${id}/events?from=0"`);
  const line = Buffer.from('\x1b[31mfirst line <b>\x1b[0m\n');
  const chunk = (seq: number, offset: number, data: Buffer) =>
    JSON.stringify({ v: 1, build: build.key, seq, offset, step: 1, at: Date.now(), data: data.toString('base64') });
  const text = await readEvents(
    `${server.url}/builds/${id}/events?from=0`,
    (t) => t.includes('event: end'),
    async () => {
      ingestChunkBody(store, chunk(0, 0, line));
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (const e of build.events.slice(3, 6)) ingestEventBody(store, e);
      const finished = JSON.parse(must(build.events[6], 'finished')) as object;
      ingestEventBody(store, JSON.stringify({ ...finished, log: { chunks: 1, bytes: line.length } }));
    },
  );
  expect(text).toContain('event: status\ndata: {"status":"running"}');
  expect(text).toContain('<span class=\\"a-fg1\\">first line &#60;b&#62;</span>');
  expect(text).toContain('event: status\ndata: {"status":"success"}');
  expect(text.indexOf('first line')).toBeLessThan(text.indexOf('{"status":"success"}'));
  expect(text).toMatch(/event: end\ndata: \{"status":"success"\}/);
  // Finished with its whole log: no live script any more.
  expect(await page(`/builds/${id}`)).not.toContain('<script>');
  expect((await fetch(`${server.url}/builds/99999/events`)).status).toBe(404);
});

test('the badge: valid SVG saying how the newest commit of a branch went, names checked', async () => {
  const badge = async (url: string) => {
    const response = await fetch(`${server.url}${url}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    const svg = await response.text();
    expect(XMLValidator.validate(svg)).toBe(true);
    return new XMLParser({ ignoreAttributes: false }).parse(svg) as { svg: { title: string } };
  };
  expect((await badge('/badge/local/hello/main.svg')).svg.title).toBe('build: passing');
  expect((await badge('/badge/local/hello/dev.svg')).svg.title).toBe('build: failing');
  expect((await badge('/badge/local/hello/nothing.svg')).svg.title).toBe('build: unknown');
  for (const bad of ['/badge/local/hello.svg', '/badge/..%2F/x/main.svg', '/badge/local/hello/%00.svg', '/badge/local/hello/main.png']) {
    expect((await fetch(`${server.url}${bad}`)).status).toBe(400);
  }
});

test('a tag build and the branch build of the same commit are told apart, in the list and on their pages', async () => {
  const branch = buildEvents({ id: 8, repo: 'local/tagged', branch: 'main' });
  const tag = edited(buildEvents({ id: 9, repo: 'local/tagged' }).events, (b) => {
    b.ref = 'refs/tags/v1.0';
    b.branch = null;
    b.subject = 'Release 1.0';
    b.author = 'Ada';
    b.pusher = 'releaser';
  });
  for (const e of [...branch.events, ...tag]) ingestEventBody(store, e);
  const list = await page('/?repo=local%2Ftagged');
  expect(list).toContain('branch <a href="/?repo=local%2Ftagged&amp;branch=main">main</a>');
  expect(list).toContain('<span title="refs/tags/v1.0">tag v1.0</span>');
  expect(list).toContain('Release 1.0 <span class="who">Ada</span>');
  const tagBuild = must(store.list({ repo: 'local/tagged', limit: 1 })[0], 'the tag build');
  const tagPage = await page(`/builds/${tagBuild.id}`);
  expect(tagPage).toContain('tag v1.0 (<code>refs/tags/v1.0</code>), pushed by releaser');
  expect(await page(`/builds/${tagBuild.id - 1}`)).toContain('branch main (<code>refs/heads/main</code>)');
});
