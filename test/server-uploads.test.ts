/**
 * Uploads from workers on other machines: authenticated, every file checked against the
 * manifest on arrival, published atomically by publish.ts, then served by files.ts. A
 * refused upload leaves nothing published and nothing staged.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Hono } from 'hono';

import { filesApp } from '../src/server/files';
import { uploadPublished, UploadRequest } from '../src/server/upload-client';
import type { UploadManifest } from '../src/server/upload-manifest';
import { uploadsApp } from '../src/server/uploads';
import { readWorkerToken } from '../src/server/worker-token';
import { rawRequest, startServer, TestServer } from './helpers/http-server';
import { at } from './helpers/must';

const TOKEN = 'worker-token-0123456789abcdef';
const COMMIT = 'b'.repeat(40);
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

let tmp: string;
let binaries: string;
let docs: string;
let staging: string;
let server: TestServer;

function write(file: string, content: string | Buffer, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode });
}

/** What a worker on another machine published: its binaries directory and docs site. */
function workerOutput(label: string, docsText = (name: string) => `${label}:${name}`): { binariesDir: string; docsDir: string } {
  const root = fs.mkdtempSync(path.join(tmp, `worker-${label}-`));
  const binariesDir = path.join(root, 'bin-out');
  write(path.join(binariesDir, 'bin', 'hello'), `#!/bin/sh\necho ${label}\n`, 0o755);
  write(path.join(binariesDir, 'notes', 'a b&c.txt'), `${label} notes\n`);
  write(path.join(binariesDir, 'SHA256SUMS'), 'written by the publisher, not uploaded\n');
  const docsDir = path.join(root, 'docs-out');
  for (const name of ['index.html', 'a.html', 'b.html', 'c.html', 'sub/d.html', 'sub/e.css']) write(path.join(docsDir, name), docsText(name));
  return { binariesDir, docsDir };
}

function request(extra: Partial<UploadRequest> & Pick<UploadRequest, 'binariesDir' | 'docsDir'>): UploadRequest {
  return {
    server: server.url,
    token: TOKEN,
    repo: 'remote/hello',
    commit: COMMIT,
    version: 'v1.0-1-gbbbbbbb',
    branch: 'main',
    buildId: 1,
    requestedAt: 1000,
    forced: false,
    ...extra,
  };
}

const auth = { Authorization: `Bearer ${TOKEN}` };

async function api(method: string, route: string, body?: string | Buffer, headers: Record<string, string> = auth) {
  const res = await fetch(new URL(route, server.url), { method, body, headers });
  return { status: res.status, text: await res.text() };
}

function manifest(files: UploadManifest['files'], extra: Partial<UploadManifest> = {}): UploadManifest {
  return { repo: 'remote/refused', commit: COMMIT, version: 'v1', branch: 'main', buildId: 7, requestedAt: 1, forced: false, files, ...extra };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-uploads-'));
  binaries = path.join(tmp, 'data', 'binaries');
  docs = path.join(tmp, 'data', 'docs');
  staging = path.join(tmp, 'data', 'uploads');
  fs.mkdirSync(binaries, { recursive: true });
  fs.mkdirSync(docs, { recursive: true });
  write(path.join(tmp, 'token'), `${TOKEN}\n`, 0o600);
  const app = new Hono();
  app.route('/', filesApp({ binariesRoot: binaries, docsRoot: docs }));
  app.route(
    '/',
    uploadsApp({
      binariesRoot: binaries,
      docsRoot: docs,
      stagingDir: staging,
      token: readWorkerToken(path.join(tmp, 'token')),
      limits: { maxFiles: 50, maxFileBytes: 1 << 20 },
    }),
  );
  server = await startServer(app);
});

