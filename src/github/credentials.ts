/**
 * GitHub credentials from the files an operator names: a token file, or a GitHub App's id
 * and private key file (PEM, as GitHub hands it out). Never from argv or the environment.
 */
import * as fs from 'node:fs';

import type { GitHubAuth } from './client';

export interface GitHubCredentialFiles {
  tokenFile?: string;
  appId?: number;
  appKeyFile?: string;
  installationId?: number;
}

/** The auth the files give, or null when none was named; throws (with the flag's words) when they are unusable. */
export function readGitHubAuth(f: GitHubCredentialFiles): GitHubAuth | null {
  if (f.tokenFile !== undefined && (f.appId !== undefined || f.appKeyFile !== undefined)) throw new Error('give a token file or a GitHub App, not both');
  if (f.tokenFile !== undefined) {
    const token = fs.readFileSync(f.tokenFile, 'utf8').trim();
    // Printable ASCII without spaces: the token goes into a header as it is.
    if (!/^[\x21-\x7e]{1,1024}$/.test(token)) throw new Error(`the token file ${f.tokenFile} does not hold one token`);
    return { token };
  }
  if (f.appId === undefined && f.appKeyFile === undefined) return null;
  if (f.appId === undefined || f.appKeyFile === undefined) throw new Error('a GitHub App needs both its id and its private key file');
  if (!Number.isSafeInteger(f.appId) || f.appId <= 0) throw new Error(`not an App id: ${f.appId}`);
  const privateKey = fs.readFileSync(f.appKeyFile, 'utf8');
  if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(privateKey)) throw new Error(`${f.appKeyFile} is not a PEM private key`);
  return { appId: f.appId, privateKey, ...(f.installationId !== undefined ? { installationId: f.installationId } : {}) };
}
