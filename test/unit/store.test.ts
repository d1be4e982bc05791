/**
 * @tier unit
 * The build records in SQLite (an in-memory database): claims that dedupe, supersede,
 * filters, the lock every process shares, and each build's event key and numbering.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BuildStore, NewBuild } from '../../src/ci/store';

let store: BuildStore;
beforeEach(() => {
  store = new BuildStore(':memory:');
});
afterEach(() => store.close());

const build = (extra: Partial<NewBuild> = {}): NewBuild => ({
  repo: 'octo/hello',
  cloneUrl: 'https://example.test/octo/hello.git',
  commit: 'a'.repeat(40),
  ref: 'refs/heads/main',
  branch: 'main',
  job: 'binaries',
  requestedAt: 1000,
  ...extra,
});

test('a claim creates a queued record; the same commit and job is not claimed twice unless forced', () => {
  const first = store.claim(build());
  expect(first).toMatchObject({ created: true, record: { status: 'queued', repo: 'octo/hello', job: 'binaries', builderPid: process.pid } });
  expect(store.claim(build())).toEqual({ created: false, record: first.record });
  expect(store.claim(build({ job: 'docs' })).created).toBe(true);
  expect(store.claim(build(), true).created).toBe(true);
});

test('a failed build can be claimed again; a successful one cannot', () => {
  const { record } = store.claim(build());
  store.started(record.id, { logPath: '/logs/1', container: 'b-1' });
  expect(store.get(record.id)).toMatchObject({ status: 'running', logPath: '/logs/1', container: 'b-1' });
  store.finished(record.id, { status: 'failure', exitCode: 2, message: 'step 1 failed' });
  expect(store.get(record.id)).toMatchObject({ status: 'failure', exitCode: 2, message: 'step 1 failed', artifacts: [] });
  const again = store.claim(build());
  expect(again.created).toBe(true);
  store.finished(again.record.id, { status: 'success', artifacts: ['hello'] });
  expect(store.claim(build())).toMatchObject({ created: false, record: { id: again.record.id, artifacts: ['hello'] } });
});

test('a newer request supersedes older queued or running builds of the branch and job, not others', () => {
  const old = store.claim(build({ commit: '1'.repeat(40), requestedAt: 1 })).record;
  const otherJob = store.claim(build({ commit: '1'.repeat(40), job: 'docs', requestedAt: 1 })).record;
  const newer = { repo: 'octo/hello', branch: 'main', job: 'binaries', commit: '2'.repeat(40), requestedAt: 2 };
  expect(store.supersede(newer)).toBe(1);
  expect(store.get(old.id)).toMatchObject({ status: 'cancelled', message: 'superseded by 222222222222' });
  expect(store.get(otherJob.id)!.status).toBe('queued');
  expect(store.newerRequest({ repo: 'octo/hello', branch: 'main', job: 'binaries', requestedAt: 0 })?.id).toBe(old.id);
  expect(store.newerRequest({ repo: 'octo/hello', branch: 'main', job: 'binaries', requestedAt: 1 })).toBeUndefined();
});

test('names written by strangers are stored as data, not SQL', () => {
  const repo = "x'); DROP TABLE builds; --";
  const { record } = store.claim(build({ repo, branch: "main' OR '1'='1" }));
  expect(store.get(record.id)!.repo).toBe(repo);
  expect(store.list({ repo })).toHaveLength(1);
  expect(store.list({ repo: 'octo/hello' })).toHaveLength(0);
  expect(store.list({ status: 'queued', limit: 10 })).toHaveLength(1);
});

test('a build that could not start is recorded as an error, not lost', () => {
  const record = store.recordError(build(), 'dead-lettered after 5 attempts');
  expect(record).toMatchObject({ status: 'error', message: 'dead-lettered after 5 attempts' });
  expect(store.orphans()).toEqual([]);
});

test('withLock runs holders one at a time and releases the lock when one throws', async () => {
  const order: string[] = [];
  const hold = (id: string, fail = false) =>
    store.withLock('repo:octo/hello', async () => {
      order.push(`in ${id}`);
      await new Promise((r) => setTimeout(r, 20));
      order.push(`out ${id}`);
      if (fail) throw new Error(`failed ${id}`);
    });
  const results = await Promise.allSettled([hold('a', true), hold('b')]);
  expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
  expect(order).toEqual(['in a', 'out a', 'in b', 'out b']);
});

test("a build's event key is made once and kept; its events are numbered on across processes opening the file", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-store-events-'));
  const file = path.join(dir, 'events.sqlite');
  const a = new BuildStore(file);
  const b = new BuildStore(file);
  try {
    const { record } = a.claim(build({ subject: 'Fix it', author: 'Ada', pusher: 'bob' }));
    const first = a.nextEvent(record.id);
    expect(first.key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(first.seq).toBe(0);
    expect(a.nextEvent(record.id)).toEqual({ key: first.key, seq: 1 });
    // Another process (the sweep after a worker died) goes on from there.
    expect(b.nextEvent(record.id)).toEqual({ key: first.key, seq: 2 });
    expect(b.get(record.id)).toMatchObject({ subject: 'Fix it', author: 'Ada', pusher: 'bob' });
    const other = a.claim(build({ commit: 'c'.repeat(40) })).record;
    expect(a.nextEvent(other.id).key).not.toBe(first.key);
    expect(() => a.nextEvent(99_999)).toThrow('build 99999 is not in the store');
  } finally {
    a.close();
    b.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
