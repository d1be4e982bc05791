/**
 * `lxcts ci server` as a real process (dist/), with a real nsqd and a real worker building
 * in a real container: the build shows up in the server's API, and SIGTERM stops the
 * server cleanly.
 */
import * as path from 'node:path';

import { CiSandbox } from './helpers/ci-data';
import { must } from './helpers/must';
import { TestNsq } from './helpers/nsq';
import { buildRequest, CliProcesses, stopProcess, topicStats } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { startServerProcess } from './helpers/server-process';
import { waitFor } from './helpers/wait';
import { LOGS_TOPIC } from '../src/ci/log-chunks';
import { publishMessage } from '../src/ci/nsq-api';

const TOPIC = 'lxcts.pushes';
const nsq = new TestNsq();
const ci = new CiSandbox('server-command');
const procs = new CliProcesses(ci.data.root);

beforeAll(async () => {
  await nsq.start();
  await nsq.createChannel(TOPIC, 'binaries');
});
afterAll(async () => {
  await procs.killAll();
  await nsq.stop();
  ci.cleanup();
});

interface ApiBuild {
  id: number;
  repo: string;
  job: string;
  status: string;
  commit: string;
}

test('a worker build appears in the API of a `ci server` process (no log chunks without --live-logs), which stops cleanly on SIGTERM', async () => {
  const { child: server, url } = await startServerProcess(procs, '--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp);
  expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ ok: true });
  const repo = TestRepo.create(path.join(ci.data.root, 'repos', 'served'), 'jobs:\n  binaries:\n    steps: ["echo built"]\n');
  const worker = procs.startWorker(['--nsqd', nsq.nsqdTcp, '--publish', nsq.nsqdHttp], 'binaries', '--allow-local', path.join(ci.data.root, 'repos'));
  const commit = repo.git('rev-parse', 'HEAD');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, commit)));
  let builds: ApiBuild[] = [];
  await waitFor(
    async () => {
      builds = ((await (await fetch(`${url}/api/builds`)).json()) as { builds: ApiBuild[] }).builds;
      return builds[0]?.status === 'success';
    },
    () => `the build finished in /api/builds (${JSON.stringify(builds)}); worker log:\n${procs.logOf(worker)}\nserver log:\n${procs.logOf(server)}`,
    { seconds: 240, everyMs: 200 },
  );
  expect(must(builds[0], 'the build')).toMatchObject({ repo: 'test/served', job: 'binaries', commit });
  // A worker without --live-logs publishes no log chunk: nothing piles up in nsqd.
  expect((await topicStats(nsq.nsqdHttp, LOGS_TOPIC))?.message_count ?? 0).toBe(0);
  expect(await stopProcess(worker)).toBe(0);
  expect(await stopProcess(server)).toBe(0);
  expect(procs.logOf(server)).toContain('CI server stopped');
}, 300_000);
