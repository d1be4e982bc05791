/** The bare git repository that `ci hook install` and `ci hook flush` work on. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Args, Errors } from '@oclif/core';

export const bareRepositoryArg = Args.string({ description: 'path of the bare repository', required: true });

/**
 * The repository's absolute path, once it looks like a bare repository: a HEAD file and,
 * where a hook is to be written (`withHooks`), a hooks directory.
 */
export function bareRepository(given: string, { withHooks = false }: { withHooks?: boolean } = {}): string {
  const repo = path.resolve(given);
  if (!fs.existsSync(path.join(repo, 'HEAD')) || (withHooks && !fs.existsSync(path.join(repo, 'hooks')))) {
    throw new Errors.CLIError(`${repo} is not a bare git repository`, { exit: 1, code: 'NOT_A_REPOSITORY' });
  }
  return repo;
}
