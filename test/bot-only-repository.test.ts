/**
 * A repository that wants only the patch-parser bot: its `.lxcts.yml` has labels and no
 * jobs. A real worker (bin/run.js ci worker) on real nsqd takes its pushes and pull
 * requests and builds nothing: no build recorded (so no failed build, no commit status),
 * nothing told to the server, the message finished (not requeued), the log saying why.
 */
import * as path from 'node:path';

import { publishMessage } from '../src/ci/nsq-api';
import { PUSH_TOPIC } from '../src/ci/push-event';
import { buildRequest, channelStats, stopProcess } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { waitFor } from './helpers/wait';
import { WorkersToServer } from './helpers/workers-to-server';

const system = new WorkersToServer('prfiles-botonly', ['binaries']);
const { nsq, ci, procs } = system;

beforeAll(() => system.start());
afterAll(() => system.stop());

test('a push and a pull request of a bot-only repository (labels, no jobs) build nothing and record nothing; the message is finished', async () => {
  const botOnly = TestRepo.create(path.join(ci.data.root, 'repos', 'botonly'), 'labels:\n  docs/**: area/docs\npatch_parser:\n  dco: true\n');
  const built = TestRepo.create(path.join(ci.data.root, 'repos', 'built'), 'jobs:\n  binaries:\n    steps: ["echo built"]\n');
  const worker = system.startWorker('binaries');
  const base = botOnly.git('rev-parse', 'HEAD');
  await publishMessage(nsq.nsqdHttp, PUSH_TOPIC, JSON.stringify(buildRequest(botOnly, base)));
  botOnly.git('checkout', '-q', '-b', 'feature');
  botOnly.write('docs/guide.md', 'a guide\n');
  const head = botOnly.commit('docs');
  botOnly.pullRequest(4, head);
  await publishMessage(
    nsq.nsqdHttp,
    PUSH_TOPIC,
    JSON.stringify(
      buildRequest(botOnly, head, {
        kind: 'pull_request',
        ref: 'refs/pull/4/head',
        before: base,
        pull: { number: 4, action: 'opened', baseRef: 'main', baseSha: base, headRepo: 'mallory/botonly', fork: true, mergeable: null },
      }),
    ),
  );
  // A repository with a job after them: its build on the server shows the worker got that far.
  await publishMessage(nsq.nsqdHttp, PUSH_TOPIC, JSON.stringify(buildRequest(built, built.git('rev-parse', 'HEAD'))));
  await waitFor(
    async () => {
      const stats = await channelStats(nsq.nsqdHttp, PUSH_TOPIC, 'binaries');
      const done = stats !== undefined && stats.message_count === 3 && stats.depth === 0 && stats.in_flight_count === 0 && stats.deferred_count === 0;
      return done && system.store.list({ limit: 10 }).some((b) => b.repo === 'test/built' && b.status === 'success');
    },
    () => `the three messages handled and test/built built; worker log:\n${procs.logOf(worker)}`,
    { seconds: 240, everyMs: 200 },
  );
  // Finished the first time, never requeued (a failure to build would be retried).
  expect((await channelStats(nsq.nsqdHttp, PUSH_TOPIC, 'binaries'))?.requeue_count).toBe(0);
  // No record on the worker, nothing on the server: no failed build, no status to post.
  expect(ci.store.list({ repo: 'test/botonly', limit: 10 })).toEqual([]);
  expect(system.store.list({ limit: 10 }).map((b) => b.repo)).toEqual(['test/built']);
  expect(procs.logOf(worker).match(/\.lxcts\.yml has no jobs \(it configures only the patch-parser bot\)/g)).toHaveLength(2);
  expect(await stopProcess(worker)).toBe(0);
}, 300_000);
