/**
 * The builds database's schema, as numbered migrations (see `migrate` in database.ts).
 * Released migrations never change: add a new one at the end.
 */
import type Database from 'better-sqlite3';

import { BUILD_STATUSES, sqlStatusList } from './build-status';
import type { Migration } from './database';

export const BUILD_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'builds and locks tables',
    // Also adopts the databases made before versions were numbered (version 0): they have
    // the builds table, perhaps without requested_at and builder, perhaps without locks.
    up(db: Database.Database) {
      db.exec(`
        CREATE TABLE IF NOT EXISTS builds (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          repo TEXT NOT NULL,
          clone_url TEXT NOT NULL,
          commit_sha TEXT NOT NULL,
          ref TEXT,
          branch TEXT,
          job TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ${sqlStatusList(BUILD_STATUSES)}),
          created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
          started_at TEXT,
          finished_at TEXT,
          exit_code INTEGER,
          message TEXT,
          log_path TEXT,
          artifacts TEXT NOT NULL DEFAULT '[]',
          builder_pid INTEGER,
          container TEXT,
          requested_at INTEGER,
          builder TEXT
        );
      `);
      const columns = db.prepare('PRAGMA table_info(builds)').all() as Array<{ name: string }>;
      for (const [name, type] of [
        ['requested_at', 'INTEGER'],
        ['builder', 'TEXT'],
      ] as const) {
        if (!columns.some((c) => c.name === name)) db.exec(`ALTER TABLE builds ADD COLUMN ${name} ${type}`);
      }
      db.exec(`
        CREATE INDEX IF NOT EXISTS builds_by_commit ON builds (repo, commit_sha, job);
        CREATE INDEX IF NOT EXISTS builds_by_status ON builds (status);
        CREATE TABLE IF NOT EXISTS locks (
          name TEXT PRIMARY KEY,
          owner TEXT NOT NULL,
          acquired_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
      `);
    },
  },
  {
    version: 2,
    description: "the commit's subject and author, who pushed it, and the key and number of its last published event",
    up(db: Database.Database) {
      // Subject, author, pusher: null for builds recorded before, and where git could not say
      // (commit-info.ts bounds them). event_key and event_seq: the build's key on the events
      // topic and its last event's number, kept here so that another process (the sweep after
      // the worker died) can still tell the server how the build ended.
      db.exec(`
        ALTER TABLE builds ADD COLUMN commit_subject TEXT;
        ALTER TABLE builds ADD COLUMN commit_author TEXT;
        ALTER TABLE builds ADD COLUMN pusher TEXT;
        ALTER TABLE builds ADD COLUMN event_key TEXT;
        ALTER TABLE builds ADD COLUMN event_seq INTEGER;
      `);
    },
  },
  {
    version: 3,
    description: "a pull request's head commit",
    up(db: Database.Database) {
      // The commit a pull request's build built may be GitHub's merge of the head
      // (pull-request.ts): the head is what GitHub shows on the pull request. Null for
      // pushes, and for builds recorded before.
      db.exec('ALTER TABLE builds ADD COLUMN head_sha TEXT;');
    },
  },
];
