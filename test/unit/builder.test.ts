/**
 * @tier unit
 * The builder's orchestration on a fake runtime (no containers): a superseded push builds
 * nothing, one environment per job with its record, events and log, a reused build, and the
 * sweep of builders that died.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BuildEvent } from '../../src/ci/build-events';
import { Builder } from '../../src/ci/builder';
import { DataDir, openDataDir } from '../../src/ci/data-dir';
import { BuildStore } from '../../src/ci/store';
import { FakeRuntime, FakeScript } from '../helpers/fake-environment';
import { at } from '../helpers/must';
import { TestRepo } from '../helpers/repo';

const BUILD_FILE = `base: fake-base
jobs:
  binaries:
    steps: [make, make check]
  docs:
    steps: [make docs]
`;

let tmp: string;
let data: DataDir;
let store: BuildStore;
let repo: TestRepo;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-builder-'));
  data = openDataDir(path.join(tmp, 'data'));
  store = new BuildStore(':memory:');
  repo = TestRepo.create(path.join(tmp, 'repo'), BUILD_FILE);
});
afterEach(() => {
  store.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function builder(script: FakeScript = {}): { builder: Builder; runtime: FakeRuntime } {
  // What collect() hands to publish: a checkout the fake steps "built".
  const workspace = path.join(tmp, 'workspace');
  fs.mkdirSync(workspace, { recursive: true });
  const runtime = new FakeRuntime({ workspace, ...script });
  return { builder: new Builder(data, store, { sources: { allowLocal: 'any', allowPrivateHosts: false }, runtime }), runtime };
}

test('a superseded push makes no environment and records each job cancelled, superseded by the newer commit', async () => {
  const { builder: b, runtime } = builder();
  const results = await b.build({ source: repo.dir, supersededBy: 'f'.repeat(40) });
  expect(results.map((r) => [r.job, r.status, r.message])).toEqual([
    ['binaries', 'cancelled', 'superseded by ffffffffffff'],
    ['docs', 'cancelled', 'superseded by ffffffffffff'],
  ]);
  expect(runtime.environments).toEqual([]);
  expect(store.list().map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
});

test('each job gets its own environment, destroyed once; its record, events and log say how it ended', async () => {
  const { builder: b, runtime } = builder({ steps: { 'make check': { exit: 2, output: 'FAIL: 1 test\n' } } });
  const events: BuildEvent[] = [];
  const results = await b.build({ source: repo.dir, onEvent: (event) => events.push(event) });
  expect(runtime.ensured).toEqual(['fake-base']);
  expect(results.map((r) => [r.job, r.status, r.exitCode, r.message])).toEqual([
    ['binaries', 'failure', 2, 'step 2 (make check) exited 2'],
    ['docs', 'success', 0, null],
  ]);
  expect(runtime.environments.map((e) => e.destroyed)).toEqual([1, 1]);
  const binaries = at(runtime.environments, 0);
  expect(binaries.spec).toMatchObject({ base: 'fake-base', commit: repo.git('rev-parse', 'HEAD'), job: { steps: ['make', 'make check'] } });
  expect(at(binaries.runs, 0).env).toMatchObject({ CI: 'true', LXCTS_JOB: 'binaries', LXCTS_BRANCH: 'main' });
  const record = store.get(at(results, 0).buildId);
  expect(record).toMatchObject({ status: 'failure', exitCode: 2, container: binaries.name });
  expect(events.filter((e) => e.build.id === record?.id).map((e) => e.type)).toEqual([
    'queued',
    'started',
    'step-started',
    'step-finished',
    'step-started',
    'step-finished',
    'finished',
  ]);
  const log = fs.readFileSync(at(results, 0).logPath ?? '', 'utf8');
  expect(log).toContain('FAIL: 1 test\n');
  expect(log).toContain('==> binaries: failure (step 2 (make check) exited 2)');
});

test('a commit and job already built is not built again: no environment', async () => {
  const { builder: b, runtime } = builder();
  await b.build({ source: repo.dir, job: 'docs' });
  const [again] = await b.build({ source: repo.dir, job: 'docs' });
  expect(again).toMatchObject({ job: 'docs', status: 'success', built: false });
  expect(runtime.environments).toHaveLength(1);
});

test('the sweep records builds of a dead builder as errors and hands the runtime only the live ones', async () => {
  const { builder: b, runtime } = builder();
  const claim = (job: string) =>
    store.claim({ repo: 'octo/hello', cloneUrl: repo.dir, commit: 'a'.repeat(40), ref: null, branch: null, job, requestedAt: 1 }).record;
  const live = claim('live');
  store.started(live.id, { logPath: '/dev/null', container: 'fake-build-live' });
  const dead = claim('dead');
  store.started(dead.id, { logPath: '/dev/null', container: 'fake-build-dead' });
  // As if the builder of `dead` had died.
  const orphans = jest.spyOn(store, 'orphans').mockReturnValue([{ ...dead, status: 'running' }]);
  try {
    const swept = await b.sweep();
    expect(swept.map((r) => [r.id, r.status, r.message])).toEqual([[dead.id, 'error', 'builder died']]);
  } finally {
    orphans.mockRestore();
  }
  expect(runtime.sweeps).toEqual([[expect.objectContaining({ id: live.id, container: 'fake-build-live' })]]);
});
