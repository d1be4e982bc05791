/**
 * Every build the server hears of ends there with a final status, never "running" forever
 * or missing. Real worker processes (bin/run.js ci worker), the server's consumers on their
 * own channel of a real nsqd:
 * - a push a worker gives up on (a repository that does not exist, fetched until the
 *   attempts run out) is dead-lettered and its error build published (no container);
 * - a worker killed with SIGKILL mid-build: the next worker started on the machine sweeps
 *   the build as an error and tells the server, under the build's own key (a container).
 */
import * as path from 'node:path';

import { publishMessage } from '../src/ci/nsq-api';
import { PUSH_TOPIC } from '../src/ci/push-event';
import { must } from './helpers/must';
import { buildRequest, stopProcess } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { waitFor } from './helpers/wait';
import { WorkersToServer } from './helpers/workers-to-server';

const TOPIC = PUSH_TOPIC;
const system = new WorkersToServer('server-final-status', ['binaries']);
const { nsq, ci, procs } = system;

beforeAll(() => system.start());
afterEach(() => procs.killAll());
afterAll(() => system.stop());

test('a dead-lettered push is on the server as an error build, with who pushed it and the ref', async () => {
  const repo = TestRepo.create(path.join(ci.data.root, 'repos', 'gone'));
  const worker = procs.startWorker(
    ['--lookupd', nsq.lookupdHttp],
    'binaries',
    '--live-logs',
    '--max-attempts',
    '2',
    '--allow-local',
    path.join(ci.data.root, 'repos'),
  );
  const request = buildRequest(repo, repo.git('rev-parse', 'HEAD'), {
    cloneUrl: path.join(ci.data.root, 'repos', 'no-such-repo'),
    repo: 'test/gone',
    ref: 'refs/tags/v1.0',
    pusher: 'mallory\x1b[2J',
  });
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(request));
  const server = system.store;
  await waitFor(
    () => server.list({ repo: 'test/gone', limit: 10 }).some((b) => b.status === 'error'),
    () => `the dead-lettered build on the server; worker log:\n${procs.logOf(worker)}`,
    { seconds: 60, everyMs: 200 },
  );
  const builds = server.list({ repo: 'test/gone', limit: 10 });
  expect(builds).toHaveLength(1);
  const build = must(builds[0], 'the build');
  expect(build).toMatchObject({ job: 'binaries', commit: request.after, ref: 'refs/tags/v1.0', branch: null, pusher: 'mallory [2J' });
  expect(build.message).toMatch(/^gave up after 2 attempts: git clone failed/);
  // The log it has (none) is all there is: a live page of it ends. Its end travels on the
  // logs topic, apart from the event, and may come after it.
  await waitFor(() => server.readLog(build.key, 0, 0).complete, 'the end of the log (none) on the server', { seconds: 30, everyMs: 200 });
  // The worker's own record is the same build.
  expect(ci.store.get(build.workerBuildId)).toMatchObject({ status: 'error', pusher: 'mallory [2J' });
  await stopProcess(worker);
}, 120_000);

test('a worker killed mid-build: the next worker sweeps the build and the server sees it end as an error, then the rebuild', async () => {
  const server = system.store;
  const repo = TestRepo.create(path.join(ci.data.root, 'repos', 'killed'), 'jobs:\n  binaries:\n    steps: ["sleep 3", "echo built"]\n');
  const start = () => system.startWorker('binaries', '--live-logs');
  const victim = start();
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, repo.git('rev-parse', 'HEAD'))));
  await waitFor(
    () => server.list({ repo: 'test/killed', limit: 10 }).some((b) => b.status === 'running'),
    () => `the build running on the server; worker log:\n${procs.logOf(victim)}`,
    { seconds: 120, everyMs: 100 },
  );
  const running = must(server.list({ repo: 'test/killed', limit: 1 })[0], 'the running build');
  expect(await stopProcess(victim, 'SIGKILL')).toBeNull();
  const rescuer = start();
  await waitFor(
    () => server.list({ repo: 'test/killed', limit: 10 }).some((b) => b.status === 'success'),
    () => `the rebuild on the server; worker log:\n${procs.logOf(rescuer)}`,
    { seconds: 120, everyMs: 200 },
  );
  // The killed build, under its own key: ended, not running.
  expect(server.getByKey(running.key)).toMatchObject({ status: 'error', message: 'builder died' });
  expect(server.list({ repo: 'test/killed', limit: 10 }).map((b) => b.status)).toEqual(['success', 'error']);
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
  await stopProcess(rescuer);
}, 300_000);