afterAll(async () => {
  await server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('an upload is served with the same bytes, and sha256sum -c passes on what is served', async () => {
  const out = workerOutput('one');
  const result = await uploadPublished(request(out));
  expect(result.binaries).toBe(`/binaries/remote/hello/${COMMIT}/`);
  expect(result.docs).toBe('/docs/remote/hello/main/');
  expect(result.artifacts).toEqual(['bin/hello', 'notes/a b&c.txt']);
  const check = fs.mkdtempSync(path.join(tmp, 'check-'));
  for (const file of ['bin/hello', 'notes/a b&c.txt', 'SHA256SUMS']) {
    const res = await fetch(new URL(`/binaries/remote/hello/main/${file.split('/').map(encodeURIComponent).join('/')}`, server.url));
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (file !== 'SHA256SUMS') expect(bytes.equals(fs.readFileSync(path.join(out.binariesDir, file)))).toBe(true);
    write(path.join(check, file), bytes);
  }
  expect(fs.readFileSync(path.join(check, 'SHA256SUMS'), 'utf8')).not.toContain('not uploaded');
  execFileSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: check });
  // The executable stays executable, as a local publish would leave it.
  expect(fs.statSync(path.join(binaries, 'remote', 'hello', COMMIT, 'bin', 'hello')).mode & 0o777).toBe(0o755);
  const page = await fetch(new URL('/docs/remote/hello/main/sub/d.html', server.url));
  expect(page.status).toBe(200);
  expect(await page.text()).toBe('one:sub/d.html');
  expect(fs.readdirSync(staging)).toEqual([]);
});

