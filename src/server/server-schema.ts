/**
 * The CI server's own database (not the workers' builds database): builds as their events
 * told them, their steps, and their logs as chunks. Numbered migrations, run by `migrate`
 * (src/ci/database.ts); released ones never change.
 */
import type Database from 'better-sqlite3';

import { BUILD_STATUSES, SERVER_STATUSES, sqlStatus, sqlStatusList } from '../ci/build-status';
import type { Migration } from '../ci/database';

export const SERVER_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'builds, steps and log chunks',
    up(db: Database.Database) {
      db.exec(`
        -- One row per build key (a UUID the worker gives each build). id is the server's own
        -- number for URLs, given when the first event of the build arrives. seq is the
        -- number of the newest event applied: the row is what that event said.
        CREATE TABLE builds (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          key TEXT NOT NULL UNIQUE,
          seq INTEGER NOT NULL,
          worker TEXT NOT NULL,
          worker_build_id INTEGER NOT NULL,
          repo TEXT NOT NULL,
          clone_url TEXT NOT NULL,
          commit_sha TEXT NOT NULL,
          ref TEXT,
          branch TEXT,
          job TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ${sqlStatusList(BUILD_STATUSES)}),
          created_at TEXT NOT NULL,
          started_at TEXT,
          finished_at TEXT,
          exit_code INTEGER,
          message TEXT,
          artifacts TEXT NOT NULL DEFAULT '[]',
          published TEXT,
          log_chunks INTEGER,
          log_bytes INTEGER
        );
        CREATE INDEX builds_by_repo ON builds (repo, branch, id);
        CREATE INDEX builds_by_status ON builds (status, id);
        CREATE INDEX builds_by_job ON builds (job, id);
        -- Keyed by build key, not id: a step or a chunk may arrive before any build event.
        CREATE TABLE steps (
          build_key TEXT NOT NULL,
          step INTEGER NOT NULL,
          command TEXT NOT NULL,
          started_at INTEGER,
          finished_at INTEGER,
          exit_code INTEGER,
          seconds REAL,
          PRIMARY KEY (build_key, step)
        ) WITHOUT ROWID;
        CREATE TABLE log_chunks (
          build_key TEXT NOT NULL,
          seq INTEGER NOT NULL,
          offset INTEGER NOT NULL,
          step INTEGER,
          at INTEGER NOT NULL,
          data BLOB NOT NULL,
          PRIMARY KEY (build_key, seq)
        ) WITHOUT ROWID;
        CREATE INDEX log_chunks_by_offset ON log_chunks (build_key, offset);
        -- How far each log is contiguous from its start (chunks 0..next_seq-1, bytes long):
        -- advanced as chunks arrive, so that reading it never scans the log.
        CREATE TABLE log_heads (
          build_key TEXT PRIMARY KEY,
          next_seq INTEGER NOT NULL,
          bytes INTEGER NOT NULL
        ) WITHOUT ROWID;
      `);
    },
  },
  {
    version: 2,
    description: "the commit's subject and author, who pushed it, and the repository page's index",
    up(db: Database.Database) {
      // Null for builds told before, and from workers that do not send them (event-wire.ts bounds them).
      db.exec(`
        ALTER TABLE builds ADD COLUMN commit_subject TEXT;
        ALTER TABLE builds ADD COLUMN commit_author TEXT;
        ALTER TABLE builds ADD COLUMN pusher TEXT;
        -- The repository page: the newest successful build of each branch and job.
        CREATE INDEX builds_newest_success ON builds (repo, status, branch, job, id);
      `);
    },
  },
  {
    version: 3,
    description: 'commit statuses to post on GitHub, and what became of them',
    up(db: Database.Database) {
      // One row per build (status-outbox.ts): the status its newest state asks for, and where
      // posting it stands. Kept here so that a status waiting for GitHub survives a restart.
      db.exec(`
        CREATE TABLE github_statuses (
          build_key TEXT PRIMARY KEY,
          repo TEXT NOT NULL,
          commit_sha TEXT NOT NULL,
          context TEXT NOT NULL,
          state TEXT NOT NULL CHECK (state IN ('pending', 'success', 'failure', 'error')),
          description TEXT NOT NULL,
          -- The build status the row was made from: a new one replaces the row's status.
          build_status TEXT NOT NULL,
          outcome TEXT NOT NULL CHECK (outcome IN ('waiting', 'posted', 'retrying', 'failed')),
          attempts INTEGER NOT NULL DEFAULT 0,
          -- When to try (ms since the epoch): now, after a backoff, or when GitHub said.
          next_at INTEGER NOT NULL,
          error TEXT,
          -- Bumped by every new status: a post's outcome is written only if it is still the one posted.
          revision INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE INDEX github_statuses_due ON github_statuses (outcome, next_at);
      `);
    },
  },
  {
    version: 4,
    description: "a pull request's head commit, where its statuses go",
    up(db: Database.Database) {
      // Null for pushes, and for builds told before: their statuses go to the commit built.
      db.exec('ALTER TABLE builds ADD COLUMN head_sha TEXT;');
    },
  },
  {
    version: 5,
    description: "forks' builds waiting for approval, the approved forks, and what a pull request's build needs to run again",
    up(db: Database.Database) {
      // The status CHECK gains `waiting` (SQLite cannot change a CHECK in place: the table is
      // made again, ids and the AUTOINCREMENT counter kept). New columns, null for pushes and
      // for builds told before: the pull request as the request named it (a re-run asks for
      // it again, a fork's still a fork's); for a waiting build, the request it holds, when it
      // came, and who approved it when.
      const sequence = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'builds'").get() as { seq: number } | undefined;
      const kept = `key, seq, worker, worker_build_id, repo, clone_url, commit_sha, ref, branch, job, status, created_at, started_at, finished_at,
        exit_code, message, artifacts, published, log_chunks, log_bytes, commit_subject, commit_author, pusher, head_sha`;
      db.exec(`
        CREATE TABLE builds_v5 (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          key TEXT NOT NULL UNIQUE,
          seq INTEGER NOT NULL,
          worker TEXT NOT NULL,
          worker_build_id INTEGER NOT NULL,
          repo TEXT NOT NULL,
          clone_url TEXT NOT NULL,
          commit_sha TEXT NOT NULL,
          ref TEXT,
          branch TEXT,
          job TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ${sqlStatusList(SERVER_STATUSES)}),
          created_at TEXT NOT NULL,
          started_at TEXT,
          finished_at TEXT,
          exit_code INTEGER,
          message TEXT,
          artifacts TEXT NOT NULL DEFAULT '[]',
          published TEXT,
          log_chunks INTEGER,
          log_bytes INTEGER,
          commit_subject TEXT,
          commit_author TEXT,
          pusher TEXT,
          head_sha TEXT,
          pull_number INTEGER,
          pull_base_ref TEXT,
          pull_base_sha TEXT,
          pull_head_repo TEXT,
          pull_fork INTEGER,
          request TEXT,
          received_at INTEGER,
          approved_by TEXT,
          approved_at TEXT
        );
        INSERT INTO builds_v5 (id, ${kept}) SELECT id, ${kept} FROM builds;
        DROP TABLE builds;
        ALTER TABLE builds_v5 RENAME TO builds;
        CREATE INDEX builds_by_repo ON builds (repo, branch, id);
        CREATE INDEX builds_by_status ON builds (status, id);
        CREATE INDEX builds_by_job ON builds (job, id);
        CREATE INDEX builds_newest_success ON builds (repo, status, branch, job, id);
        -- A pull request's builds that wait: a newer push or the close cancels them.
        CREATE INDEX builds_waiting ON builds (repo, pull_number, job) WHERE status = ${sqlStatus('waiting')};
        -- A fork approved once (its repository and the pull request's author, for a base
        -- repository): its later pull requests are approved as they come.
        CREATE TABLE fork_approvals (
          base_repo TEXT NOT NULL,
          head_repo TEXT NOT NULL,
          author TEXT NOT NULL,
          approved_by TEXT NOT NULL,
          approved_at TEXT NOT NULL,
          PRIMARY KEY (base_repo, head_repo, author)
        ) WITHOUT ROWID;
      `);
      // Ids are the pages' URLs: never give one again, even one the old counter had spent.
      if (sequence) db.prepare("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'builds'").run(sequence.seq);
    },
  },
];
