/**
 * Build records in SQLite (better-sqlite3): one row per (repository, commit, job) attempt.
 */
import type Database from 'better-sqlite3';

import { openDatabase } from './database';
import { currentProcessIdentity, isProcessAlive } from './process-identity';

export type BuildStatus = 'queued' | 'running' | 'success' | 'failure' | 'error' | 'cancelled';

export interface BuildRecord {
  id: number;
  /** owner/name, e.g. "local/hello" or "octo/hello". */
  repo: string;
  cloneUrl: string;
  commit: string;
  ref: string | null;
  branch: string | null;
  job: string;
  status: BuildStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  /** Why it failed, in a sentence: the failing step, a limit, "builder died". */
  message: string | null;
  logPath: string | null;
  artifacts: string[];
  /** The process running it (to tell a live builder's container from a dead one's). */
  builderPid: number | null;
  /** The builder process's identity (boot id, pid, start time): see process-identity.ts. */
  builder: string | null;
  container: string | null;
}

const SCHEMA = `
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

interface Row {
  id: number;
  repo: string;
  clone_url: string;
  commit_sha: string;
  ref: string | null;
  branch: string | null;
  job: string;
  status: BuildStatus;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  exit_code: number | null;
  message: string | null;
  log_path: string | null;
  artifacts: string;
  builder_pid: number | null;
  container: string | null;
  requested_at: number | null;
  builder: string | null;
}

function toRecord(row: Row): BuildRecord {
  return {
    id: row.id,
    repo: row.repo,
    cloneUrl: row.clone_url,
    commit: row.commit_sha,
    ref: row.ref,
    branch: row.branch,
    job: row.job,
    status: row.status,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    exitCode: row.exit_code,
    message: row.message,
    logPath: row.log_path,
    artifacts: JSON.parse(row.artifacts) as string[],
    builderPid: row.builder_pid,
    builder: row.builder,
    container: row.container,
  };
}

export interface NewBuild {
  repo: string;
  cloneUrl: string;
  commit: string;
  ref: string | null;
  branch: string | null;
  job: string;
  /** When the build was asked for (ms since the epoch), for supersede. */
  requestedAt?: number;
}

export class BuildStore {
  readonly #db: Database.Database;

  constructor(file: string) {
    this.#db = openDatabase(file);
    this.#db.exec(SCHEMA);
    // Databases made before requested_at existed.
    const columns = this.#db.prepare('PRAGMA table_info(builds)').all() as Array<{ name: string }>;
    for (const [name, type] of [
      ['requested_at', 'INTEGER'],
      ['builder', 'TEXT'],
    ]) {
      if (!columns.some((c) => c.name === name)) this.#db.exec(`ALTER TABLE builds ADD COLUMN ${name} ${type}`);
    }
  }

  close(): void {
    this.#db.close();
  }

  /**
   * Claims (repo, commit, job) for a new build, atomically: returns the new record, or the
   * existing one when that job has succeeded or is queued or running (unless `force`).
   */
  claim(build: NewBuild, force = false): { record: BuildRecord; created: boolean } {
    const claim = this.#db.transaction(() => {
      if (!force) {
        const existing = this.#db
          .prepare(
            `SELECT * FROM builds WHERE repo = ? AND commit_sha = ? AND job = ? AND status IN ('success', 'queued', 'running')
             ORDER BY id DESC LIMIT 1`,
          )
          .get(build.repo, build.commit, build.job) as Row | undefined;
        if (existing) return { record: toRecord(existing), created: false };
      }
      const info = this.#db
        .prepare(
          `INSERT INTO builds (repo, clone_url, commit_sha, ref, branch, job, status, builder_pid, builder, requested_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
        )
        .run(
          build.repo,
          build.cloneUrl,
          build.commit,
          build.ref,
          build.branch,
          build.job,
          process.pid,
          currentProcessIdentity(),
          build.requestedAt ?? Date.now(),
        );
      return { record: this.get(Number(info.lastInsertRowid))!, created: true };
    });
    return claim.immediate();
  }

  /**
   * Records a build that could not even start (its request was dead-lettered), so that it
   * shows up as an error instead of vanishing.
   */
  recordError(build: NewBuild, message: string): BuildRecord {
    const { record } = this.claim(build, true);
    this.finished(record.id, { status: 'error', message });
    return this.get(record.id)!;
  }

  get(id: number): BuildRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM builds WHERE id = ?').get(id) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  started(id: number, fields: { logPath: string; container: string }): void {
    this.#db
      .prepare(
        `UPDATE builds SET status = 'running', started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), log_path = ?, container = ?, builder_pid = ?, builder = ? WHERE id = ?`,
      )
      .run(fields.logPath, fields.container, process.pid, currentProcessIdentity(), id);
  }

  finished(id: number, fields: { status: BuildStatus; exitCode?: number | null; message?: string | null; artifacts?: string[] }): void {
    this.#db
      .prepare(`UPDATE builds SET status = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), exit_code = ?, message = ?, artifacts = ? WHERE id = ?`)
      .run(fields.status, fields.exitCode ?? null, fields.message ?? null, JSON.stringify(fields.artifacts ?? []), id);
  }

  list(filter: { repo?: string; status?: BuildStatus; limit?: number } = {}): BuildRecord[] {
    const rows = this.#db
      .prepare(`SELECT * FROM builds WHERE (@repo IS NULL OR repo = @repo) AND (@status IS NULL OR status = @status) ORDER BY id DESC LIMIT @limit`)
      .all({ repo: filter.repo ?? null, status: filter.status ?? null, limit: filter.limit ?? 100 }) as Row[];
    return rows.map(toRecord);
  }

  /**
   * Marks older queued or running builds of the same branch and job as cancelled (their
   * workers notice and stop them). Returns how many were superseded.
   */
  supersede(build: { repo: string; branch: string; job: string; commit: string; requestedAt: number }): number {
    return this.#db
      .prepare(
        `UPDATE builds SET status = 'cancelled', message = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE repo = ? AND branch = ? AND job = ? AND commit_sha != ? AND status IN ('queued', 'running') AND requested_at < ?`,
      )
      .run(`superseded by ${build.commit.slice(0, 12)}`, build.repo, build.branch, build.job, build.commit, build.requestedAt).changes;
  }

  /** Whether a build of this branch and job was asked for after `requestedAt`. */
  newerRequest(build: { repo: string; branch: string; job: string; requestedAt: number }): BuildRecord | undefined {
    const row = this.#db
      .prepare(`SELECT * FROM builds WHERE repo = ? AND branch = ? AND job = ? AND requested_at > ? ORDER BY requested_at DESC LIMIT 1`)
      .get(build.repo, build.branch, build.job, build.requestedAt) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /**
   * Runs `fn` holding the lock `name`, shared by every process using this database. A
   * lock whose holder died is taken over.
   */
  async withLock<T>(name: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
    const me = currentProcessIdentity() + `/${Math.random().toString(36).slice(2)}`;
    const deadline = Date.now() + timeoutMs;
    const take = this.#db.transaction(() => {
      const holder = this.#db.prepare('SELECT owner FROM locks WHERE name = ?').get(name) as { owner: string } | undefined;
      if (holder && isProcessAlive(holder.owner.split('/').slice(0, 3).join('/'))) return false;
      this.#db.prepare('INSERT OR REPLACE INTO locks (name, owner) VALUES (?, ?)').run(name, me);
      return true;
    });
    while (!take.immediate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${name}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      return await fn();
    } finally {
      this.#db.prepare('DELETE FROM locks WHERE name = ? AND owner = ?').run(name, me);
    }
  }

  /** Builds still queued or running whose builder process is gone. */
  orphans(): BuildRecord[] {
    const rows = this.#db.prepare(`SELECT * FROM builds WHERE status IN ('queued', 'running')`).all() as Row[];
    return rows.map(toRecord).filter((r) => !isProcessAlive(r.builder));
  }
}
