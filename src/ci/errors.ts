/** Which failures are worth another attempt (infrastructure) and which are final. */
import { GitError } from './git';

/** A build that ended in status "error": the builder, not the code, failed. */
export class BuildError extends Error {
  readonly code = 'BUILD_ERROR';
}

export function isInfrastructureError(err: unknown): boolean {
  if (err instanceof GitError || err instanceof BuildError) return true;
  const e = err as { code?: string; name?: string };
  // Containers that would not start, lxc calls that failed: the machine, not the build.
  return typeof e?.code === 'string' && e.code.startsWith('LXC_');
}