describe('refused uploads publish nothing', () => {
  const hello = Buffer.from('hello\n');
  const file = { kind: 'binaries' as const, path: 'bin/hello', size: hello.length, sha256: sha256(hello) };

  afterEach(() => {
    expect(fs.existsSync(path.join(binaries, 'remote', 'refused'))).toBe(false);
    expect(fs.existsSync(path.join(docs, 'remote', 'refused'))).toBe(false);
    expect(fs.readdirSync(staging)).toEqual([]);
  });

  async function open(files = [file]): Promise<string> {
    const res = await api('POST', '/uploads', JSON.stringify(manifest(files)));
    expect(res.status).toBe(201);
    return (JSON.parse(res.text) as { id: string }).id;
  }

  test('bytes that do not match their SHA-256 drop the whole upload', async () => {
    const id = await open([file, { ...file, path: 'bin/other' }]);
    expect((await api('PUT', `/uploads/${id}/binaries/bin/other`, hello)).status).toBe(204);
    const bad = await api('PUT', `/uploads/${id}/binaries/bin/hello`, Buffer.from('HELLO\n'));
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('SHA-256');
    expect((await api('POST', `/uploads/${id}/commit`)).status).toBe(404);
  });

  test('more or fewer bytes than declared', async () => {
    for (const body of [Buffer.concat([hello, hello]), hello.subarray(0, 2)]) {
      const id = await open();
      expect((await api('PUT', `/uploads/${id}/binaries/bin/hello`, body)).status).toBe(422);
      expect((await api('POST', `/uploads/${id}/commit`)).status).toBe(404);
    }
  });

  test('a file not in the manifest, or sent twice', async () => {
    const id = await open([file, { ...file, path: 'bin/second' }]);
    expect((await api('PUT', `/uploads/${id}/binaries/bin/extra`, hello)).status).toBe(422);
    expect((await api('POST', `/uploads/${id}/commit`)).status).toBe(404);
    const again = await open([file, { ...file, path: 'bin/second' }]);
    expect((await api('PUT', `/uploads/${again}/binaries/bin/hello`, hello)).status).toBe(204);
    expect((await api('PUT', `/uploads/${again}/binaries/bin/hello`, hello)).status).toBe(422);
    expect((await api('POST', `/uploads/${again}/commit`)).status).toBe(404);
  });

  test('a commit with a declared file missing', async () => {
    const id = await open([file, { ...file, path: 'bin/never' }]);
    expect((await api('PUT', `/uploads/${id}/binaries/bin/hello`, hello)).status).toBe(204);
    const commit = await api('POST', `/uploads/${id}/commit`);
    expect(commit.status).toBe(422);
    expect(commit.text).toContain('bin/never');
  });

  test.each([
    ['an absolute path', { ...file, path: '/etc/passwd' }],
    ['..', { ...file, path: '../../escape' }],
    ['.. inside', { ...file, path: 'bin/../../escape' }],
    ['NUL', { ...file, path: 'bin/a\0b' }],
    ['a backslash', { ...file, path: 'bin\\..\\x' }],
    ['a too long path', { ...file, path: 'x'.repeat(1025) }],
    ['a hidden name', { ...file, path: '.versions/x' }],
    ['a publisher file', { ...file, path: 'SHA256SUMS' }],
    ['a file too large', { ...file, size: (1 << 20) + 1 }],
    ['a bad sum', { ...file, sha256: 'nope' }],
  ])('a manifest with %s is refused', async (_what, bad) => {
    const res = await api('POST', '/uploads', JSON.stringify(manifest([file, bad].filter((f, i) => i === 1 || f.path !== bad.path))));
    expect(res.status).toBe(400);
  });

  test('too many files, a clash, a bad repository or commit: refused', async () => {
    const many = Array.from({ length: 51 }, (_, i) => ({ ...file, path: `f${i}` }));
    expect((await api('POST', '/uploads', JSON.stringify(manifest(many)))).status).toBe(400);
    expect((await api('POST', '/uploads', JSON.stringify(manifest([file, { ...file, path: 'bin' }])))).status).toBe(400);
    expect((await api('POST', '/uploads', JSON.stringify(manifest([file, file])))).status).toBe(400);
    expect((await api('POST', '/uploads', JSON.stringify(manifest([file], { repo: '../x' })))).status).toBe(400);
    expect((await api('POST', '/uploads', JSON.stringify(manifest([file], { commit: 'HEAD' })))).status).toBe(400);
    expect((await api('POST', '/uploads', JSON.stringify(manifest([file], { branch: 'a..b' })))).status).toBe(400);
    expect((await api('POST', '/uploads', '{not json')).status).toBe(400);
  });

  test('a wrong or missing token is refused on every route', async () => {
    const id = await open();
    const wrongs: Array<Record<string, string>> = [
      {},
      { Authorization: 'Bearer wrong' },
      { Authorization: `Bearer ${TOKEN.replace(/.$/, 'X')}` },
      { Authorization: TOKEN },
    ];
    for (const headers of wrongs) {
      expect((await api('POST', '/uploads', JSON.stringify(manifest([file])), headers)).status).toBe(401);
      expect((await api('PUT', `/uploads/${id}/binaries/bin/hello`, hello, headers)).status).toBe(401);
      expect((await api('POST', `/uploads/${id}/commit`, undefined, headers)).status).toBe(401);
    }
    // Untouched by the refusals: the real token may still finish it, and then gives it up.
    expect((await api('DELETE', `/uploads/${id}`)).status).toBe(204);
  });

  test('the client gives up and reports a refusal', async () => {
    const out = workerOutput('client');
    await expect(uploadPublished({ ...request(out), repo: 'remote/refused', token: 'wrong-token-0123456789' })).rejects.toMatchObject({ status: 401 });
  });
});

