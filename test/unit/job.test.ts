/**
 * @tier unit
 * One job's orchestration (job.ts, steps.ts) against a fake BuildEnvironment: the lifecycle's
 * order, a failing step, cancel, the wall clock, a limit reported, and destroy exactly once
 * on every exit path.
 */
import { NOTHING_PUBLISHED } from '../../src/ci/build-events';
import { UserFailure } from '../../src/ci/errors';
import { JobOptions, runJob } from '../../src/ci/job';
import { DEFAULT_LIMITS, LimitAboveCeilingError, Limits } from '../../src/ci/limits';
import { stepEnvironment } from '../../src/ci/steps';
import { FakeEnvironment, FakePhase, FakeScript } from '../helpers/fake-environment';
import { at } from '../helpers/must';

const LIMITS: Limits = { ...DEFAULT_LIMITS, timeout: 60_000 };

function job(script: FakeScript, options: Partial<JobOptions> = {}) {
  const environment = new FakeEnvironment(script);
  const notes: string[] = [];
  const output: string[] = [];
  const published: string[] = [];
  const run = runJob({
    environment,
    limits: LIMITS,
    steps: ['make', 'make test', 'make install'],
    env: { CI: 'true' },
    log: { note: (line) => notes.push(line), write: (chunk) => output.push(chunk.toString()) },
    publish: async (workspace) => {
      published.push(workspace);
      return { artifacts: ['bin/hello'], published: { binaries: '/data/binaries/x', docs: null } };
    },
    ...options,
  });
  return { environment, notes, output, published, run };
}

test('a job runs the lifecycle in order, every step with its environment, and publishes what it collected', async () => {
  const { environment, run, output, published } = job({ workspace: '/scratch/7/workspace' });
  const outcome = await run;
  expect(outcome).toEqual({ status: 'success', exitCode: 0, message: null, artifacts: ['bin/hello'], published: { binaries: '/data/binaries/x', docs: null } });
  expect(environment.calls).toEqual(['prepare', 'start', 'run make', 'run make test', 'run make install', 'collect', 'destroy']);
  expect(environment.limits).toEqual(LIMITS);
  expect(published).toEqual(['/scratch/7/workspace']);
  for (const step of environment.runs) {
    expect(step).toMatchObject({ env: { CI: 'true' }, cwd: '/workspace' });
    expect(step.timeout).toBeGreaterThan(0);
    expect(step.timeout).toBeLessThanOrEqual(LIMITS.timeout / 1000);
  }
  expect(output.join('')).toBe('output of make\noutput of make test\noutput of make install\n');
});

test('a failing step fails the job with its exit code; later steps do not run and nothing is published', async () => {
  const { environment, run, published } = job({ steps: { 'make test': { exit: 3 } } });
  expect(await run).toEqual({ status: 'failure', exitCode: 3, message: 'step 2 (make test) exited 3', artifacts: [], published: NOTHING_PUBLISHED });
  expect(environment.calls).toEqual(['prepare', 'start', 'run make', 'run make test', 'limitHit', 'collect', 'destroy']);
  expect(published).toEqual([]);
});

test('the limit a failing step ran into is in the message', async () => {
  const limit = 'memory limit (536870912 bytes) exceeded';
  const { run } = job({ steps: { make: { exit: 137 } }, limit });
  expect(await run).toMatchObject({ status: 'failure', exitCode: 137, message: `step 1 (make) exited 137: ${limit}` });
});

test('a step killed at the wall clock fails the job, saying which limit and what else was hit', async () => {
  const { environment, run, notes } = job({ steps: { 'make test': { timeout: true } }, limit: 'pids limit (1024) reached' });
  expect(await run).toMatchObject({
    status: 'failure',
    exitCode: null,
    message: "step 2 timed out: the job's wall-clock limit of 60 s was reached (pids limit (1024) reached)",
  });
  expect(environment.calls).not.toContain('run make install');
  expect(notes.some((n) => /^\[2\/3\] make test: killed after/.test(n))).toBe(true);
});

test('the steps share one wall clock: a step that starts with none left is not run', async () => {
  let now = 1_000_000;
  const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
  try {
    const { environment, run } = job({ steps: { make: { exit: 0, during: () => (now += 40_000) }, 'make test': { exit: 0, during: () => (now += 20_000) } } });
    expect(await run).toMatchObject({ status: 'failure', exitCode: null, message: 'timed out after 60 s (wall-clock limit)' });
    expect(environment.calls).toEqual(['prepare', 'start', 'run make', 'run make test', 'collect', 'destroy']);
    // The second step was given what the first left of the 60 s.
    expect(at(environment.runs, 1).timeout).toBe(20);
  } finally {
    clock.mockRestore();
  }
});

