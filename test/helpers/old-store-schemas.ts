/**
 * The builds database's DDL from before its versions were numbered (user_version 0), copied
 * as the code of the time ran it: the fixtures the store's upgrade tests start from. Never
 * edit them to match the current schema; that is what they test against.
 */

// The DDL as `src/ci/store.ts` ran it before versions were numbered (commit 5f1c29f),
// copied as it was: what every existing builds.sqlite has, at user_version 0.
export const TODAY_DDL = `
CREATE TABLE IF NOT EXISTS builds (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  repo TEXT NOT NULL,
  clone_url TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  ref TEXT,
  branch TEXT,
  job TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'success', 'failure', 'error', 'cancelled')),
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
CREATE INDEX IF NOT EXISTS builds_by_commit ON builds (repo, commit_sha, job);
CREATE INDEX IF NOT EXISTS builds_by_status ON builds (status);
CREATE TABLE IF NOT EXISTS locks (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  acquired_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
`;

// The first released DDL (commit 20eb98b): no requested_at, no builder, no locks table.
export const FIRST_DDL = `
CREATE TABLE IF NOT EXISTS builds (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  repo TEXT NOT NULL,
  clone_url TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  ref TEXT,
  branch TEXT,
  job TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'success', 'failure', 'error', 'cancelled')),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  started_at TEXT,
  finished_at TEXT,
  exit_code INTEGER,
  message TEXT,
  log_path TEXT,
  artifacts TEXT NOT NULL DEFAULT '[]',
  builder_pid INTEGER,
  container TEXT
);
CREATE INDEX IF NOT EXISTS builds_by_commit ON builds (repo, commit_sha, job);
CREATE INDEX IF NOT EXISTS builds_by_status ON builds (status);
`;
