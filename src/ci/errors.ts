/** Which failures are final for a build request, and which deserve another attempt. */
import { BuildFileError } from './build-file';
import { RefusedSourceError } from './clone-url';
import { InvalidNameError } from './names';

/** A build that ended in status "error": the builder, not the code, failed. */
export class BuildError extends Error {
  readonly code = 'BUILD_ERROR';
}

/** The commit has no build file: nothing to build, now or later. */
export class NoBuildFileError extends Error {
  readonly code = 'NO_BUILD_FILE';
}

/**
 * Final: the repository itself says there is nothing (valid) to build, or the request
 * names a repository, ref or clone URL this worker refuses. Anything else
 * (git unreachable, a container that would not start, a full disk) may pass, so it is
 * retried and, past the attempt limit, dead-lettered: nothing is dropped silently.
 */
export function isPermanentFailure(err: unknown): boolean {
  return err instanceof BuildFileError || err instanceof NoBuildFileError || err instanceof RefusedSourceError || err instanceof InvalidNameError;
}

/**
 * The user's mistake, found after the steps ran (a docs directory not produced, a
 * required artifact glob that matched nothing): the build is a `failure` with this
 * message, final like a failing step, never retried as an infrastructure error.
 */
export class UserFailure extends Error {
  readonly code = 'USER_FAILURE';
}

export function isUserFailure(err: unknown): err is UserFailure {
  return (err as { code?: unknown } | null)?.code === 'USER_FAILURE';
}
