/**
 * One job of one build, start to end, in its own environment: prepare, start, the steps,
 * collect and publish on success, and destroy whatever happened. Returns one outcome and
 * never throws: every failure becomes the outcome's status and message.
 */
import { isLxcError } from '../index';
import type { BuildEnvironment, Leftovers } from './build-environment';
import { NOTHING_PUBLISHED, Published, StepEvent } from './build-events';
import type { BuildLog } from './build-log';
import { isUserFailure } from './errors';
import { CheckoutTooBigError, LimitAboveCeilingError, Limits } from './limits';
import { runSteps } from './steps';
import type { BuildStatus } from './store';

export interface JobOutcome {
  status: Extract<BuildStatus, 'success' | 'failure' | 'error' | 'cancelled'>;
  /** The last step's exit code; null when no step exited (timed out, cancelled, never ran). */
  exitCode: number | null;
  message: string | null;
  /** Paths of the published artifacts. */
  artifacts: string[];
  published: Published;
}

/** What publishing a successful job's workspace produced. */
export interface Publication {
  artifacts: string[];
  published: Published;
}

export interface JobOptions {
  environment: BuildEnvironment;
  /** The job's limits, or why they were refused (the job then fails before anything is made). */
  limits: Limits | LimitAboveCeilingError;
  steps: string[];
  /** Variables every step sees. */
  env: Record<string, string>;
  log: Pick<BuildLog, 'note' | 'write'>;
  /** Aborting kills the running step; the job ends cancelled. */
  signal?: AbortSignal;
  onStep?: (event: StepEvent) => void;
  /** Publishes the collected workspace of a successful job. */
  publish: (workspace: string) => Promise<Publication>;
}

export async function runJob(options: JobOptions): Promise<JobOutcome> {
  let outcome: JobOutcome;
  try {
    outcome = await attempt(options);
  } catch (err) {
    outcome = { ...failureOf(err), exitCode: null, artifacts: [], published: NOTHING_PUBLISHED };
  }
  // Whatever happened, the container and the workspace go.
  return withLeftovers(outcome, await destroy(options.environment));
}

async function attempt(options: JobOptions): Promise<JobOutcome> {
  const { environment, limits } = options;
  if (limits instanceof Error) throw limits;
  await environment.prepare(limits);
  await environment.start();
  const steps = await runSteps({ ...options, timeout: limits.timeout });
  try {
    const workspace = await environment.collect();
    if (steps.status !== 'success') return { ...steps, artifacts: [], published: NOTHING_PUBLISHED };
    return { ...steps, ...(await options.publish(workspace)) };
  } catch (err) {
    // The steps' exit code stays on record when what follows them fails.
    return { ...failureOf(err), exitCode: steps.exitCode, artifacts: [], published: NOTHING_PUBLISHED };
  }
}

/**
 * The user's mistakes are final, like a failing step: limits above the ceilings, a checkout
 * too big for the disk limit, output missing at publish time. Anything else is an error.
 */
function failureOf(err: unknown): { status: 'failure' | 'error'; message: string } {
  const status = isUserFailure(err) || err instanceof LimitAboveCeilingError || err instanceof CheckoutTooBigError ? 'failure' : 'error';
  let message = err instanceof Error ? err.message : String(err);
  if (isLxcError(err) && err.details.length > 0) message += ` (${err.details[err.details.length - 1]})`;
  return { status, message };
}

/** destroy() reports rather than throws; a throw anyway counts as the container left behind. */
async function destroy(environment: BuildEnvironment): Promise<Leftovers> {
  try {
    return await environment.destroy();
  } catch (err) {
    return { container: err instanceof Error ? err.message : String(err) };
  }
}

/** A container left behind makes the build an error; a workspace left behind is only said. */
function withLeftovers(outcome: JobOutcome, leftovers: Leftovers): JobOutcome {
  let { status, message } = outcome;
  if (leftovers.container !== undefined) {
    status = 'error';
    message = `${message ?? ''}; cleanup failed: ${leftovers.container}`;
  }
  if (leftovers.workspace !== undefined) message = `${message ?? ''}; workspace not removed: ${leftovers.workspace}`;
  return { ...outcome, status, message };
}
