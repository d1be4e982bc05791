/**
 * The GitHub API client everything in lxcts that talks to GitHub goes through (commit
 * statuses, the patch-parser bot): Octokit (`@octokit/core`) with
 *
 * - a configurable API base URL: GitHub Enterprise (`https://HOST/api/v3`), Gitea and
 *   Forgejo (`https://HOST/api/v1`) speak the same status API;
 * - a token (`Authorization: token ...`) or a GitHub App: app id + private key, the
 *   installation found per repository (or given), its token refreshed before it expires
 *   (`@octokit/auth-app`, token-cache.ts);
 * - GitHub's media type and API version on every request;
 * - retries with backoff on 5xx, `Retry-After` and the rate-limit headers honoured (retry.ts).
 *
 * Usage:
 *
 *     const github = createGitHub({ auth: { token }, log });
 *     const octokit = await github.forRepo('owner', 'repo');
 *     await octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', { owner, repo, sha, state: 'success', context: 'lxcts/x' });
 *
 * A request that still fails throws Octokit's `RequestError` (`status`, `response`), with
 * `retryAt` (ms since the epoch) when GitHub asked for a wait longer than the policy's.
 * Callers that must never fail a build catch it (status-outbox.ts does).
 */
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/core';

import type { Logger } from '../ci/logger';
import { DEFAULT_RETRY_POLICY, retryRequests, type RetryPolicy } from './retry';
import { expiringTokenCache, type TokenCache } from './token-cache';

export const GITHUB_API_URL = 'https://api.github.com';
/** The REST API version every request asks for (GitHub's `X-GitHub-Api-Version`). */
export const GITHUB_API_VERSION = '2022-11-28';
export const GITHUB_MEDIA_TYPE = 'application/vnd.github+json';

export type GitHubAuth =
  /** A personal access token, fine-grained token or a Gitea/Forgejo token. */
  | { token: string }
  /** A GitHub App; without installationId, each repository's installation is looked up once. */
  | { appId: number; privateKey: string; installationId?: number };

export interface GitHubOptions {
  /** The REST API's root (default https://api.github.com). */
  baseUrl?: string;
  auth: GitHubAuth;
  log: Logger;
  retry?: Partial<RetryPolicy>;
  /** How long before its expiry an App installation token is replaced (default 5 minutes). */
  refreshBeforeExpiryMs?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  /** The clock (tests move it to expire tokens). */
  now?: () => number;
}

export interface GitHub {
  readonly baseUrl: string;
  /** An Octokit acting on owner/repo: the token's, or the App's installation on that repository. */
  forRepo(owner: string, repo: string): Promise<Octokit>;
}

/** A base URL as Octokit wants it: http(s), no trailing slash. */
export function normalizeBaseUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error(`not an http(s) URL: ${url}`);
  if (parsed.search || parsed.hash || parsed.username || parsed.password) throw new Error(`a base URL has no query, fragment or credentials: ${url}`);
  return parsed.toString().replace(/\/+$/, '');
}

export function createGitHub(o: GitHubOptions): GitHub {
  const baseUrl = normalizeBaseUrl(o.baseUrl ?? GITHUB_API_URL);
  const now = o.now ?? Date.now;
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...o.retry };
  const log = o.log.child({ component: 'github' });
  const make = (auth: Record<string, unknown> | string, strategy?: typeof createAppAuth): Octokit => {
    const octokit = new Octokit({
      baseUrl,
      userAgent: 'lxcts',
      auth,
      ...(strategy ? { authStrategy: strategy } : {}),
      log: {
        debug: (m: string) => log.debug(m),
        info: (m: string) => log.info(m),
        warn: (m: string) => log.warn(m),
        error: (m: string) => log.error(m),
      },
    });
    octokit.hook.before('request', (options) => {
      options.headers.accept = GITHUB_MEDIA_TYPE;
      options.headers['x-github-api-version'] = GITHUB_API_VERSION;
      options.request = { ...options.request, signal: AbortSignal.timeout(o.timeoutMs ?? 30_000) };
    });
    retryRequests(octokit, policy, log, now);
    return octokit;
  };

  if ('token' in o.auth) {
    const octokit = make(o.auth.token);
    return { baseUrl, forRepo: async () => octokit };
  }
  const { appId, privateKey, installationId } = o.auth;
  const cache: TokenCache = expiringTokenCache(o.refreshBeforeExpiryMs ?? 5 * 60_000, now);
  const app = make({ appId, privateKey, cache }, createAppAuth);
  const byInstallation = new Map<number, Octokit>();
  const installationOf = new Map<string, number>();
  const forInstallation = (id: number): Octokit => {
    let octokit = byInstallation.get(id);
    if (!octokit) {
      octokit = make({ appId, privateKey, installationId: id, cache }, createAppAuth);
      byInstallation.set(id, octokit);
    }
    return octokit;
  };
  return {
    baseUrl,
    async forRepo(owner, repo) {
      if (installationId !== undefined) return forInstallation(installationId);
      const key = `${owner}/${repo}`.toLowerCase();
      let id = installationOf.get(key);
      if (id === undefined) {
        const { data } = await app.request('GET /repos/{owner}/{repo}/installation', { owner, repo });
        id = data.id;
        installationOf.set(key, id);
      }
      return forInstallation(id);
    },
  };
}
