/**
 * The CI server's store (its own SQLite file, schema in server-schema.ts): what the
 * workers' events and log chunks said, kept so that the order and number of deliveries
 * never matter.
 *
 * - Events: every event carries the whole build record, its build key and its number
 *   within the build (`seq`, 0 for queued, the highest for finished). A build's row is
 *   the record of the highest-numbered event received: an event with a lower or equal
 *   number changes nothing, so a replay is a no-op and a `finished` that came before
 *   `started` stays finished. Step rows are merged per (build, step): step-started writes
 *   the start, step-finished the end, each the same whatever the order.
 * - Log chunks: stored by (build key, seq), a chunk already there is ignored; reading
 *   walks them in seq order and stops at the first one missing, so a reader sees a prefix
 *   of the log that only grows. How far that prefix goes is kept per log (`log_heads`),
 *   advanced as chunks arrive, so that no read scans a 50 MB log.
 */
import type Database from 'better-sqlite3';

import { isFinishedOnServer, type ServerStatus, sqlStatus } from '../ci/build-status';
import type { BuildMessage } from '../ci/push-event';
import { migrate, openDatabase } from '../ci/database';
import type { LogChunk } from '../ci/log-chunks';
import type { BuildEventWire, EventsTopicWire, PullClosedWire, WaitingWire } from './event-wire';
import { SERVER_MIGRATIONS } from './server-schema';

export interface ServerBuild {
  /** The server's number for the build (URLs, cursors). */
  id: number;
  /** The worker's key for it, the same on every machine. */
  key: string;
  worker: string;
  workerBuildId: number;
  repo: string;
  cloneUrl: string;
  commit: string;
  ref: string | null;
  branch: string | null;
  job: string;
  status: ServerStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  message: string | null;
  artifacts: string[];
  published: { binaries: string | null; docs: string | null } | null;
  /** The log's size as the worker counted it when the build finished (null before). */
  log: { chunks: number; bytes: number } | null;
  /** The commit's subject and author, who pushed: one bounded line each (event-wire.ts), null when not told. */
  subject: string | null;
  author: string | null;
  pusher: string | null;
  /**
   * A pull request's head commit (what GitHub shows on it), when the build is of a pull
   * request: `commit` is then GitHub's merge of it or the head itself. Null for pushes.
   */
  head: string | null;
  /** A pull request's build: the pull request as its request named it (null for pushes, and for builds told before). */
  pull: ServerPull | null;
  /** Who approved a fork's waiting build, and when (ISO 8601); null when it never waited. */
  approvedBy: string | null;
  approvedAt: string | null;
}

export interface ServerPull {
  number: number;
  baseRef: string;
  baseSha: string;
  headRepo: string | null;
  fork: boolean;
}

/** A fork approved for a base repository (the approval table's row). */
export interface ForkApproval {
  approvedBy: string;
  approvedAt: string;
}

export interface ServerStep {
  step: number;
  command: string;
  startedAt: number | null;
  finishedAt: number | null;
  exitCode: number | null;
  seconds: number | null;
}

export interface BuildFilter {
  repo?: string;
  branch?: string;
  status?: ServerStatus;
  job?: string;
  /** Only builds with a smaller id (the `next` cursor of the previous page). */
  before?: number;
  limit: number;
}

/** A piece of a build's log, contiguous from `offset`. */
export interface LogPage {
  offset: number;
  data: Buffer;
  /** Where the next page starts. */
  next: number;
  /** The build has finished and the server has every byte of its log (`next === available`: the end). */
  complete: boolean;
  /** Bytes the server has contiguously from 0 (the log so far). */
  available: number;
  /**
   * When the page's bytes were written, by the chunks that carried them: the bytes from each
   * mark's offset to the next mark's were cut into a chunk at `at` (ms since the epoch, the
   * worker's clock), within log-chunks.ts's CHUNK_FLUSH_MS of being written. In offset order;
   * the first mark is at `offset` when the page has bytes.
   */
  times: LogTime[];
}

export interface LogTime {
  offset: number;
  at: number;
}

