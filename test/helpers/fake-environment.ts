/**
 * A BuildEnvironment that runs nothing, for the orchestration tests of the unit tier: each
 * step does what the test scripted, every call is recorded, and a call out of the lifecycle's
 * order (run before start, anything after destroy, destroy twice) throws, so a test sees it.
 */
import { once } from 'node:events';

import type { BuildEnvironment, BuildRuntime, EnvironmentSpec, Leftovers, StepExit, StepRun } from '../../src/ci/build-environment';
import type { Limits } from '../../src/ci/limits';

/** What a scripted step does; a step not scripted exits 0. */
export type FakeStep =
  | { exit: number; output?: string; during?: () => void }
  /** Killed at the wall clock, as the real environment reports it. */
  | { timeout: true }
  /** Runs until its AbortSignal aborts, then reports itself cancelled. */
  | { untilAborted: true }
  /** Cannot be run at all (a spawn that failed). */
  | { fails: string };

export type FakePhase = 'prepare' | 'start' | 'run' | 'collect' | 'destroy';

export interface FakeScript {
  steps?: Record<string, FakeStep>;
  /** The phase that throws `new Error('<phase> broke')`. */
  breaks?: FakePhase;
  /** What limitHit() answers. */
  limit?: string | null;
  /** What destroy() could not remove. */
  leftovers?: Leftovers;
  /** What collect() returns. */
  workspace?: string;
}

type LifecycleState = 'new' | 'prepared' | 'started' | 'collected' | 'destroyed';

export class FakeEnvironment implements BuildEnvironment {
  readonly name: string;
  /** Every call, in order: 'prepare', 'start', 'run <command>', 'limitHit', 'collect', 'destroy'. */
  readonly calls: string[] = [];
  readonly runs: StepRun[] = [];
  limits: Limits | undefined;
  #state: LifecycleState = 'new';

  constructor(
    private readonly script: FakeScript = {},
    readonly spec?: EnvironmentSpec,
  ) {
    this.name = `fake-build-${spec?.id ?? 0}`;
  }

  get destroyed(): number {
    return this.calls.filter((c) => c === 'destroy').length;
  }

  async prepare(limits: Limits): Promise<void> {
    this.#enter('prepare', ['new'], 'prepared');
    this.limits = limits;
  }

  async start(): Promise<void> {
    this.#enter('start', ['prepared'], 'started');
  }

  async run(step: StepRun): Promise<StepExit> {
    this.#enter(`run ${step.command}`, ['started'], 'started', 'run');
    this.runs.push(step);
    const scripted = this.script.steps?.[step.command] ?? { exit: 0 };
    if ('fails' in scripted) throw new Error(scripted.fails);
    if ('timeout' in scripted) return { kind: 'timed-out' };
    if ('untilAborted' in scripted) {
      if (!step.signal) throw new Error('a step that waits for its signal was given none');
      if (!step.signal.aborted) await once(step.signal, 'abort');
      return { kind: 'cancelled' };
    }
    step.output(Buffer.from(scripted.output ?? `output of ${step.command}\n`));
    scripted.during?.();
    return { kind: 'exited', exitCode: scripted.exit };
  }

  async limitHit(): Promise<string | null> {
    this.calls.push('limitHit');
    if (this.#state !== 'started') throw new Error(`limitHit() while ${this.#state}`);
    return this.script.limit ?? null;
  }

  async collect(): Promise<string> {
    this.#enter('collect', ['started'], 'collected');
    return this.script.workspace ?? '/nonexistent/fake-workspace';
  }

  async destroy(): Promise<Leftovers> {
    this.#enter('destroy', ['new', 'prepared', 'started', 'collected'], 'destroyed');
    return this.script.leftovers ?? {};
  }

  #enter(call: string, from: LifecycleState[], to: LifecycleState, phase = call): void {
    this.calls.push(call);
    if (!from.includes(this.#state)) throw new Error(`${call} while ${this.#state}`);
    if (this.script.breaks === phase) throw new Error(`${phase} broke`);
    this.#state = to;
  }
}

/** Makes FakeEnvironments from one script, and keeps them for the test to look at. */
export class FakeRuntime implements BuildRuntime {
  readonly environments: FakeEnvironment[] = [];
  readonly ensured: string[] = [];
  readonly sweeps: Array<Array<{ id: number; container: string | null }>> = [];

  constructor(private readonly script: FakeScript = {}) {}

  async ensureBase(base: string): Promise<void> {
    this.ensured.push(base);
  }

  environment(spec: EnvironmentSpec): FakeEnvironment {
    const environment = new FakeEnvironment(this.script, spec);
    this.environments.push(environment);
    return environment;
  }

  async sweep(running: Array<{ id: number; container: string | null }>): Promise<void> {
    this.sweeps.push(running);
  }
}
