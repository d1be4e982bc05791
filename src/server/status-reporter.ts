/**
 * Commit statuses from the builds the server ingests: each change of a build's status
 * (the live store's change signal, after ingest's write has committed) becomes the status
 * its repository's commit should show (commit-status.ts), kept in the outbox
 * (status-outbox.ts), and one loop posts the outbox to GitHub, one status at a time.
 *
 * Ingest never waits for GitHub: the listener does one read and at most one small write,
 * and posting runs on its own. A post that fails after the client's own quick retries
 * (client.ts) is tried again later, with a growing backoff or when GitHub's rate limit
 * resets; the outbox is on disk, so a restart resumes it. Nothing here throws: a failure
 * is logged and shown on the build page.
 */
import { EventEmitter, once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

import { oneLine } from '../ci/commit-info';
import type { Logger } from '../ci/logger';
import type { GitHub } from '../github/client';
import { commitStatusOf, statusCommit, statusRepository } from '../github/commit-status';
import { failureStatus, rateLimitWaitMs } from '../github/retry';
import type { LiveStore } from './live-store';
import type { OutboxRow, StatusOutbox } from './status-outbox';

export interface StatusReporterOptions {
  store: LiveStore;
  outbox: StatusOutbox;
  github: GitHub;
  log: Logger;
  /** Posts tried before a status is given up (default 10). */
  maxAttempts?: number;
  /** The first wait after a failed post; doubled each time up to maxBackoffMs (default 30 s, 30 min). */
  backoffMs?: number;
  maxBackoffMs?: number;
  now?: () => number;
}

export interface StatusReporter {
  /**
   * Starts posting, linking to `<publicUrl>/builds/<id>` (known once the server listens:
   * changes before then are already in the outbox, and posted now).
   */
  startPosting(publicUrl: string): void;
  /** Stops listening and posting; a post under way is left to finish on its own (its outcome is still recorded). */
  close(): void;
}

/** The longest single sleep setTimeout takes. */
const MAX_SLEEP = 2 ** 31 - 1;

export function watchBuildStatuses(o: StatusReporterOptions): StatusReporter {
  const now = o.now ?? Date.now;
  const maxAttempts = o.maxAttempts ?? 10;
  const backoffMs = o.backoffMs ?? 30_000;
  const maxBackoffMs = o.maxBackoffMs ?? 30 * 60_000;
  let publicUrl = '';
  const log = o.log.child({ component: 'github-status' });
  const stopping = new AbortController();
  const wake = new EventEmitter();

  const onChange = (key: string) => {
    try {
      const build = o.store.getByKey(key);
      if (!build) return;
      // A pull request's build may be of GitHub's merge commit: GitHub shows statuses of the head.
      const commit = statusCommit(build);
      // Most changes are log chunks or steps: one read tells they change nothing here.
      const wanted = o.outbox.get(key);
      if (wanted?.buildStatus === build.status && wanted.commit === commit) return;
      const target = statusRepository(build, o.github.baseUrl);
      if (!target) return;
      const status = commitStatusOf(build);
      const changed = o.outbox.want({ buildKey: key, repo: build.repo, commit, buildStatus: build.status, ...status }, now());
      if (changed) wake.emit('wake');
    } catch (err) {
      log.error({ key, err: (err as Error).message }, 'could not queue a commit status');
    }
  };

  const post = async (row: OutboxRow) => {
    const build = o.store.getByKey(row.buildKey);
    const [owner, repo] = row.repo.split('/') as [string, string];
    const attempts = row.attempts + 1;
    try {
      const octokit = await o.github.forRepo(owner, repo);
      await octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', {
        owner,
        repo,
        sha: row.commit,
        state: row.state,
        ...(build ? { target_url: `${publicUrl}/builds/${build.id}` } : {}),
        description: row.description,
        context: row.context,
      });
      o.outbox.settle(row.buildKey, row.revision, 'posted', attempts, now(), null);
      log.debug({ repo: row.repo, commit: row.commit, context: row.context, state: row.state }, 'commit status posted');
    } catch (err) {
      const status = failureStatus(err);
      const limited = rateLimitWaitMs(err, now());
      // A 4xx that is no rate limit (401, 404, 422) says the same however often it is asked.
      const hopeless = status !== null && status >= 400 && status < 500 && limited === null;
      const message = describe(err);
      if (hopeless || attempts >= maxAttempts) {
        o.outbox.settle(row.buildKey, row.revision, 'failed', attempts, now(), message);
        log.warn({ repo: row.repo, commit: row.commit, context: row.context, attempts, err: message }, 'commit status not posted; given up');
        return;
      }
      const retryAt = (err as { retryAt?: unknown }).retryAt;
      const at = typeof retryAt === 'number' ? retryAt : now() + (limited ?? Math.min(maxBackoffMs, backoffMs * 2 ** (attempts - 1)));
      o.outbox.settle(row.buildKey, row.revision, 'retrying', attempts, at, message);
      log.warn(
        { repo: row.repo, commit: row.commit, context: row.context, attempts, retryAt: new Date(at).toISOString(), err: message },
        'commit status not posted; will retry',
      );
    }
  };

  const loop = async () => {
    const signal = stopping.signal;
    while (!signal.aborted) {
      try {
        const row = o.outbox.due(now());
        if (row) {
          await post(row);
          continue;
        }
        const next = o.outbox.nextAt();
        const waiting = new AbortController();
        const either = AbortSignal.any([signal, waiting.signal]);
        const delay = next === null ? MAX_SLEEP : Math.min(MAX_SLEEP, Math.max(0, next - now()));
        await Promise.race([once(wake, 'wake', { signal: either }), sleep(delay, undefined, { signal: either })]).catch(() => undefined);
        waiting.abort();
      } catch (err) {
        // The database went away (closing) or a bug: say so, and do not spin.
        if (signal.aborted) return;
        log.error({ err: (err as Error).message }, 'commit status loop failed; pausing');
        await sleep(backoffMs, undefined, { signal }).catch(() => undefined);
      }
    }
  };

  o.store.changes.on('build', onChange);
  let posting = false;
  return {
    startPosting(url) {
      if (posting) return;
      posting = true;
      publicUrl = url.replace(/\/+$/, '');
      void loop();
    },
    close() {
      o.store.changes.off('build', onChange);
      stopping.abort();
    },
  };
}

/** A failure in one line people can read on the build page. */
function describe(err: unknown): string {
  const status = failureStatus(err);
  const message = err instanceof Error ? err.message : String(err);
  return oneLine(status !== null ? `${status}: ${message}` : message, 300);
}
