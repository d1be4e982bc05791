/**
 * Build records in SQLite (better-sqlite3): one row per (repository, commit, job) attempt.
 * The schema and its migrations are in store-schema.ts, the statuses in build-status.ts,
 * the cross-process lock kept in the same file in store-lock.ts.
 */
import { randomUUID } from 'node:crypto';

import type Database from 'better-sqlite3';

import { BuildStatus, sqlStatus, sqlStatusList, UNFINISHED_STATUSES } from './build-status';
import { migrate, openDatabase } from './database';
import { currentProcessIdentity, isProcessAlive } from './process-identity';
import { BUILD_MIGRATIONS } from './store-schema';
import { StoreLocks } from './store-lock';

export { BUILD_STATUSES, type BuildStatus } from './build-status';

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
  /** The commit's subject and author (commit-info.ts: one bounded line each), null when unknown. */
  subject: string | null;
  author: string | null;
  /** Who pushed (the push event's pusher), null when not a push. */
  pusher: string | null;
  /**
   * A pull request's head commit, when the build is of a pull request: `commit` is then
   * GitHub's merge of it or the head itself (pull-request.ts). Null for pushes.
   */
  head: string | null;
}

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
  commit_subject: string | null;
  commit_author: string | null;
  pusher: string | null;
  event_key: string | null;
  event_seq: number | null;
  head_sha: string | null;
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
    subject: row.commit_subject,
    author: row.commit_author,
    pusher: row.pusher,
    head: row.head_sha,
  };
}

export interface NewBuild
  extends Pick<BuildRecord, 'repo' | 'cloneUrl' | 'commit' | 'ref' | 'branch' | 'job'>, Partial<Pick<BuildRecord, 'subject' | 'author' | 'pusher' | 'head'>> {
  /** When the build was asked for (ms since the epoch), for supersede. */
  requestedAt?: number;
}

/** A claimed build is not claimed again while one of these holds it. */
const KEPT = sqlStatusList(['success', ...UNFINISHED_STATUSES]);
const UNFINISHED = sqlStatusList(UNFINISHED_STATUSES);
const NOW = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;

export class BuildStore {
  readonly #db: Database.Database;
  readonly #locks: StoreLocks;
  // Prepared when the store opens: no call compiles SQL again.
  readonly #sql: Statements;
  readonly #claim: (build: NewBuild, force: boolean) => { record: BuildRecord; created: boolean };
  readonly #nextEvent: (id: number) => { key: string; seq: number };

  /** Opens (creating or upgrading) the builds database; SchemaTooNewError when a newer lxcts wrote it. */
  constructor(file: string) {
    this.#db = openDatabase(file);
    try {
      migrate(this.#db, BUILD_MIGRATIONS, file === ':memory:' ? 'the builds database' : file);
      this.#sql = prepare(this.#db);
      this.#locks = new StoreLocks(this.#db);
    } catch (err) {
      this.#db.close();
      throw err;
    }
    const claim = this.#db.transaction((build: NewBuild, force: boolean) => {
      if (!force) {
        const existing = this.#sql.kept.get(build.repo, build.commit, build.job);
        if (existing) return { record: toRecord(existing), created: false };
      }
      const info = this.#sql.insert.run(
        build.repo,
        build.cloneUrl,
        build.commit,
        build.ref,
        build.branch,
        build.job,
        process.pid,
        currentProcessIdentity(),
        build.requestedAt ?? Date.now(),
        build.subject ?? null,
        build.author ?? null,
        build.pusher ?? null,
        build.head ?? null,
      );
      return { record: this.get(Number(info.lastInsertRowid))!, created: true };
    });
    this.#claim = (build, force) => claim.immediate(build, force);
    const nextEvent = this.#db.transaction((id: number) => {
      const row = this.#sql.eventOf.get(id);
      if (!row) throw new Error(`build ${id} is not in the store`);
      const next = { key: row.event_key ?? randomUUID(), seq: row.event_seq === null ? 0 : row.event_seq + 1 };
      this.#sql.setEvent.run(next.key, next.seq, id);
      return next;
    });
    this.#nextEvent = (id) => nextEvent.immediate(id);
  }

  close(): void {
    this.#db.close();
  }

  /**
   * Claims (repo, commit, job) for a new build, atomically: returns the new record, or the
   * existing one when that job has succeeded or is queued or running (unless `force`).
   */
  claim(build: NewBuild, force = false): { record: BuildRecord; created: boolean } {
    return this.#claim(build, force);
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

  /**
   * The key of build `id` on the events topic and the number of its next event, numbered
   * after every event any process published for it: the key is made with the first.
   */
  nextEvent(id: number): { key: string; seq: number } {
    return this.#nextEvent(id);
  }

  /**
   * Build `id`'s events go on under `key` (a waiting build the CI server had, now approved):
   * numbered from 1, the wait being 0. Only before its first event.
   */
  adoptEventKey(id: number, key: string): void {
    this.#sql.adoptEvent.run(key, id);
  }

  get(id: number): BuildRecord | undefined {
    const row = this.#sql.get.get(id);
    return row ? toRecord(row) : undefined;
  }

  started(id: number, fields: { logPath: string; container: string }): void {
    this.#sql.started.run(fields.logPath, fields.container, process.pid, currentProcessIdentity(), id);
  }

  finished(id: number, fields: { status: BuildStatus; exitCode?: number | null; message?: string | null; artifacts?: string[] }): void {
    this.#sql.finished.run(fields.status, fields.exitCode ?? null, fields.message ?? null, JSON.stringify(fields.artifacts ?? []), id);
  }

  list(filter: { repo?: string; status?: BuildStatus; limit?: number } = {}): BuildRecord[] {
    return this.#sql.list.all({ repo: filter.repo ?? null, status: filter.status ?? null, limit: filter.limit ?? 100 }).map(toRecord);
  }

  /**
   * Marks older queued or running builds of the same branch and job as cancelled (their
   * workers notice and stop them). Returns how many were superseded.
   */
  supersede(build: { repo: string; branch: string; job: string; commit: string; requestedAt: number }): number {
    return this.#sql.supersede.run(`superseded by ${build.commit.slice(0, 12)}`, build.repo, build.branch, build.job, build.commit, build.requestedAt).changes;
  }

  /** Whether a build of this branch and job was asked for after `requestedAt`. */
  newerRequest(build: { repo: string; branch: string; job: string; requestedAt: number }): BuildRecord | undefined {
    const row = this.#sql.newer.get(build.repo, build.branch, build.job, build.requestedAt);
    return row ? toRecord(row) : undefined;
  }

  /**
   * Runs `fn` holding the lock `name`, shared by every process using this database. A
   * lock whose holder died is taken over (store-lock.ts).
   */
  withLock<T>(name: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
    return this.#locks.withLock(name, fn, timeoutMs);
  }

  /** Builds still queued or running whose builder process is gone. */
  orphans(): BuildRecord[] {
    return this.#sql.unfinished
      .all()
      .map(toRecord)
      .filter((r) => !isProcessAlive(r.builder));
  }
}

