/**
 * A job's steps, one after the other in its environment, within the job's wall clock: the
 * first that fails, times out or is cancelled ends the job.
 */
import type { BuildEnvironment } from './build-environment';
import type { StepEvent } from './build-events';
import type { BuildLog } from './build-log';
import type { Job } from './build-file';
import type { Revision } from './git';
import type { BuildStatus } from './store';

/** How the steps ended; `success` only when every step exited 0. */
export interface StepsOutcome {
  status: Extract<BuildStatus, 'success' | 'failure' | 'cancelled'>;
  exitCode: number | null;
  message: string | null;
}

export interface StepsOptions {
  environment: BuildEnvironment;
  steps: string[];
  /** Variables every step sees (see `stepEnvironment`). */
  env: Record<string, string>;
  /** Wall clock for all the steps, in ms. */
  timeout: number;
  log: Pick<BuildLog, 'note' | 'write'>;
  /** Aborting kills the running step and ends the job as cancelled. */
  signal?: AbortSignal;
  onStep?: (event: StepEvent) => void;
}

/** The job's own variables, its secrets, then the CI's, which a build file cannot override. */
export function stepEnvironment(
  job: Pick<Job, 'env'>,
  name: string,
  revision: Pick<Revision, 'commit' | 'branch'>,
  secrets: Record<string, string> = {},
): Record<string, string> {
  return {
    ...job.env,
    ...secrets,
    CI: 'true',
    LXCTS: 'true',
    LXCTS_JOB: name,
    LXCTS_COMMIT: revision.commit,
    LXCTS_BRANCH: revision.branch ?? '',
    HOME: '/root',
  };
}

export async function runSteps(options: StepsOptions): Promise<StepsOutcome> {
  const { environment, steps, log, signal } = options;
  const deadline = Date.now() + options.timeout;
  for (const [i, command] of steps.entries()) {
    const label = `[${i + 1}/${steps.length}] ${command}`;
    log.note(label);
    const started = Date.now();
    const remaining = (deadline - started) / 1000;
    if (remaining <= 0) return { status: 'failure', exitCode: null, message: `timed out after ${options.timeout / 1000} s (wall-clock limit)` };
    if (signal?.aborted) return { status: 'cancelled', exitCode: null, message: cancelReason(signal) };
    options.onStep?.({ type: 'step-started', step: i + 1, command });
    const exit = await environment.run({ command, env: options.env, cwd: '/workspace', timeout: remaining, signal, output: (chunk) => log.write(chunk) });
    switch (exit.kind) {
      case 'cancelled':
        log.note(`${label}: cancelled`);
        return { status: 'cancelled', exitCode: null, message: cancelReason(signal) };
      case 'timed-out': {
        log.note(`${label}: killed after ${((Date.now() - started) / 1000).toFixed(2)} s`);
        const limit = await environment.limitHit();
        return {
          status: 'failure',
          exitCode: null,
          message: `step ${i + 1} timed out: the job's wall-clock limit of ${options.timeout / 1000} s was reached${limit ? ` (${limit})` : ''}`,
        };
      }
      case 'exited': {
        const code = exit.exitCode;
        const seconds = (Date.now() - started) / 1000;
        log.note(`${label}: exit ${code} in ${seconds.toFixed(2)} s`);
        options.onStep?.({ type: 'step-finished', step: i + 1, command, exitCode: code, seconds });
        if (code !== 0) {
          const limit = await environment.limitHit();
          return { status: 'failure', exitCode: code, message: `step ${i + 1} (${command}) exited ${code}${limit ? `: ${limit}` : ''}` };
        }
      }
    }
  }
  return { status: 'success', exitCode: 0, message: null };
}

function cancelReason(signal: AbortSignal | undefined): string {
  const reason = signal?.reason as unknown;
  return typeof reason === 'string' ? reason : reason instanceof Error && reason.message ? reason.message : 'cancelled';
}
