/**
 * Several processes opening one old builds database at the same moment (a worker, builders
 * and the CLI after an upgrade): the migrations run once, under SQLite's write lock, and
 * every process ends up with the upgraded store. Runs the built store from dist/.
 */
import Database from 'better-sqlite3';
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { text } from 'node:stream/consumers';

import { BUILD_MIGRATIONS } from '../src/ci/store-schema';
import { FIRST_DDL } from './helpers/old-store-schemas';
import { ROOT } from './helpers/root';

const PROCESSES = 6;

let dir: string;
let children: ChildProcessWithoutNullStreams[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-store-processes-'));
});
// Also when the test fails or times out waiting for them.
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children = [];
  fs.rmSync(dir, { recursive: true, force: true });
});

test('processes opening an old database at once all get the upgraded store, and no row is lost', async () => {
  const file = path.join(dir, 'builds.sqlite');
  const seed = new Database(file);
  seed.pragma('journal_mode = WAL');
  // The first schema's upgrade adds columns, which two processes must not both try.
  seed.exec(FIRST_DDL);
  seed.prepare(`INSERT INTO builds (repo, clone_url, commit_sha, job, status) VALUES ('octo/hello', 'u', ?, 'binaries', 'success')`).run('a'.repeat(40));
  seed.close();

  // Each process loads the store, waits for "go" on stdin so that all open together, then
  // opens the database and claims a build of its own.
  const script = `
    const { BuildStore } = require(${JSON.stringify(path.join(ROOT, 'dist', 'ci', 'store.js'))});
    process.stdin.once('data', async () => {
      const store = new BuildStore(${JSON.stringify(file)});
      const { record } = store.claim({ repo: 'octo/hello', cloneUrl: 'u', commit: String(process.argv[1]).repeat(40), ref: null, branch: 'main', job: 'binaries', requestedAt: 1 });
      await store.withLock('repo:octo/hello', async () => undefined);
      store.close();
      process.stdout.write(String(record.id));
    });
  `;
  children = Array.from({ length: PROCESSES }, (_, i) => spawn(process.execPath, ['-e', script, String(i)]));
  for (const child of children) child.stdin.end('go\n');
  const results = await Promise.all(
    children.map(async (child) => {
      const [stdout, stderr] = await Promise.all([text(child.stdout), text(child.stderr)]);
      const [code] = (await (child.exitCode === null ? once(child, 'exit') : [child.exitCode])) as [number | null];
      return { code, stderr, id: Number(stdout) };
    }),
  );
  expect(results.map(({ code, stderr }) => ({ code, stderr }))).toEqual(Array.from({ length: PROCESSES }, () => ({ code: 0, stderr: '' })));
  expect(results.map((r) => r.id).sort((a, b) => a - b)).toEqual(Array.from({ length: PROCESSES }, (_, i) => i + 2));

  const db = new Database(file, { readonly: true });
  try {
    expect(db.pragma('user_version', { simple: true })).toBe(BUILD_MIGRATIONS.length);
    expect(db.prepare('SELECT commit_sha, status FROM builds WHERE id = 1').get()).toEqual({ commit_sha: 'a'.repeat(40), status: 'success' });
    expect(db.prepare('SELECT count(*) AS n FROM builds').get()).toEqual({ n: PROCESSES + 1 });
    expect(db.prepare('SELECT count(*) AS n FROM locks').get()).toEqual({ n: 0 });
  } finally {
    db.close();
  }
});