type Statements = ReturnType<typeof prepare>;

/** Every statement the store runs, compiled once when it opens. */
function prepare(db: Database.Database) {
  return {
    get: db.prepare<[number], Row>('SELECT * FROM builds WHERE id = ?'),
    kept: db.prepare<[string, string, string], Row>(
      `SELECT * FROM builds WHERE repo = ? AND commit_sha = ? AND job = ? AND status IN ${KEPT} ORDER BY id DESC LIMIT 1`,
    ),
    insert: db.prepare<
      [string, string, string, string | null, string | null, string, number, string, number, string | null, string | null, string | null, string | null]
    >(
      `INSERT INTO builds (repo, clone_url, commit_sha, ref, branch, job, status, builder_pid, builder, requested_at, commit_subject, commit_author, pusher, head_sha)
       VALUES (?, ?, ?, ?, ?, ?, ${sqlStatus('queued')}, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    started: db.prepare<[string, string, number, string, number]>(
      `UPDATE builds SET status = ${sqlStatus('running')}, started_at = ${NOW}, log_path = ?, container = ?, builder_pid = ?, builder = ? WHERE id = ?`,
    ),
    finished: db.prepare<[BuildStatus, number | null, string | null, string, number]>(
      `UPDATE builds SET status = ?, finished_at = ${NOW}, exit_code = ?, message = ?, artifacts = ? WHERE id = ?`,
    ),
    list: db.prepare<[{ repo: string | null; status: BuildStatus | null; limit: number }], Row>(
      `SELECT * FROM builds WHERE (@repo IS NULL OR repo = @repo) AND (@status IS NULL OR status = @status) ORDER BY id DESC LIMIT @limit`,
    ),
    supersede: db.prepare<[string, string, string, string, string, number]>(
      `UPDATE builds SET status = ${sqlStatus('cancelled')}, message = ?, finished_at = ${NOW}
       WHERE repo = ? AND branch = ? AND job = ? AND commit_sha != ? AND status IN ${UNFINISHED} AND requested_at < ?`,
    ),
    newer: db.prepare<[string, string, string, number], Row>(
      `SELECT * FROM builds WHERE repo = ? AND branch = ? AND job = ? AND requested_at > ? ORDER BY requested_at DESC LIMIT 1`,
    ),
    eventOf: db.prepare<[number], { event_key: string | null; event_seq: number | null }>('SELECT event_key, event_seq FROM builds WHERE id = ?'),
    setEvent: db.prepare<[string, number, number]>('UPDATE builds SET event_key = ?, event_seq = ? WHERE id = ?'),
    adoptEvent: db.prepare<[string, number]>('UPDATE builds SET event_key = ?, event_seq = 0 WHERE id = ? AND event_key IS NULL'),
    unfinished: db.prepare<[], Row>(`SELECT * FROM builds WHERE status IN ${UNFINISHED}`),
  };
}
