/**
 * When a GitHub API request is worth another try, and after how long: the rules GitHub
 * documents ("Best practices for using the REST API", "Rate limits for the REST API").
 *
 * - 5xx and network failures (Octokit reports those as 500): exponential backoff with jitter.
 * - 403 and 429 that are rate limits: `Retry-After` when given, else the reset time when
 *   `x-ratelimit-remaining` is 0, else (a secondary limit without either) at least a minute.
 * - Anything else (401, a 403 that is a permission, 404, 422): never; trying again changes nothing.
 *
 * Why not @octokit/plugin-retry and plugin-throttling: their maintained majors are ESM-only
 * (this package and jest are CommonJS); in the CommonJS majors plugin-retry backs off on 429
 * ignoring `Retry-After`, and plugin-throttling looks at 403 only and waits until the reset
 * (up to an hour) inside the call. One function and one hook below do what we need.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import type { Octokit } from '@octokit/core';

export interface RetryPolicy {
  /** Tries after the first (so retries + 1 requests at most). */
  retries: number;
  /** The first backoff after a 5xx; doubled each time, with jitter. */
  baseDelayMs: number;
  /** The longest backoff after a 5xx. */
  maxDelayMs: number;
  /**
   * The longest a request waits for a rate limit: past it the request fails at once (with
   * `retryAt` on the error), and the caller decides when to come back (status-outbox.ts does,
   * from its own store, so a waiting status survives a restart).
   */
  maxWaitMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 4, baseDelayMs: 1000, maxDelayMs: 30_000, maxWaitMs: 60_000 };

/** What retry.ts reads of an Octokit `RequestError` (or any other failure). */
interface FailureLike {
  status?: unknown;
  message?: unknown;
  response?: { headers?: Record<string, string | number | undefined> };
}

function header(err: FailureLike, name: string): string | undefined {
  const value = err.response?.headers?.[name];
  return value === undefined ? undefined : String(value);
}

/** The HTTP status of a failure, or null when it has none (a bug, not an API answer). */
export function failureStatus(err: unknown): number | null {
  const status = (err as FailureLike | null)?.status;
  return typeof status === 'number' ? status : null;
}

/**
 * How long GitHub asks us to wait before trying again (ms from `now`), or null when the
 * answer is not a rate limit.
 */
export function rateLimitWaitMs(err: unknown, now: number): number | null {
  const e = (err ?? {}) as FailureLike;
  const status = failureStatus(err);
  if (status !== 403 && status !== 429) return null;
  const retryAfter = header(e, 'retry-after');
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const reset = Number(header(e, 'x-ratelimit-reset'));
  if (header(e, 'x-ratelimit-remaining') === '0' && Number.isFinite(reset) && reset > 0) {
    // One second past the reset, as GitHub advises: the window turns over on its clock.
    return Math.max(0, reset * 1000 - now + 1000);
  }
  // A secondary limit that says neither: GitHub says wait at least a minute. A plain 403 is a permission.
  if (status === 429 || /secondary rate limit|rate limit exceeded/i.test(String(e.message ?? ''))) return 60_000;
  return null;
}

/**
 * How long to wait before try `attempt + 1` (attempt 0: the first failed), or null for
 * "do not try again". `random` is Math.random (a parameter so that tests can pin it).
 */
export function retryDelayMs(err: unknown, attempt: number, policy: RetryPolicy, now: number, random: () => number = Math.random): number | null {
  if (attempt >= policy.retries) return null;
  const limited = rateLimitWaitMs(err, now);
  if (limited !== null) return limited <= policy.maxWaitMs ? limited : null;
  const status = failureStatus(err);
  if (status !== null && status < 500) return null;
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(backoff * (0.5 + random() / 2));
}

export interface RetryLog {
  warn(fields: object, message: string): void;
}

/** Makes every request of `octokit` try again as `retryDelayMs` says. */
export function retryRequests(octokit: Octokit, policy: RetryPolicy, log: RetryLog, now: () => number = Date.now): void {
  octokit.hook.wrap('request', async (request, options) => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await request(options);
      } catch (err) {
        const wait = retryDelayMs(err, attempt, policy, now());
        if (wait === null) {
          const limited = rateLimitWaitMs(err, now());
          if (limited !== null) Object.assign(err as object, { retryAt: now() + limited });
          throw err;
        }
        log.warn(
          { url: options.url, method: options.method, status: failureStatus(err), attempt: attempt + 1, waitMs: wait },
          'GitHub request failed; trying again',
        );
        await sleep(wait);
      }
    }
  });
}
