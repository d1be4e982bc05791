/**
 * The flags of the commands that talk to GitHub (`ci server` for commit statuses, the
 * patch-parser worker, and `ci up`, which passes them on to both): the API's URL and the
 * credentials' files.
 */
import * as path from 'node:path';

import { Errors, Flags } from '@oclif/core';

import type { Logger } from '../ci/logger';
import { createGitHub, GITHUB_API_URL, type GitHub, type GitHubAuth, normalizeBaseUrl } from '../github/client';
import { readGitHubAuth } from '../github/credentials';

export const githubFlags = {
  'github-api-url': Flags.string({
    description: 'the GitHub REST API (GitHub Enterprise: https://HOST/api/v3; Gitea, Forgejo: https://HOST/api/v1)',
    default: GITHUB_API_URL,
  }),
  'github-token-file': Flags.string({ description: 'file holding a GitHub token (statuses: write)' }),
  'github-app-id': Flags.integer({ description: "a GitHub App's id (with --github-app-key-file), instead of a token", min: 1 }),
  'github-app-key-file': Flags.string({ description: "the GitHub App's private key (PEM)" }),
  'github-installation-id': Flags.integer({ description: "the App's installation to act as (default: each repository's own)", min: 1 }),
};

export interface GitHubFlagValues {
  'github-api-url': string;
  'github-token-file'?: string;
  'github-app-id'?: number;
  'github-app-key-file'?: string;
  'github-installation-id'?: number;
}

/** The client the flags describe, or undefined when they name no credentials. */
export function githubFromFlags(f: GitHubFlagValues, log: Logger): GitHub | undefined {
  return usableGitHub(f, (auth, baseUrl) => createGitHub({ baseUrl, auth, log }));
}

/**
 * Whether the flags name credentials that can be used (read as githubFromFlags reads them,
 * refused the same way): `ci up` checks before its children are given them.
 */
export function githubCredentialsGiven(f: GitHubFlagValues): boolean {
  return usableGitHub(f, () => true) ?? false;
}

/** `use` of the credentials and API URL the flags name, undefined without credentials; a usage error (exit 2) when unusable. */
function usableGitHub<T>(f: GitHubFlagValues, use: (auth: GitHubAuth, baseUrl: string) => T): T | undefined {
  try {
    const auth = readGitHubAuth({
      tokenFile: f['github-token-file'],
      appId: f['github-app-id'],
      appKeyFile: f['github-app-key-file'],
      installationId: f['github-installation-id'],
    });
    return auth ? use(auth, normalizeBaseUrl(f['github-api-url'])) : undefined;
  } catch (err) {
    throw new Errors.CLIError(`GitHub: ${(err as Error).message}`, { exit: 2, code: 'BAD_GITHUB_OPTIONS' });
  }
}

/** Whether the flags name credentials (a token file, or a GitHub App): `ci up` runs the patch parser then. */
export function hasGitHubCredentials(f: GitHubFlagValues | undefined): f is GitHubFlagValues {
  return f !== undefined && (f['github-token-file'] !== undefined || f['github-app-id'] !== undefined || f['github-app-key-file'] !== undefined);
}

/**
 * The flags again, as `ci up` passes them on to its server and patch-parser worker: none
 * without credentials; files made absolute (the children read them).
 */
export function githubArgs(f: GitHubFlagValues | undefined): string[] {
  if (!hasGitHubCredentials(f)) return [];
  const files = new Set(['github-token-file', 'github-app-key-file']);
  return (Object.keys(githubFlags) as Array<keyof GitHubFlagValues>).flatMap((name) => {
    const value = f[name];
    if (value === undefined) return [];
    return [`--${name}`, files.has(name) ? path.resolve(String(value)) : String(value)];
  });
}