test('readers never see half a site while uploads commit', async () => {
  const names = ['index.html', 'a.html', 'b.html', 'c.html', 'sub/d.html', 'sub/e.css'];
  const labels = ['s0', 's1', 's2', 's3', 's4'];
  const commitOf = (i: number) => at([...'cdef9'], i).repeat(40);
  const upload = (i: number) =>
    uploadPublished(request({ ...workerOutput(at(labels, i)), repo: 'remote/site', commit: commitOf(i), buildId: 10 + i, requestedAt: 10 + i }));
  await upload(0);
  let done = false;
  const bad: string[] = [];
  const seen = new Set<string>();
  const reader = (async () => {
    // Bounded; it goes on until the last site was seen after the last commit.
    for (let i = 0; i < 5000 && !(done && seen.has('s4')); i++) {
      const name = at(names, i % names.length);
      const res = await rawRequest(server.port, `/docs/remote/site/main/${name}`);
      const body = res.body.toString();
      const version = body.split(':')[0] ?? '';
      seen.add(version);
      if (res.status !== 200 || !labels.includes(version) || body !== `${version}:${name}`) bad.push(`${name}: ${res.status} ${body.slice(0, 40)}`);
    }
  })();
  try {
    for (let i = 1; i < labels.length; i++) await upload(i);
  } finally {
    done = true;
    await reader;
  }
  expect(bad).toEqual([]);
  expect(seen.has('s4')).toBe(true);
  // Each old site is gone once nothing points at it.
  expect(fs.readdirSync(path.join(docs, 'remote', 'site', '.versions'))).toEqual([`${commitOf(4)}-14`]);
});

test('a build requested earlier than the one published does not move the branch back', async () => {
  const newer = await uploadPublished(request({ ...workerOutput('newer'), repo: 'remote/order', commit: 'd'.repeat(40), buildId: 21, requestedAt: 2000 }));
  expect(newer.notes).toEqual([]);
  const older = await uploadPublished(request({ ...workerOutput('older'), repo: 'remote/order', commit: 'e'.repeat(40), buildId: 20, requestedAt: 1000 }));
  expect(older.notes.join('\n')).toMatch(/binaries pointer of main did not move/);
  expect(older.notes.join('\n')).toMatch(/docs pointer of main did not move/);
  expect(await (await fetch(new URL('/docs/remote/order/main/', server.url))).text()).toBe('newer:index.html');
  expect(await (await fetch(new URL('/binaries/remote/order/main/commit', server.url))).text()).toBe(`${'d'.repeat(40)}\n`);
  // The older build is still there under its commit.
  expect((await fetch(new URL(`/binaries/remote/order/${'e'.repeat(40)}/bin/hello`, server.url))).status).toBe(200);
});

test('open uploads are limited, expire, and a restart forgets them', async () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'limits-'));
  const stagingDir = path.join(dir, 'uploads');
  fs.mkdirSync(stagingDir);
  const leftover = path.join(stagingDir, 'f'.repeat(32));
  fs.mkdirSync(leftover);
  fs.writeFileSync(path.join(stagingDir, 'not-an-upload'), 'kept');
  const full = await startServer(uploadsApp({ binariesRoot: binaries, docsRoot: docs, stagingDir, token: TOKEN, limits: { maxOpenUploads: 1 } }));
  const brief = await startServer(
    uploadsApp({ binariesRoot: binaries, docsRoot: docs, stagingDir: path.join(dir, 'brief'), token: TOKEN, limits: { expiresAfterMs: 1 } }),
  );
  expect(fs.existsSync(leftover)).toBe(false);
  expect(fs.readFileSync(path.join(stagingDir, 'not-an-upload'), 'utf8')).toBe('kept');
  try {
    const body = JSON.stringify(manifest([{ kind: 'binaries', path: 'a', size: 1, sha256: sha256('a') }]));
    const post = (server: TestServer) => fetch(new URL('/uploads', server.url), { method: 'POST', body, headers: auth });
    expect((await post(full)).status).toBe(201);
    expect((await post(full)).status).toBe(503);
    const opened = await post(brief);
    expect(opened.status).toBe(201);
    const { id } = (await opened.json()) as { id: string };
    // Expired by the next request.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await fetch(new URL(`/uploads/${id}/binaries/a`, brief.url), { method: 'PUT', body: 'a', headers: auth })).status).toBe(404);
    expect(fs.readdirSync(path.join(dir, 'brief'))).toEqual([]);
  } finally {
    await full.close();
    await brief.close();
  }
});
