/**
 * @tier unit
 * The cross-process lock kept in the builds database (store-lock.ts), on a real SQLite file
 * opened twice as two processes would: one holder at a time, a dead holder's lock taken
 * over, a live holder's lock waited for and then given up; and the store's statements
 * prepared once.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { currentProcessIdentity } from '../../src/ci/process-identity';
import { BuildStore } from '../../src/ci/store';
import { failureOf } from '../helpers/failure';

let dir: string;
let file: string;
const stores: BuildStore[] = [];
const open = (): BuildStore => {
  const store = new BuildStore(file);
  stores.push(store);
  return store;
};
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-store-lock-'));
  file = path.join(dir, 'builds.sqlite');
});
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function locks(): Array<{ name: string; owner: string }> {
  const db = new Database(file);
  try {
    return db.prepare('SELECT name, owner FROM locks ORDER BY name').all() as Array<{ name: string; owner: string }>;
  } finally {
    db.close();
  }
}

function leaveLock(name: string, owner: string): void {
  const db = new Database(file);
  try {
    db.prepare('INSERT INTO locks (name, owner) VALUES (?, ?)').run(name, owner);
  } finally {
    db.close();
  }
}

test('holders on two connections to one file run one at a time, and the lock is gone afterwards', async () => {
  const [a, b] = [open(), open()];
  const order: string[] = [];
  const hold = (store: BuildStore, id: string) =>
    store.withLock('publish:octo/hello', async () => {
      order.push(`in ${id}`);
      // Let the other connection try while this one holds the lock.
      await sleep(120);
      order.push(`out ${id}`);
      return id;
    });
  const first = hold(a, 'a');
  // b starts only once a holds the lock, so the expected order is known.
  while (locks().length === 0) await sleep(5);
  await expect(Promise.all([first, hold(b, 'b')])).resolves.toEqual(['a', 'b']);
  expect(order).toEqual(['in a', 'out a', 'in b', 'out b']);
  expect(locks()).toEqual([]);
});

test('different names do not wait for each other', async () => {
  const store = open();
  const inner = await store.withLock('repo:one', () => store.withLock('repo:two', async () => locks().map((l) => l.name)));
  expect(inner).toEqual(['repo:one', 'repo:two']);
});

test("a dead holder's lock is taken over: another boot, or a recycled pid with another start time", async () => {
  const store = open();
  const [boot, pid] = currentProcessIdentity().split('/');
  leaveLock('repo:gone', 'another-boot/1/1/abc');
  leaveLock('repo:recycled', `${boot}/${pid}/0/abc`);
  await expect(store.withLock('repo:gone', async () => 'ran', 2_000)).resolves.toBe('ran');
  await expect(store.withLock('repo:recycled', async () => 'ran', 2_000)).resolves.toBe('ran');
  expect(locks()).toEqual([]);
});

test("a live holder's lock is waited for, then given up with an error, without running the function or touching the lock", async () => {
  const store = open();
  const live = `${currentProcessIdentity()}/someone-else`;
  leaveLock("repo:x'); DELETE FROM locks; --", live);
  let ran = false;
  const err = await failureOf(
    store.withLock(
      "repo:x'); DELETE FROM locks; --",
      async () => {
        ran = true;
      },
      300,
    ),
  );
  expect(err.message).toBe("timed out waiting for the lock repo:x'); DELETE FROM locks; --");
  expect(ran).toBe(false);
  expect(locks()).toEqual([{ name: "repo:x'); DELETE FROM locks; --", owner: live }]);
});

test('a holder that throws releases the lock; the error reaches the caller', async () => {
  const store = open();
  await expect(
    store.withLock('repo:a', async () => {
      throw new Error('fetch failed');
    }),
  ).rejects.toThrow('fetch failed');
  expect(locks()).toEqual([]);
  await expect(store.withLock('repo:a', async () => 'again', 1_000)).resolves.toBe('again');
});

test('the store prepares its statements when it opens, not on each call', async () => {
  const prepare = jest.spyOn(Database.prototype, 'prepare');
  try {
    const store = open();
    const opened = prepare.mock.calls.length;
    expect(opened).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) {
      const build = { repo: 'octo/hello', cloneUrl: 'u', commit: String(i).repeat(40), ref: null, branch: 'main', job: 'j', requestedAt: i };
      const { record } = store.claim(build);
      store.claim(build);
      store.started(record.id, { logPath: '/l', container: 'c' });
      store.finished(record.id, { status: 'success' });
      store.get(record.id);
      store.list({ status: 'success' });
      store.supersede({ ...build, commit: 'f'.repeat(40), requestedAt: 10 });
      store.newerRequest(build);
      store.orphans();
      store.recordError(build, 'dead-lettered');
      await store.withLock('repo:octo/hello', async () => undefined);
    }
    expect(prepare.mock.calls.length).toBe(opened);
  } finally {
    prepare.mockRestore();
  }
});
