/**
 * The runtime seam: what the builder needs from the place a job runs in, and nothing about
 * how that place is made. The LXC implementation is `lxc-environment.ts`; the orchestration
 * tests drive a fake one (`test/helpers/fake-environment.ts`). Shaped like Woodpecker's
 * `Backend` (pipeline/backend/types/backend.go), reduced to what one machine needs.
 *
 * Lifecycle of one environment (one job of one build), driven by `job.ts`:
 *   1. `prepare(limits)`: the workspace, size-limited, with the commit checked out in it
 *      (the LXC one also clones its container here, beside the checkout);
 *   2. `start()`: the isolated container the steps run in, the workspace mounted in it;
 *   3. `run(step)`, once per step in order: a shell command with its environment, output
 *      streamed, bounded by a timeout and cancelled by an AbortSignal; `limitHit()` says,
 *      after a step failed or timed out, which resource limit it ran into;
 *   4. `collect()`: stops everything the build started, then gives the host directory
 *      holding the workspace, to publish from;
 *   5. `destroy()`: removes the container and the workspace. It runs exactly once, on every
 *      exit path, whatever happened before (even when `prepare` failed half-way or was
 *      never reached), and reports what it could not remove instead of throwing.
 */
import type { Job } from './build-file';
import type { Limits } from './limits';

/** One step to run: `/bin/sh -c command` in the environment. */
export interface StepRun {
  command: string;
  env: Record<string, string>;
  /** Working directory inside the environment. */
  cwd: string;
  /** Seconds left of the job's wall clock: the step is killed past it. */
  timeout: number;
  /** Aborting kills the step. */
  signal?: AbortSignal;
  /** Each chunk of the step's stdout and stderr, as it comes. */
  output: (chunk: Buffer) => void;
}

/** How a step ended. A failure to run it at all is thrown instead. */
export type StepExit = { kind: 'exited'; exitCode: number } | { kind: 'timed-out' } | { kind: 'cancelled' };

/** What `destroy()` could not remove; empty when everything went. */
export interface Leftovers {
  /** The container (or something of the build that may still run): the build is an error. */
  container?: string;
  /** The workspace stayed on disk: said in the message, the build's status stands. */
  workspace?: string;
}

export interface BuildEnvironment {
  /** The name the build's record keeps (a container name), so a later sweep can find it. */
  readonly name: string;
  prepare(limits: Limits): Promise<void>;
  start(): Promise<void>;
  run(step: StepRun): Promise<StepExit>;
  /** Which limit, if any, the environment ran into (for the failure message), else null. */
  limitHit(): Promise<string | null>;
  collect(): Promise<string>;
  destroy(): Promise<Leftovers>;
}

/** What an environment is made for. */
export interface EnvironmentSpec {
  /** The build's id: names the container and the workspace. */
  id: number;
  /** The base container of the build file. */
  base: string;
  job: Job;
  /** The bare mirror and the commit `prepare` checks out. */
  mirror: string;
  commit: string;
  /** A line for the build's log (phase timings, what was stopped). */
  note: (line: string) => void;
}

/** Makes environments, and cleans up after builders that died. */
export interface BuildRuntime {
  /** Makes `base` ready when the runtime can make it itself (the host base); else a no-op. */
  ensureBase(base: string): Promise<void>;
  /** A new environment; nothing is made before its `prepare`. */
  environment(spec: EnvironmentSpec): BuildEnvironment;
  /** Removes every environment left on this machine but those of the builds still `running`. */
  sweep(running: Array<{ id: number; container: string | null }>): Promise<void>;
}
