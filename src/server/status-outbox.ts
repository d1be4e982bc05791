/**
 * The commit statuses the server has yet to post, or has posted, one row per build
 * (`github_statuses`, server-schema.ts migration 3), on the server's own database file
 * through a connection of its own: the reporter's writes never hold up ingest's.
 */
import type Database from 'better-sqlite3';

import { openDatabase } from '../ci/database';
import type { CommitState } from '../github/commit-status';

export type PostOutcome = 'waiting' | 'posted' | 'retrying' | 'failed';

export interface OutboxRow {
  buildKey: string;
  repo: string;
  commit: string;
  context: string;
  state: CommitState;
  description: string;
  buildStatus: string;
  outcome: PostOutcome;
  attempts: number;
  nextAt: number;
  error: string | null;
  revision: number;
}

interface Row {
  build_key: string;
  repo: string;
  commit_sha: string;
  context: string;
  state: CommitState;
  description: string;
  build_status: string;
  outcome: PostOutcome;
  attempts: number;
  next_at: number;
  error: string | null;
  revision: number;
}

const toOutboxRow = (r: Row): OutboxRow => ({
  buildKey: r.build_key,
  repo: r.repo,
  commit: r.commit_sha,
  context: r.context,
  state: r.state,
  description: r.description,
  buildStatus: r.build_status,
  outcome: r.outcome,
  attempts: r.attempts,
  nextAt: r.next_at,
  error: r.error,
  revision: r.revision,
});

/** What a build's newest state asks to post (a row without where its posting stands). */
export type NewStatus = Pick<OutboxRow, 'buildKey' | 'repo' | 'commit' | 'context' | 'state' | 'description' | 'buildStatus'>;

export class StatusOutbox {
  readonly #db: Database.Database;
  readonly #sql: ReturnType<typeof prepare>;

  /** On the server's database file, which ServerStore has opened (and migrated) first. */
  constructor(file: string) {
    this.#db = openDatabase(file);
    this.#sql = prepare(this.#db);
  }

  close(): void {
    this.#db.close();
  }

  get(buildKey: string): OutboxRow | undefined {
    const row = this.#sql.get.get(buildKey);
    return row ? toOutboxRow(row) : undefined;
  }

  /**
   * The build's status is now `s`, to post at `now`; a row already made from the same build status for the same commit
   * stays as it is (a pull request's head, told late, moves it). Whether it changed.
   */
  want(s: NewStatus, now: number): boolean {
    return this.#sql.want.run({ ...s, commit_sha: s.commit, build_key: s.buildKey, build_status: s.buildStatus, now }).changes > 0;
  }

  /** The row most overdue at `now`, if any. */
  due(now: number): OutboxRow | undefined {
    const row = this.#sql.due.get(now);
    return row ? toOutboxRow(row) : undefined;
  }

  /** When the next row falls due (ms since the epoch), or null when none waits. */
  nextAt(): number | null {
    return this.#sql.nextAt.get()?.next_at ?? null;
  }

  /** Records a post's end, unless a newer status replaced the one posted meanwhile. */
  settle(buildKey: string, revision: number, outcome: Exclude<PostOutcome, 'waiting'>, attempts: number, nextAt: number, error: string | null): void {
    this.#sql.settle.run({ build_key: buildKey, revision, outcome, attempts, next_at: nextAt, error });
  }
}

function prepare(db: Database.Database) {
  return {
    get: db.prepare<[string], Row>('SELECT * FROM github_statuses WHERE build_key = ?'),
    want: db.prepare<[Record<string, unknown>]>(`
      INSERT INTO github_statuses (build_key, repo, commit_sha, context, state, description, build_status, outcome, attempts, next_at, error, revision)
      VALUES (@build_key, @repo, @commit_sha, @context, @state, @description, @build_status, 'waiting', 0, @now, NULL, 1)
      ON CONFLICT (build_key) DO UPDATE SET
        repo = excluded.repo, commit_sha = excluded.commit_sha, context = excluded.context, state = excluded.state,
        description = excluded.description, build_status = excluded.build_status, outcome = 'waiting', attempts = 0,
        next_at = excluded.next_at, error = NULL, revision = revision + 1
      WHERE build_status IS NOT excluded.build_status OR commit_sha IS NOT excluded.commit_sha`),
    due: db.prepare<[number], Row>(`
      SELECT * FROM github_statuses WHERE outcome IN ('waiting', 'retrying') AND next_at <= ? ORDER BY next_at LIMIT 1`),
    nextAt: db.prepare<[], { next_at: number }>(`
      SELECT next_at FROM github_statuses WHERE outcome IN ('waiting', 'retrying') ORDER BY next_at LIMIT 1`),
    settle: db.prepare<[Record<string, unknown>]>(`
      UPDATE github_statuses SET outcome = @outcome, attempts = @attempts, next_at = @next_at, error = @error
      WHERE build_key = @build_key AND revision = @revision`),
  };
}
