/**
 * @tier unit
 * The builds database's numbered migrations on real SQLite files: databases made before
 * versions were numbered are upgraded with every row kept, reopening changes nothing, a
 * database from a newer lxcts is refused untouched, and the status CHECK and the
 * `ci builds --status` choices take their values from BUILD_STATUSES.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BUILD_STATUSES, BuildStatus } from '../../src/ci/build-status';
import { migrate, Migration, openDatabase } from '../../src/ci/database';
import { BuildStore, NewBuild } from '../../src/ci/store';
import { BUILD_MIGRATIONS } from '../../src/ci/store-schema';
import CiBuilds from '../../src/commands/ci/builds';
import { failureOfSync as failureOf } from '../helpers/failure';
import { at } from '../helpers/must';
import { FIRST_DDL, TODAY_DDL } from '../helpers/old-store-schemas';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-store-schema-'));
  file = path.join(dir, 'builds.sqlite');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `fn` on a plain connection to `file` (not the store's), then closes it. */
function raw<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(file);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const version = (db: Database.Database) => db.pragma('user_version', { simple: true }) as number;
const everything = (db: Database.Database) => ({
  builds: db.prepare('SELECT * FROM builds ORDER BY id').all(),
  locks: db.prepare("SELECT * FROM sqlite_master WHERE name = 'locks'").all().length ? db.prepare('SELECT * FROM locks ORDER BY name').all() : [],
});
const shape = (db: Database.Database) => ({
  columns: db.prepare('PRAGMA table_info(builds)').all(),
  objects: db.prepare("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all(),
  locks: db.prepare('PRAGMA table_info(locks)').all(),
});

const build = (extra: Partial<NewBuild> = {}): NewBuild => ({
  repo: 'octo/hello',
  cloneUrl: 'https://example.test/octo/hello.git',
  commit: 'c'.repeat(40),
  ref: 'refs/heads/main',
  branch: 'main',
  job: 'binaries',
  requestedAt: 5000,
  ...extra,
});

/** Rows as today's code wrote them: finished, running (a dead builder's) and queued, plus a held lock. */
function fillToday(db: Database.Database): void {
  db.exec(TODAY_DDL);
  const insert = db.prepare(
    `INSERT INTO builds (repo, clone_url, commit_sha, ref, branch, job, status, created_at, started_at, finished_at, exit_code, message, log_path, artifacts, builder_pid, container, requested_at, builder)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  insert.run(
    'octo/hello',
    'https://example.test/octo/hello.git',
    'a'.repeat(40),
    'refs/heads/main',
    'main',
    'binaries',
    'success',
    '2026-01-01T00:00:00.000Z',
    '2026-01-01T00:00:01.000Z',
    '2026-01-01T00:00:09.000Z',
    0,
    null,
    '/logs/1.log',
    '["hello"]',
    41,
    'b-1',
    1000,
    'boot/41/7',
  );
  insert.run(
    'octo/hello',
    'https://example.test/octo/hello.git',
    'b'.repeat(40),
    'refs/heads/main',
    'main',
    'binaries',
    'running',
    '2026-01-01T00:01:00.000Z',
    '2026-01-01T00:01:01.000Z',
    null,
    null,
    null,
    '/logs/2.log',
    '[]',
    42,
    'b-2',
    2000,
    'gone-boot/42/8',
  );
  insert.run(
    "x'); DROP TABLE builds; --",
    'file:///srv/x.git',
    'c'.repeat(40),
    null,
    null,
    'docs',
    'queued',
    '2026-01-01T00:02:00.000Z',
    null,
    null,
    null,
    null,
    null,
    '[]',
    43,
    null,
    3000,
    'gone-boot/43/9',
  );
  db.prepare('INSERT INTO locks (name, owner, acquired_at) VALUES (?, ?, ?)').run('publish:octo/hello', 'gone-boot/44/10/abc', '2026-01-01T00:03:00.000Z');
}

/** A row as migrations 2 and 3 leave it: the commit's subject and author, the pusher, the event key and a pull request's head unknown. */
const withNewerColumns = (row: unknown) => ({
  ...(row as object),
  commit_subject: null,
  commit_author: null,
  pusher: null,
  event_key: null,
  event_seq: null,
  head_sha: null,
});

describe('a database made before versions were numbered', () => {
  test("today's schema is upgraded to the latest version with every row and lock kept as it was", () => {
    const before = raw((db) => {
      fillToday(db);
      expect(version(db)).toBe(0);
      return everything(db);
    });
    const store = new BuildStore(file);
    try {
      expect(store.list()).toHaveLength(3);
      expect(store.get(1)).toMatchObject({ status: 'success', artifacts: ['hello'], builder: 'boot/41/7', container: 'b-1' });
      // The dead builders' unfinished builds are still found as orphans.
      expect(
        store
          .orphans()
          .map((r) => r.id)
          .sort(),
      ).toEqual([2, 3]);
    } finally {
      store.close();
    }
    raw((db) => {
      expect(version(db)).toBe(BUILD_MIGRATIONS.length);
      expect(everything(db)).toEqual({ ...before, builds: before.builds.map(withNewerColumns) });
    });
  });

  test('the first schema (no requested_at, no builder, no locks) gains them, keeping its rows', () => {
    const before = raw((db) => {
      db.exec(FIRST_DDL);
      db.prepare(`INSERT INTO builds (repo, clone_url, commit_sha, job, status, builder_pid) VALUES ('octo/hello', 'u', ?, 'binaries', 'failure', 7)`).run(
        'd'.repeat(40),
      );
      return db.prepare('SELECT * FROM builds').all();
    });
    const store = new BuildStore(file);
    try {
      expect(store.get(1)).toMatchObject({ status: 'failure', builderPid: 7, builder: null });
      // What the new columns and table serve works on the upgraded file.
      const { record } = store.claim(build({ commit: 'd'.repeat(40) }));
      expect(store.supersede({ repo: 'octo/hello', branch: 'main', job: 'binaries', commit: 'e'.repeat(40), requestedAt: 6000 })).toBe(1);
      expect(store.get(record.id)?.status).toBe('cancelled');
      expect(store.newerRequest({ repo: 'octo/hello', branch: 'main', job: 'binaries', requestedAt: 0 })?.id).toBe(record.id);
    } finally {
      store.close();
    }
    raw((db) => {
      expect(version(db)).toBe(BUILD_MIGRATIONS.length);
      expect(db.prepare('SELECT * FROM builds WHERE id = 1').all()).toEqual(
        before.map((row) => withNewerColumns({ ...(row as object), requested_at: null, builder: null })),
      );
    });
  });

  test('an upgraded database ends up with the same tables, columns and indexes as a new one', () => {
    raw(fillToday);
    new BuildStore(file).close();
    const upgraded = raw(shape);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    new BuildStore(file).close();
    expect(raw(shape)).toEqual(upgraded);
  });

  test('an empty file becomes a new database at the latest version', () => {
    new BuildStore(file).close();
    raw((db) => {
      expect(version(db)).toBe(BUILD_MIGRATIONS.length);
      expect(everything(db)).toEqual({ builds: [], locks: [] });
    });
  });
});

test('reopening an up-to-date database runs no migration and changes nothing', () => {
  const first = new BuildStore(file);
  first.claim(build());
  first.close();
  const before = raw((db) => ({ version: version(db), shape: shape(db), rows: everything(db) }));
  const again = new BuildStore(file);
  // Two stores at once on one file, as a worker and a builder have.
  const third = new BuildStore(file);
  try {
    expect(again.claim(build())).toMatchObject({ created: false });
  } finally {
    again.close();
    third.close();
  }
  expect(raw((db) => ({ version: version(db), shape: shape(db), rows: everything(db) }))).toEqual(before);
});

test('a database from a newer lxcts is refused with a clear error and left untouched', () => {
  raw((db) => db.pragma(`user_version = ${BUILD_MIGRATIONS.length + 1}`));
  const err = failureOf(() => new BuildStore(file));
  expect(err).toMatchObject({ code: 'SCHEMA_TOO_NEW' });
  expect(String(err.message)).toContain(`${file} has schema version ${BUILD_MIGRATIONS.length + 1}, newer than this lxcts knows (${BUILD_MIGRATIONS.length})`);
  raw((db) => {
    expect(version(db)).toBe(BUILD_MIGRATIONS.length + 1);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").all()).toEqual([]);
  });
});

describe('migrate', () => {
  const step = (version: number, sql: string, calls: number[]): Migration => ({
    version,
    description: `step ${version}`,
    up: (db) => {
      calls.push(version);
      db.exec(sql);
    },
  });

  test('runs each migration once, in order, across opens', () => {
    const calls: number[] = [];
    const steps = [step(1, 'CREATE TABLE a (x)', calls), step(2, 'ALTER TABLE a ADD COLUMN y', calls)];
    for (let i = 0; i < 3; i++) {
      const db = openDatabase(file);
      migrate(db, steps, 'test.sqlite');
      db.close();
    }
    expect(calls).toEqual([1, 2]);
    const later = [...steps, step(3, 'CREATE TABLE b (z)', calls)];
    const db = openDatabase(file);
    migrate(db, later, 'test.sqlite');
    expect(version(db)).toBe(3);
    db.close();
    expect(calls).toEqual([1, 2, 3]);
  });

  test('a failing migration is rolled back with its version; the ones before it stay', () => {
    const calls: number[] = [];
    const broken: Migration = { version: 2, description: 'breaks halfway', up: (db) => db.exec('CREATE TABLE half (x); INSERT INTO nowhere VALUES (1)') };
    const db = openDatabase(file);
    try {
      const err = failureOf(() => migrate(db, [step(1, 'CREATE TABLE a (x)', calls), broken], 'test.sqlite'));
      expect(String(err.message)).toMatch(/^test\.sqlite: migration 2 \(breaks halfway\) failed: no such table: nowhere/);
      expect(version(db)).toBe(1);
      expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all()).toEqual([{ name: 'a' }]);
    } finally {
      db.close();
    }
  });

  test('migrations numbered out of order are a programming error, caught before any runs', () => {
    const calls: number[] = [];
    const db = openDatabase(file);
    try {
      expect(String(failureOf(() => migrate(db, [step(1, 'CREATE TABLE a (x)', calls), step(3, 'CREATE TABLE b (x)', calls)], 'test.sqlite')).message)).toMatch(
        /migration 2 is numbered 3/,
      );
      expect(calls).toEqual([]);
      expect(version(db)).toBe(0);
    } finally {
      db.close();
    }
  });
});

describe('build statuses', () => {
  test('the CHECK accepts every status of BUILD_STATUSES, on a new and on an upgraded database, and nothing else', () => {
    const upgraded = path.join(dir, 'upgraded.sqlite');
    raw(fillToday);
    fs.renameSync(file, upgraded);
    for (const f of [file, upgraded]) {
      const store = new BuildStore(f);
      try {
        for (const status of BUILD_STATUSES) {
          const { record } = store.claim(build(), true);
          store.finished(record.id, { status });
          expect(store.get(record.id)?.status).toBe(status);
        }
        const { record } = store.claim(build(), true);
        expect(failureOf(() => store.finished(record.id, { status: 'skipped' as BuildStatus }))).toMatchObject({ code: 'SQLITE_CONSTRAINT_CHECK' });
        expect(store.get(record.id)?.status).toBe('queued');
      } finally {
        store.close();
      }
    }
  });

  test("the builds table's CHECK lists exactly BUILD_STATUSES", () => {
    new BuildStore(file).close();
    const sql = raw((db) => (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'builds'").get() as { sql: string }).sql);
    const listed = at(sql.match(/CHECK \(status IN \(([^)]*)\)\)/) ?? [], 1);
    expect(listed.split(',').map((s) => s.trim().replace(/^'|'$/g, ''))).toEqual([...BUILD_STATUSES]);
  });

  test('`ci builds --status` offers exactly BUILD_STATUSES', () => {
    expect(CiBuilds.flags.status.options).toEqual([...BUILD_STATUSES]);
  });
});
