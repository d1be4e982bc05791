/**
 * A pull request's build uploaded to the server (uploads.ts with a `pull` in its manifest)
 * lands under the pull request and nowhere else, and is served at its own URLs (files.ts:
 * `/binaries/<owner>/<repo>/-/pull/<N>/<sha>/`). Attacked through the upload API as a
 * worker-token holder would: crafted pull numbers, a pull request that also names a
 * branch, a branch named like the pull requests' directory or their URL segment, the
 * commit a branch already published: none reaches a branch's binaries, its docs site, or
 * the commit's place, and refused manifests leave nothing behind.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Hono } from 'hono';

import { filesApp } from '../src/server/files';
import { uploadPublished, UploadRequest } from '../src/server/upload-client';
import type { UploadManifest } from '../src/server/upload-manifest';
import { uploadsApp } from '../src/server/uploads';
import { startServer, TestServer } from './helpers/http-server';

const TOKEN = 'worker-token-for-pull-request-uploads';
const MAIN = 'a'.repeat(40);
const PR_COMMIT = 'c'.repeat(40);
const REPO = 'victim/app';
const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

let tmp: string;
let binaries: string;
let docs: string;
let server: TestServer;

function write(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

/** A worker's published output: bin/app and a docs site, each saying `who`. */
function output(who: string): { binariesDir: string; docsDir: string } {
  const root = fs.mkdtempSync(path.join(tmp, `out-${who}-`));
  write(path.join(root, 'bin', 'bin', 'app'), `${who}\n`);
  write(path.join(root, 'site', 'index.html'), `<h1>${who}</h1>`);
  return { binariesDir: path.join(root, 'bin'), docsDir: path.join(root, 'site') };
}

function upload(who: string, extra: Partial<UploadRequest>): Promise<unknown> {
  return uploadPublished({
    server: server.url,
    token: TOKEN,
    repo: REPO,
    commit: MAIN,
    version: 'v1',
    branch: 'main',
    buildId: 1,
    requestedAt: 1000,
    forced: false,
    ...output(who),
    ...extra,
  });
}

async function get(route: string): Promise<{ status: number; text: string }> {
  const res = await fetch(new URL(route, server.url));
  return { status: res.status, text: await res.text() };
}

/** A manifest as JSON, with fields as an attacker sets them (any type); `rawPull` is written into the JSON as it is. */
async function postManifest(fields: Record<string, unknown>, rawPull?: string): Promise<number> {
  const manifest: Record<string, unknown> = {
    repo: REPO,
    commit: PR_COMMIT,
    version: 'v1',
    branch: null,
    buildId: 9,
    requestedAt: 5000,
    forced: true,
    files: [{ kind: 'binaries', path: 'bin/app', size: 5, sha256: sha256('evil\n') }] satisfies UploadManifest['files'],
    ...fields,
  };
  const res = await fetch(new URL('/uploads', server.url), {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: rawPull === undefined ? JSON.stringify(manifest) : JSON.stringify(manifest).replace(/\}$/, `,"pull":${rawPull}}`),
  });
  const body = (await res.json()) as { id?: string };
  // An accepted one is given up at once: nothing of it stays open.
  if (body.id) await fetch(new URL(`/uploads/${body.id}`, server.url), { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } });
  return res.status;
}

/** Every path below the data directory's binaries/ and docs/ (links as links). */
function tree(): string[] {
  const found: string[] = [];
  for (const root of [binaries, docs]) {
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        found.push(path.relative(path.dirname(binaries), full) + (entry.isSymbolicLink() ? ` -> ${fs.readlinkSync(full)}` : ''));
        if (entry.isDirectory()) walk(full);
      }
    };
    walk(root);
  }
  return found.sort();
}

/** What the branch main serves: its binaries, its docs, and the commit's place. */
async function mainServes(): Promise<string[]> {
  return [(await get(`/binaries/${REPO}/main/bin/app`)).text, (await get(`/docs/${REPO}/main/`)).text, (await get(`/binaries/${REPO}/${MAIN}/bin/app`)).text];
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-prfiles-uploads-'));
  binaries = path.join(tmp, 'data', 'binaries');
  docs = path.join(tmp, 'data', 'docs');
  fs.mkdirSync(binaries, { recursive: true });
  fs.mkdirSync(docs, { recursive: true });
  const app = new Hono();
  app.route('/', filesApp({ binariesRoot: binaries, docsRoot: docs }));
  app.route('/', uploadsApp({ binariesRoot: binaries, docsRoot: docs, stagingDir: path.join(tmp, 'data', 'uploads'), token: TOKEN }));
  server = await startServer(app);
  // The branch's build, published first: what no pull request may replace.
  await upload('main', {});
});

