/**
 * The flags of the commands that talk to GitHub (`ci server` for commit statuses; the
 * patch-parser worker may share them): the API's URL and the credentials' files.
 */
import { Errors, Flags } from '@oclif/core';

import type { Logger } from '../ci/logger';
import { createGitHub, GITHUB_API_URL, type GitHub, normalizeBaseUrl } from '../github/client';
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
  try {
    const auth = readGitHubAuth({
      tokenFile: f['github-token-file'],
      appId: f['github-app-id'],
      appKeyFile: f['github-app-key-file'],
      installationId: f['github-installation-id'],
    });
    return auth ? createGitHub({ baseUrl: normalizeBaseUrl(f['github-api-url']), auth, log }) : undefined;
  } catch (err) {
    throw new Errors.CLIError(`GitHub: ${(err as Error).message}`, { exit: 2, code: 'BAD_GITHUB_OPTIONS' });
  }
}
