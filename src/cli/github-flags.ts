/** The flags that give a command GitHub API access (src/github/client.ts), and reading them. */
import { Flags } from '@oclif/core';

import type { Logger } from '../ci/logger';
import { createGitHub, GITHUB_API_URL, type GitHub } from '../github/client';
import { readGitHubAuth } from '../github/credentials';

export const githubFlags = {
  'github-api': Flags.string({ description: 'GitHub REST API root (GitHub Enterprise: https://HOST/api/v3)', default: GITHUB_API_URL }),
  'github-token-file': Flags.string({ description: 'file holding a GitHub token' }),
  'github-app-id': Flags.integer({ description: 'GitHub App id (with --github-app-key-file), instead of a token' }),
  'github-app-key-file': Flags.string({ description: "file holding the GitHub App's private key (PEM)" }),
  'github-installation-id': Flags.integer({ description: "the GitHub App's installation (default: looked up per repository)" }),
};

/** A client from the flags, or null when no credentials were given. */
export function githubFromFlags(
  f: { 'github-api': string; 'github-token-file'?: string; 'github-app-id'?: number; 'github-app-key-file'?: string; 'github-installation-id'?: number },
  log: Logger,
): GitHub | null {
  const auth = readGitHubAuth({
    tokenFile: f['github-token-file'],
    appId: f['github-app-id'],
    appKeyFile: f['github-app-key-file'],
    installationId: f['github-installation-id'],
  });
  return auth ? createGitHub({ baseUrl: f['github-api'], auth, log }) : null;
}