test('aborting cancels the running step with the reason given, runs no more steps, and still cleans up', async () => {
  const controller = new AbortController();
  const { environment, run, notes } = job({ steps: { 'make test': { untilAborted: true } } }, { signal: controller.signal });
  // Aborted once the step waits: the environment was handed the job's signal.
  while (environment.runs.length < 2) await new Promise((r) => setImmediate(r));
  controller.abort('superseded by 0123456789ab');
  expect(await run).toMatchObject({ status: 'cancelled', exitCode: null, message: 'superseded by 0123456789ab' });
  expect(environment.calls).toEqual(['prepare', 'start', 'run make', 'run make test', 'collect', 'destroy']);
  expect(notes).toContain('[2/3] make test: cancelled');
});

test('a job cancelled before its first step runs none', async () => {
  const { environment, run } = job({}, { signal: AbortSignal.abort(new Error('worker stopping')) });
  expect(await run).toMatchObject({ status: 'cancelled', message: 'worker stopping' });
  expect(environment.runs).toEqual([]);
  expect(environment.destroyed).toBe(1);
});

test('step events say which step started and how it ended', async () => {
  const events: unknown[] = [];
  const { run } = job({ steps: { 'make test': { exit: 2 } } }, { onStep: (event) => events.push(event) });
  await run;
  expect(events).toEqual([
    { type: 'step-started', step: 1, command: 'make' },
    { type: 'step-finished', step: 1, command: 'make', exitCode: 0, seconds: expect.any(Number) },
    { type: 'step-started', step: 2, command: 'make test' },
    { type: 'step-finished', step: 2, command: 'make test', exitCode: 2, seconds: expect.any(Number) },
  ]);
});

describe('destroy runs exactly once on every exit path', () => {
  test.each<FakePhase>(['prepare', 'start', 'run', 'collect'])('%s throws: the job is an error with its message', async (phase) => {
    const { environment, run } = job({ breaks: phase });
    expect(await run).toMatchObject({ status: 'error', message: `${phase} broke`, artifacts: [] });
    expect(environment.destroyed).toBe(1);
    expect(environment.calls.at(-1)).toBe('destroy');
  });

  test('a step that cannot be run at all is an error', async () => {
    const { environment, run } = job({ steps: { make: { fails: 'spawn failed' } } });
    expect(await run).toMatchObject({ status: 'error', message: 'spawn failed' });
    expect(environment.destroyed).toBe(1);
  });

  test('publish throws: an error, the steps exit code kept; a user failure from publish is a failure', async () => {
    const broken = job({}, { publish: () => Promise.reject(new Error('disk full')) });
    expect(await broken.run).toMatchObject({ status: 'error', exitCode: 0, message: 'disk full', artifacts: [], published: NOTHING_PUBLISHED });
    expect(broken.environment.destroyed).toBe(1);
    const missing = job({}, { publish: () => Promise.reject(new UserFailure('artifacts: bin/* matched nothing')) });
    expect(await missing.run).toMatchObject({ status: 'failure', message: 'artifacts: bin/* matched nothing' });
    expect(missing.environment.destroyed).toBe(1);
  });

  test('limits above the ceilings fail the job before anything is made; destroy still runs', async () => {
    const refused = new LimitAboveCeilingError([{ name: 'memory', asked: 64 * 1024 ** 3, ceiling: 8 * 1024 ** 3 }]);
    const { environment, run } = job({}, { limits: refused });
    expect(await run).toMatchObject({ status: 'failure', message: refused.message });
    expect(environment.calls).toEqual(['destroy']);
  });

  test('destroy that throws makes the build an error and says so after the first message', async () => {
    const { environment, run } = job({ breaks: 'destroy', steps: { make: { exit: 1 } } });
    expect(await run).toMatchObject({ status: 'error', exitCode: 1, message: 'step 1 (make) exited 1; cleanup failed: destroy broke' });
    expect(environment.destroyed).toBe(1);
  });

  test('a container left behind is an error; a workspace left behind is only said', async () => {
    const container = job({ leftovers: { container: 'still running' } });
    expect(await container.run).toMatchObject({ status: 'error', message: '; cleanup failed: still running' });
    const workspace = job({ leftovers: { workspace: 'EBUSY' } });
    expect(await workspace.run).toMatchObject({ status: 'success', message: '; workspace not removed: EBUSY' });
  });
});

test('steps see the job variables and the CI ones, which a build file cannot override', () => {
  const env = stepEnvironment({ env: { CC: 'clang', CI: 'no', LXCTS_BRANCH: 'fake' } }, 'binaries', { commit: 'c'.repeat(40), branch: null });
  expect(env).toEqual({ CC: 'clang', CI: 'true', LXCTS: 'true', LXCTS_JOB: 'binaries', LXCTS_COMMIT: 'c'.repeat(40), LXCTS_BRANCH: '', HOME: '/root' });
});