afterAll(async () => {
  await server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("a pull request's upload is served under the pull request only: the branch, its docs and the commit's place stay the branch's", async () => {
  expect(await mainServes()).toEqual(['main\n', '<h1>main</h1>', 'main\n']);
  // Even of the very commit main published, and requested later, and "forced".
  const result = (await upload('fork', { branch: null, pull: 12, commit: MAIN, buildId: 2, requestedAt: 9000, forced: true })) as {
    binaries: string;
    docs: string;
  };
  expect(result).toMatchObject({ binaries: `/binaries/${REPO}/-/pull/12/${MAIN}/`, docs: `/docs/${REPO}/-/pull/12/${MAIN}/` });
  expect((await get(`/binaries/${REPO}/-/pull/12/${MAIN}/bin/app`)).text).toBe('fork\n');
  expect((await get(`/docs/${REPO}/-/pull/12/${MAIN}/`)).text).toBe('<h1>fork</h1>');
  expect((await get(`/binaries/${REPO}/-/pull/12/${MAIN}/SHA256SUMS`)).text).toBe(`${sha256('fork\n')}  bin/app\n`);
  // The pull request's directory lists its commits, and the pull requests' directory lists them.
  expect((await get(`/binaries/${REPO}/-/pull/12/`)).text).toContain(`href="${MAIN}/"`);
  expect((await get(`/binaries/${REPO}/-/pull/`)).text).toContain('href="12/"');
  expect(await mainServes()).toEqual(['main\n', '<h1>main</h1>', 'main\n']);
  // The repository's listing shows branches and commits, not the pull requests' directory as a branch.
  expect((await get(`/binaries/${REPO}/`)).text).not.toContain('href="pull/"');
});

test('crafted pull numbers, and a pull request that also names a branch, are refused and publish nothing', async () => {
  const before = tree();
  // The same manifest with a pull request's number is taken: what is refused below is refused for its pull number.
  expect(await postManifest({ pull: 12 })).toBe(201);
  for (const pull of [0, -1, 1.5, 12e9, 2 ** 53, '12', '../main', '12/../../main', null, true, [12], { n: 12 }]) {
    expect([pull, await postManifest({ pull })]).toEqual([pull, 400]);
  }
  // A number past what JSON numbers hold (Infinity once parsed), and exponent forms of the same.
  expect(await postManifest({}, '1e400')).toBe(400);
  expect(await postManifest({}, '1.2e1')).toBe(201);
  // The pull request naming the branch it wants: its build has none.
  expect(await postManifest({ pull: 12, branch: 'main' })).toBe(400);
  expect(await postManifest({ pull: 12, branch: 'pull' })).toBe(400);
  expect(tree()).toEqual(before);
  expect(await mainServes()).toEqual(['main\n', '<h1>main</h1>', 'main\n']);
});

test('a branch named like the pull requests (pull, -, pull/12) cannot reach their place, and theirs cannot reach a branch', async () => {
  // A branch's upload whose name is the directory: its pointer gets another name (pointer-name.ts).
  await upload('branch-pull', { branch: 'pull', commit: 'd'.repeat(40), buildId: 3, requestedAt: 3000 });
  await upload('branch-pull-12', { branch: 'pull/12', commit: 'e'.repeat(40), buildId: 4, requestedAt: 3000 });
  expect((await get(`/binaries/${REPO}/pull/bin/app`)).text).toBe('branch-pull\n');
  expect((await get(`/binaries/${REPO}/pull%2F12/bin/app`)).text).toBe('branch-pull-12\n');
  // The pull request's files are where they were.
  expect((await get(`/binaries/${REPO}/-/pull/12/${MAIN}/bin/app`)).text).toBe('fork\n');
  // A branch cannot be named "-" (the URL segment of pull requests): refused.
  expect(await postManifest({ branch: '-', commit: 'f'.repeat(40) })).toBe(400);
  expect(await postManifest({ branch: '-/pull/12', commit: 'f'.repeat(40) })).toBe(400);
  // Below -/pull/<N>/ only commits' builds are served: no pointer, no other name, no other repository.
  for (const route of [
    `/binaries/${REPO}/-/pull/12/main/bin/app`,
    `/binaries/${REPO}/-/pull/012/${MAIN}/bin/app`,
    `/binaries/${REPO}/-/pull/0/`,
    `/binaries/${REPO}/-/`,
    `/binaries/${REPO}/-/pulls/12/${MAIN}/bin/app`,
    `/binaries/${REPO}/-/${MAIN}/bin/app`,
    `/binaries/${REPO}/-/pull/12/..%2F..%2Fmain/bin/app`,
    `/binaries/${REPO}/-/pull/12/%2E%2E/${MAIN}/bin/app`,
    `/docs/${REPO}/-/pull/12/main/`,
    `/docs/${REPO}/-/`,
  ]) {
    const { status } = await get(route);
    expect([route, status === 400 || status === 404]).toEqual([route, true]);
  }
  expect(await mainServes()).toEqual(['main\n', '<h1>main</h1>', 'main\n']);
});
