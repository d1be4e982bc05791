/**
 * End to end: a real worker process (bin/run.js ci worker) builds a push in a real
 * container and publishes its events and log chunks; the server's consumers, on their own
 * channel of a real nsqd, end with the build finished, its steps, and a log byte for byte
 * the worker's local log file.
 */
import * as path from 'node:path';

import { publishMessage } from '../src/ci/nsq-api';
import { PUSH_TOPIC } from '../src/ci/push-event';
import { must } from './helpers/must';
import { buildRequest, stopProcess } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { waitFor } from './helpers/wait';
import { WorkersToServer } from './helpers/workers-to-server';
import * as fs from 'node:fs';

const TOPIC = PUSH_TOPIC;
const system = new WorkersToServer('server-worker-log', ['binaries']);
const { nsq, ci, procs } = system;

beforeAll(() => system.start());
afterAll(() => system.stop());

test('a worker build reaches the server: finished, with its steps and the exact log', async () => {
  const repo = TestRepo.create(
    path.join(ci.data.root, 'repos', 'logged'),
    'jobs:\n  binaries:\n    steps: ["for i in $(seq 1 2000); do echo \\"line $i\\"; done", "printf \'\\\\033[31mred\\\\033[0m\\\\n\'"]\n',
  );
  const worker = system.startWorker('binaries', '--live-logs');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, repo.git('rev-parse', 'HEAD'))));
  const server = system.store;
  await waitFor(
    () => {
      const [build] = server.list({ limit: 1 });
      return build !== undefined && server.readLog(build.key, 0, 0).complete;
    },
    () => `the build on the server with its whole log; worker log:\n${procs.logOf(worker)}`,
    { seconds: 240, everyMs: 200 },
  );
  const build = must(server.list({ limit: 1 })[0], 'the build');
  expect(build).toMatchObject({ repo: 'test/logged', job: 'binaries', status: 'success', exitCode: 0 });
  expect(server.steps(build.key).map((s) => [s.step, s.exitCode])).toEqual([
    [1, 0],
    [2, 0],
  ]);
  const local = fs.readFileSync(must(ci.store.get(build.workerBuildId)?.logPath, "the worker's log path"));
  const log = server.readLog(build.key, 0, 1024 * 1024);
  expect(log.data.equals(local)).toBe(true);
  expect(log.data.toString()).toContain('line 2000\n');
  expect(log.data.toString()).toContain('\x1b[31mred\x1b[0m');
  await stopProcess(worker);
}, 300_000);