interface BuildRow {
  id: number;
  key: string;
  seq: number;
  worker: string;
  worker_build_id: number;
  repo: string;
  clone_url: string;
  commit_sha: string;
  ref: string | null;
  branch: string | null;
  job: string;
  status: ServerStatus;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  exit_code: number | null;
  message: string | null;
  artifacts: string;
  published: string | null;
  log_chunks: number | null;
  log_bytes: number | null;
  commit_subject: string | null;
  commit_author: string | null;
  pusher: string | null;
  head_sha: string | null;
  pull_number: number | null;
  pull_base_ref: string | null;
  pull_base_sha: string | null;
  pull_head_repo: string | null;
  pull_fork: number | null;
  approved_by: string | null;
  approved_at: string | null;
}

function toBuild(row: BuildRow): ServerBuild {
  return {
    id: row.id,
    key: row.key,
    worker: row.worker,
    workerBuildId: row.worker_build_id,
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
    artifacts: JSON.parse(row.artifacts) as string[],
    published: row.published === null ? null : (JSON.parse(row.published) as ServerBuild['published']),
    log: row.log_chunks === null || row.log_bytes === null ? null : { chunks: row.log_chunks, bytes: row.log_bytes },
    subject: row.commit_subject,
    author: row.commit_author,
    pusher: row.pusher,
    head: row.head_sha,
    pull:
      row.pull_number === null || row.pull_base_ref === null || row.pull_base_sha === null
        ? null
        : { number: row.pull_number, baseRef: row.pull_base_ref, baseSha: row.pull_base_sha, headRepo: row.pull_head_repo, fork: row.pull_fork !== 0 },
    approvedBy: row.approved_by,
    approvedAt: row.approved_at,
  };
}

const FINISHED = isFinishedOnServer;

export class ServerStore {
  readonly #db: Database.Database;
  readonly #sql: Statements;
  readonly #ingestEvent: (event: BuildEventWire) => void;
  readonly #ingestWaiting: (event: WaitingWire) => string[];
  readonly #ingestClosed: (event: PullClosedWire) => string[];
  readonly #ingestChunk: (chunk: LogChunk) => void;

