/**
 * What a build says on GitHub: its commit status (GitHub's "Create a commit status": state,
 * description of at most 140 characters, context `lxcts/<job>`), and whether its repository
 * is on the GitHub the client talks to at all.
 */
import type { ServerStatus } from '../ci/build-status';
import { oneLine } from '../ci/commit-info';
import { fullNameProblem } from '../ci/names';

export const COMMIT_STATES = ['pending', 'success', 'failure', 'error'] as const;
export type CommitState = (typeof COMMIT_STATES)[number];

/** GitHub refuses longer descriptions (422). */
export const MAX_DESCRIPTION = 140;
export const CONTEXT_PREFIX = 'lxcts/';

export interface CommitStatus {
  state: CommitState;
  description: string;
  context: string;
}

/** What commitStatusOf reads of a build (the server's ServerBuild has it all). */
export interface BuildForStatus {
  job: string;
  status: ServerStatus;
  exitCode: number | null;
  message: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

function took(b: BuildForStatus): string {
  if (!b.startedAt || !b.finishedAt) return '';
  const seconds = Math.round((Date.parse(b.finishedAt) - Date.parse(b.startedAt)) / 1000);
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  return seconds < 60 ? ` in ${seconds}s` : ` in ${Math.floor(seconds / 60)}m ${seconds % 60}s`;
}

/** The status a build's state posts: pending while queued or running, then its end (cancelled is an error, with the reason). */
export function commitStatusOf(b: BuildForStatus): CommitStatus {
  const reason = b.message ? `: ${b.message}` : '';
  const [state, description]: [CommitState, string] = (() => {
    switch (b.status) {
      case 'waiting':
        // Not a failure: nothing ran. GitHub Actions says the same of a fork's first run.
        return ['pending', 'awaiting approval of a maintainer on the CI server (a fork)'];
      case 'queued':
        return ['pending', 'queued'];
      case 'running':
        return ['pending', 'running'];
      case 'success':
        return ['success', `passed${took(b)}`];
      case 'failure':
        return ['failure', `failed${took(b)}${b.exitCode !== null ? ` (exit ${b.exitCode})` : ''}${reason}`];
      case 'error':
        return ['error', `error${reason}`];
      case 'cancelled':
        return ['error', `cancelled${reason}`];
    }
  })();
  return { state, description: oneLine(description, MAX_DESCRIPTION), context: oneLine(`${CONTEXT_PREFIX}${b.job}`, 255) };
}

/**
 * The commit a build's status goes to: a pull request's head (its build may be of GitHub's
 * merge commit, which the pull request does not show), else the commit built.
 */
export function statusCommit(build: { commit: string; head?: string | null }): string {
  return build.head ?? build.commit;
}

/** The host people and git see for an API base URL: github.com for api.github.com, else the API's own host (GHE, Gitea, Forgejo). */
export function webHostOf(apiBaseUrl: string): string {
  const host = new URL(apiBaseUrl).host.toLowerCase();
  return host === 'api.github.com' ? 'github.com' : host;
}

/** The host and path of a clone URL: https://host/o/r.git, ssh://git@host/o/r.git or git@host:o/r.git. */
function cloneLocation(cloneUrl: string): { host: string; path: string } | null {
  const scp = /^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+):(?!\/)(.+)$/.exec(cloneUrl);
  if (scp) return { host: (scp[1] as string).toLowerCase(), path: `/${scp[2] as string}` };
  try {
    const url = new URL(cloneUrl);
    if (!['https:', 'http:', 'ssh:', 'git:'].includes(url.protocol)) return null;
    return { host: url.host.toLowerCase(), path: decodeURIComponent(url.pathname) };
  } catch {
    return null;
  }
}

/**
 * The owner and name to post a build's status to, or null when its repository is not on
 * the GitHub at `apiBaseUrl`: a `local/...` hook repository, a path, or a clone URL on
 * another host or of another repository than the one named (the name and URL come from
 * a webhook: both must agree before anything is posted).
 */
export function statusRepository(build: { repo: string; cloneUrl: string }, apiBaseUrl: string): { owner: string; repo: string } | null {
  if (build.repo.startsWith('local/') || fullNameProblem(build.repo) !== null) return null;
  const where = cloneLocation(build.cloneUrl);
  if (!where || where.host !== webHostOf(apiBaseUrl)) return null;
  const path = where.path.replace(/\.git$/, '').replace(/^\/+|\/+$/g, '');
  if (path.toLowerCase() !== build.repo.toLowerCase()) return null;
  const [owner, repo] = build.repo.split('/') as [string, string];
  return { owner, repo };
}
