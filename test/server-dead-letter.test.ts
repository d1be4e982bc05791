/**
 * A push a worker gives up on reaches the server with a final status: a real worker process
 * (bin/run.js ci worker) fails to fetch a repository that does not exist until its attempts
 * run out, dead-letters the push, and publishes the error build it records; the server's
 * consumers, on their own channel of a real nsqd, end with that build, never one "running"
 * or missing. Needs no container (the fetch fails before one is made).
 */
import * as path from 'node:path';

import { LOGS_TOPIC } from '../src/ci/log-chunks';
import { loggerFor } from '../src/ci/logger';
import { publishMessage } from '../src/ci/nsq-api';
import { EVENTS_TOPIC, type Ingest, SERVER_CHANNEL, startIngest } from '../src/server/ingest';
import { ServerStore } from '../src/server/server-store';
import { CiSandbox } from './helpers/ci-data';
import { must } from './helpers/must';
import { TestNsq } from './helpers/nsq';
import { buildRequest, CliProcesses, stopProcess } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { waitFor } from './helpers/wait';

const TOPIC = 'lxcts.pushes';
const nsq = new TestNsq({ lookupd: true });
const ci = new CiSandbox('server-dead-letter');
const procs = new CliProcesses(ci.data.root);
let store: ServerStore | undefined;
let ingest: Ingest | undefined;

beforeAll(async () => {
  await nsq.start();
  await nsq.createChannel(TOPIC, 'binaries');
  for (const topic of [EVENTS_TOPIC, LOGS_TOPIC]) await nsq.createChannel(topic, SERVER_CHANNEL);
});
afterAll(async () => {
  await procs.killAll();
  ingest?.close();
  store?.close();
  await nsq.stop();
  ci.cleanup();
});

test('a dead-lettered push is on the server as an error build, with who pushed it and the ref', async () => {
  store = new ServerStore(path.join(ci.data.root, 'server.db'));
  ingest = await startIngest({ store, lookupd: [nsq.lookupdHttp], log: loggerFor('server-test') });
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
  const server = store;
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
  // The log it has (none) is all there is: a live page of it ends.
  expect(server.readLog(build.key, 0, 0).complete).toBe(true);
  // The worker's own record is the same build.
  expect(ci.store.get(build.workerBuildId)).toMatchObject({ status: 'error', pusher: 'mallory [2J' });
  await stopProcess(worker);
}, 120_000);