  /** Opens (creating or upgrading) the server's database; SchemaTooNewError when a newer lxcts wrote it. */
  constructor(file: string) {
    this.#db = openDatabase(file);
    try {
      migrate(this.#db, SERVER_MIGRATIONS, file === ':memory:' ? 'the server database' : file);
      this.#sql = prepare(this.#db);
    } catch (err) {
      this.#db.close();
      throw err;
    }
    const ingest = this.#db.transaction((event: BuildEventWire) => {
      const b = event.build;
      const finished = event.type === 'finished';
      const row = {
        key: event.key,
        seq: event.seq,
        worker: event.worker,
        worker_build_id: b.id,
        repo: b.repo,
        clone_url: b.cloneUrl,
        commit_sha: b.commit,
        ref: b.ref,
        branch: b.branch,
        job: b.job,
        status: b.status,
        created_at: b.createdAt,
        started_at: b.startedAt,
        finished_at: b.finishedAt,
        exit_code: b.exitCode,
        message: b.message,
        artifacts: JSON.stringify(b.artifacts),
        published: finished ? JSON.stringify(event.published) : null,
        log_chunks: finished ? (event.log?.chunks ?? null) : null,
        log_bytes: finished ? (event.log?.bytes ?? null) : null,
        commit_subject: b.subject ?? null,
        commit_author: b.author ?? null,
        pusher: b.pusher ?? null,
        head_sha: event.head ?? null,
      };
      if (this.#sql.buildSeq.get(event.key) === undefined) this.#sql.insertBuild.run(row);
      else this.#sql.updateBuild.run(row);
      // Whatever the order: a worker's last word on a build it swept does not repeat the head.
      if (event.head !== undefined) this.#sql.fillHead.run(event.head, event.key);
      const { pull } = event;
      if (pull) this.#sql.fillPull.run(pull.number, pull.baseRef, pull.baseSha, pull.headRepo, pull.fork ? 1 : 0, event.key);
      if (event.type === 'step-started') this.#sql.stepStarted.run(event.key, event.step, event.command, event.at);
      if (event.type === 'step-finished')
        this.#sql.stepFinished.run(event.key, event.step, event.command, event.at, event.exitCode ?? null, event.seconds ?? null);
    });
    // IMMEDIATE: take the write lock up front, so two ingesting processes never deadlock upgrading.
    this.#ingestEvent = (event) => ingest.immediate(event);
    const ingestWaiting = this.#db.transaction((w: WaitingWire): string[] => {
      const pull = w.request.pull!;
      if (this.#sql.buildSeq.get(w.key) === undefined) {
        this.#sql.insertBuild.run({
          key: w.key,
          seq: 0,
          worker: w.worker,
          worker_build_id: 0,
          repo: w.request.repo,
          clone_url: w.request.cloneUrl,
          commit_sha: w.commit,
          ref: w.ref,
          branch: null,
          job: w.job,
          status: 'waiting',
          created_at: new Date(w.at).toISOString(),
          started_at: null,
          finished_at: null,
          exit_code: null,
          message: `awaiting approval: #${pull.number} comes from ${pull.headRepo ?? 'a deleted fork'}`,
          artifacts: '[]',
          published: null,
          log_chunks: null,
          log_bytes: null,
          commit_subject: w.subject,
          commit_author: w.author,
          pusher: w.request.pusher,
          head_sha: w.request.after,
        });
        this.#sql.holdRequest.run(JSON.stringify(w.request), w.request.receivedAt, w.key);
        this.#sql.fillPull.run(pull.number, pull.baseRef, pull.baseSha, pull.headRepo, 1, w.key);
      }
      // A newer push to the pull request cancels what waits of an older one, in whichever order they came.
      const newer = this.#sql.newerWaiting.get(w.request.repo, pull.number, w.job, w.request.receivedAt);
      const changed = newer ? this.#cancelWaiting([w.key], `superseded by ${newer.head.slice(0, 12)}`) : [];
      const older = this.#sql.olderWaiting.all(w.request.repo, pull.number, w.job, w.request.receivedAt).map((r) => r.key);
      return [...changed, ...this.#cancelWaiting(older, `superseded by ${w.request.after.slice(0, 12)}`)];
    });
    this.#ingestWaiting = (w) => ingestWaiting.immediate(w);
    const ingestClosed = this.#db.transaction((c: PullClosedWire): string[] => {
      const older = this.#sql.olderWaiting.all(c.request.repo, c.request.pull!.number, c.job, c.request.receivedAt).map((r) => r.key);
      return this.#cancelWaiting(older, `cancelled by the close of #${c.request.pull!.number}`);
    });
    this.#ingestClosed = (c) => ingestClosed.immediate(c);
    const ingestChunk = this.#db.transaction((chunk: LogChunk) => {
      const data = Buffer.from(chunk.data, 'base64');
      if (this.#sql.insertChunk.run(chunk.build, chunk.seq, chunk.offset, chunk.step, chunk.at, data).changes === 0) return;
      // Advance the contiguous head over this chunk and any that were waiting for it.
      const head = this.#sql.head.get(chunk.build) ?? { next_seq: 0, bytes: 0 };
      if (chunk.seq !== head.next_seq) return;
      let { next_seq: next, bytes } = head;
      for (let c = this.#sql.chunkSize.get(chunk.build, next); c && c.offset === bytes; c = this.#sql.chunkSize.get(chunk.build, next)) {
        next += 1;
        bytes += c.size;
      }
      this.#sql.setHead.run(chunk.build, next, bytes);
    });
    this.#ingestChunk = (chunk) => ingestChunk.immediate(chunk);
  }

  close(): void {
    this.#db.close();
  }

  /**
   * Applies one message of the events topic (committed when this returns); replays and late
   * events change nothing. Returns the keys of the builds it changed.
   */
  ingestEvent(event: EventsTopicWire): string[] {
    if (event.type === 'waiting') return [event.key, ...this.#ingestWaiting(event)];
    if (event.type === 'pull-closed') return this.#ingestClosed(event);
    this.#ingestEvent(event);
    return [event.key];
  }

  /** Waiting builds `keys` cancelled with `message`; the keys of those that were still waiting. */
  #cancelWaiting(keys: string[], message: string): string[] {
    return keys.filter((key) => this.#sql.cancelWaiting.run(message, key).changes > 0);
  }

  /** The request a waiting build holds (the one it came with), or undefined. */
  heldRequest(key: string): BuildMessage | undefined {
    const row = this.#sql.heldRequest.get(key);
    return row?.request ? (JSON.parse(row.request) as BuildMessage) : undefined;
  }

  /**
   * A waiting build approved: queued until its worker's events go on under its key. False
   * when it no longer waits (approved or cancelled meanwhile).
   */
  approveWaiting(key: string, by: string, at: number): boolean {
    return this.#sql.approveWaiting.run(`approved by ${by}`, by, new Date(at).toISOString(), key).changes > 0;
  }

  /** Undoes approveWaiting when the approved request could not be sent (no worker event came since). */
  unapproveWaiting(key: string, seq: number, message: string | null): void {
    this.#sql.unapproveWaiting.run(message, key, seq);
  }

  /** The builds of `repo` that wait for approval, oldest first. */
  waitingIn(repo: string): ServerBuild[] {
    return this.#sql.waitingIn.all(repo).map(toBuild);
  }

  /** A waiting build cancelled (nothing runs it: no worker to tell); false when it no longer waits. */
  cancelWaiting(key: string, message: string): boolean {
    return this.#cancelWaiting([key], message).length > 0;
  }

  /** Remembers that `headRepo`'s pull requests by `author` to `baseRepo` are approved (the first approval stays). */
  approveFork(baseRepo: string, headRepo: string, author: string, by: string, at: number): void {
    this.#sql.approveFork.run(baseRepo.toLowerCase(), headRepo.toLowerCase(), author.toLowerCase(), by, new Date(at).toISOString());
  }

  /** Whether `headRepo`'s pull requests by `author` to `baseRepo` were approved, by whom and when. */
  forkApproval(baseRepo: string, headRepo: string, author: string): ForkApproval | undefined {
    const row = this.#sql.forkApproval.get(baseRepo.toLowerCase(), headRepo.toLowerCase(), author.toLowerCase());
    return row && { approvedBy: row.approved_by, approvedAt: row.approved_at };
  }

  /** Stores one log chunk (committed when this returns); a chunk already stored is ignored. */
  ingestChunk(chunk: LogChunk): void {
    this.#ingestChunk(chunk);
  }

  get(id: number): ServerBuild | undefined {
    const row = this.#sql.get.get(id);
    return row ? toBuild(row) : undefined;
  }

  getByKey(key: string): ServerBuild | undefined {
    const row = this.#sql.getByKey.get(key);
    return row ? toBuild(row) : undefined;
  }

  /** Newest first (the order the server first heard of them), filtered, one page. */
  list(filter: BuildFilter): ServerBuild[] {
    return this.#sql.list
      .all({
        repo: filter.repo ?? null,
        branch: filter.branch ?? null,
        status: filter.status ?? null,
        job: filter.job ?? null,
        before: filter.before ?? null,
        limit: filter.limit,
      })
      .map(toBuild);
  }

  /** How many builds the store holds per status and job (the metrics' builds gauge). */
  countByStatusAndJob(): Array<{ status: ServerStatus; job: string; count: number }> {
    return this.#sql.countByStatusAndJob.all();
  }

  /**
   * The newest successful build of each branch and job of `repo` (newest: the last the
   * server heard of), by branch then job; at most `limit` rows.
   */
  newestSuccessful(repo: string, limit: number): ServerBuild[] {
    return this.#sql.newestSuccessful.all({ repo, limit }).map(toBuild);
  }

  steps(key: string): ServerStep[] {
    return this.#sql.steps.all(key).map((r) => ({
      step: r.step,
      command: r.command,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      exitCode: r.exit_code,
      seconds: r.seconds,
    }));
  }

  /**
   * Up to `limit` bytes of build `key`'s log from `offset`, as far as the chunks are
   * contiguous: never more than asked, whatever the log's size.
   */
  readLog(key: string, offset: number, limit: number): LogPage {
    const build = this.getByKey(key);
    const parts: Buffer[] = [];
    const times: LogTime[] = [];
    let end = offset;
    let bytes = 0;
    const first = this.#sql.chunkAt.get(key, offset);
    if (first) {
      let expected = first.seq;
      let at = first.offset;
      for (const chunk of this.#sql.chunksFrom.iterate(key, first.seq)) {
        if (chunk.seq !== expected || chunk.offset !== at) break;
        expected += 1;
        at += chunk.data.length;
        if (at <= offset) continue;
        const from = Math.max(0, offset - chunk.offset);
        const piece = chunk.data.subarray(from, from + (limit - bytes));
        parts.push(piece);
        if (piece.length > 0) times.push({ offset: chunk.offset + from, at: chunk.at });
        bytes += piece.length;
        end = chunk.offset + from + piece.length;
        if (bytes >= limit) break;
      }
    }
    const available = this.#contiguousBytes(key);
    const total = build?.log;
    const complete = build !== undefined && FINISHED(build.status) && total !== null && total !== undefined && available === total.bytes;
    return { offset, data: Buffer.concat(parts), next: end, complete, available, times };
  }

  /** Bytes of the log present without a gap from the start. */
  #contiguousBytes(key: string): number {
    return this.#sql.head.get(key)?.bytes ?? 0;
  }
}

type Statements = ReturnType<typeof prepare>;

interface ChunkRow {
  seq: number;
  offset: number;
  at: number;
  data: Buffer;
}

function prepare(db: Database.Database) {
  return {
    // A new build's row, numbered when the server first hears of it. Not an upsert: SQLite's
    // AUTOINCREMENT spends an id on every conflicting insert, and ids are the pages' URLs.
    insertBuild: db.prepare<[Record<string, unknown>]>(`
      INSERT INTO builds (key, seq, worker, worker_build_id, repo, clone_url, commit_sha, ref, branch, job, status, created_at, started_at,
                          finished_at, exit_code, message, artifacts, published, log_chunks, log_bytes, commit_subject, commit_author, pusher, head_sha)
      VALUES (@key, @seq, @worker, @worker_build_id, @repo, @clone_url, @commit_sha, @ref, @branch, @job, @status, @created_at, @started_at,
              @finished_at, @exit_code, @message, @artifacts, @published, @log_chunks, @log_bytes, @commit_subject, @commit_author, @pusher, @head_sha)`),
    buildSeq: db.prepare<[string], { seq: number }>('SELECT seq FROM builds WHERE key = ?'),
    // The row becomes the event's record only when the event is newer than what made it.
    updateBuild: db.prepare<[Record<string, unknown>]>(`
      UPDATE builds SET
        seq = @seq, worker = @worker, worker_build_id = @worker_build_id, repo = @repo,
        clone_url = @clone_url, commit_sha = @commit_sha, ref = @ref, branch = @branch, job = @job,
        status = @status, created_at = @created_at, started_at = @started_at, finished_at = @finished_at,
        exit_code = @exit_code, message = @message, artifacts = @artifacts, published = @published,
        log_chunks = @log_chunks, log_bytes = @log_bytes, commit_subject = @commit_subject, commit_author = @commit_author, pusher = @pusher
      WHERE key = @key AND @seq > seq`),
    // A build's head is set once, by whichever of its events names it first.
    fillHead: db.prepare<[string, string]>('UPDATE builds SET head_sha = ? WHERE key = ? AND head_sha IS NULL'),
    // The same for its pull request: a fork's stays a fork's, whatever a later event says.
    fillPull: db.prepare<[number, string, string, string | null, number, string]>(
      `UPDATE builds SET pull_number = ?, pull_base_ref = ?, pull_base_sha = ?, pull_head_repo = ?, pull_fork = ? WHERE key = ? AND pull_number IS NULL`,
    ),
    holdRequest: db.prepare<[string, number, string]>('UPDATE builds SET request = ?, received_at = ? WHERE key = ?'),
    heldRequest: db.prepare<[string], { request: string | null }>('SELECT request FROM builds WHERE key = ?'),
    waitingIn: db.prepare<[string], BuildRow>(`SELECT * FROM builds WHERE repo = ? AND status = ${sqlStatus('waiting')} ORDER BY id`),
    olderWaiting: db.prepare<[string, number, string, number], { key: string }>(
      `SELECT key FROM builds WHERE repo = ? AND pull_number = ? AND job = ? AND status = ${sqlStatus('waiting')} AND received_at < ?`,
    ),
    newerWaiting: db.prepare<[string, number, string, number], { head: string }>(
      `SELECT head_sha AS head FROM builds WHERE repo = ? AND pull_number = ? AND job = ? AND received_at > ? AND head_sha IS NOT NULL
       ORDER BY received_at DESC LIMIT 1`,
    ),
    cancelWaiting: db.prepare<[string, string]>(
      `UPDATE builds SET status = ${sqlStatus('cancelled')}, message = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
       WHERE key = ? AND status = ${sqlStatus('waiting')}`,
    ),
    approveWaiting: db.prepare<[string, string, string, string]>(
      `UPDATE builds SET status = ${sqlStatus('queued')}, message = ?, approved_by = ?, approved_at = ? WHERE key = ? AND status = ${sqlStatus('waiting')}`,
    ),
    unapproveWaiting: db.prepare<[string | null, string, number]>(
      `UPDATE builds SET status = ${sqlStatus('waiting')}, message = ?, approved_by = NULL, approved_at = NULL
       WHERE key = ? AND seq = ? AND status = ${sqlStatus('queued')}`,
    ),
    approveFork: db.prepare<[string, string, string, string, string]>(
      'INSERT OR IGNORE INTO fork_approvals (base_repo, head_repo, author, approved_by, approved_at) VALUES (?, ?, ?, ?, ?)',
    ),
    forkApproval: db.prepare<[string, string, string], { approved_by: string; approved_at: string }>(
      'SELECT approved_by, approved_at FROM fork_approvals WHERE base_repo = ? AND head_repo = ? AND author = ?',
    ),
    stepStarted: db.prepare<[string, number, string, number]>(`
      INSERT INTO steps (build_key, step, command, started_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (build_key, step) DO UPDATE SET started_at = excluded.started_at`),
    stepFinished: db.prepare<[string, number, string, number, number | null, number | null]>(`
      INSERT INTO steps (build_key, step, command, finished_at, exit_code, seconds) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (build_key, step) DO UPDATE SET finished_at = excluded.finished_at, exit_code = excluded.exit_code, seconds = excluded.seconds`),
    insertChunk: db.prepare<[string, number, number, number | null, number, Buffer]>(
      'INSERT OR IGNORE INTO log_chunks (build_key, seq, offset, step, at, data) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    get: db.prepare<[number], BuildRow>('SELECT * FROM builds WHERE id = ?'),
    getByKey: db.prepare<[string], BuildRow>('SELECT * FROM builds WHERE key = ?'),
    list: db.prepare<[Record<string, string | number | null>], BuildRow>(`
      SELECT * FROM builds
      WHERE (@repo IS NULL OR repo = @repo) AND (@branch IS NULL OR branch = @branch) AND (@status IS NULL OR status = @status)
        AND (@job IS NULL OR job = @job) AND (@before IS NULL OR id < @before)
      ORDER BY id DESC LIMIT @limit`),
    countByStatusAndJob: db.prepare<[], { status: ServerStatus; job: string; count: number }>(
      'SELECT status, job, count(*) AS count FROM builds GROUP BY status, job ORDER BY status, job',
    ),
    newestSuccessful: db.prepare<[{ repo: string; limit: number }], BuildRow>(`
      SELECT b.* FROM builds b
      JOIN (SELECT MAX(id) AS id FROM builds WHERE repo = @repo AND branch IS NOT NULL AND status = ${sqlStatus('success')} GROUP BY branch, job) newest ON b.id = newest.id
      ORDER BY b.branch, b.job LIMIT @limit`),
    steps: db.prepare<
      [string],
      { step: number; command: string; started_at: number | null; finished_at: number | null; exit_code: number | null; seconds: number | null }
    >('SELECT * FROM steps WHERE build_key = ? ORDER BY step'),
    chunkAt: db.prepare<[string, number], ChunkRow>(
      'SELECT seq, offset, at, data FROM log_chunks WHERE build_key = ? AND offset <= ? ORDER BY offset DESC, seq LIMIT 1',
    ),
    chunksFrom: db.prepare<[string, number], ChunkRow>('SELECT seq, offset, at, data FROM log_chunks WHERE build_key = ? AND seq >= ? ORDER BY seq'),
    head: db.prepare<[string], { next_seq: number; bytes: number }>('SELECT next_seq, bytes FROM log_heads WHERE build_key = ?'),
    setHead: db.prepare<[string, number, number]>(
      'INSERT INTO log_heads (build_key, next_seq, bytes) VALUES (?, ?, ?) ON CONFLICT (build_key) DO UPDATE SET next_seq = excluded.next_seq, bytes = excluded.bytes',
    ),
    chunkSize: db.prepare<[string, number], { offset: number; size: number }>(
      'SELECT offset, length(data) AS size FROM log_chunks WHERE build_key = ? AND seq = ?',
    ),
  };
}
