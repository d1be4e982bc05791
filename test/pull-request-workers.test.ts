/**
 * Workers and pull requests, with real nsqd, a real worker process and real containers: a
 * new push to a pull request (synchronize) cancels its running build, and closing the pull
 * request cancels the build then running, as Leeroy did.
 */
import * as path from 'node:path';

import { publishMessage } from '../src/ci/nsq-api';
import { BuildMessage } from '../src/ci/push-event';
import { CiSandbox } from './helpers/ci-data';
import { TestNsq } from './helpers/nsq';
import { buildRequest, CliProcesses, stopProcess, topicStats } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { must } from './helpers/must';
import { waitFor } from './helpers/wait';

const nsq = new TestNsq({ lookupd: true });
const ci = new CiSandbox('pullworkers');
const procs = new CliProcesses(ci.data.root);

beforeAll(() => nsq.start());
afterEach(() => procs.killAll());
afterAll(async () => {
  await procs.killAll();
  await nsq.stop();
  ci.cleanup();
});

const TOPIC = 'pulls.pushes';
const buildsOf = (repo: string) => ci.store.list({ repo, limit: 1000 });
const running = (repo: string) => buildsOf(repo).filter((b) => b.status === 'running');

async function workerReady(): Promise<void> {
  await waitFor(
    async () => {
      const channels = (await topicStats(nsq.nsqdHttp, TOPIC))?.channels ?? [];
      const job = channels.find((c) => c.channel_name === 'binaries');
      return (job?.clients.length ?? 0) >= 1 && channels.some((c) => c.channel_name.startsWith('binaries.watch-') && c.clients.length > 0);
    },
    'the worker on its job and watch channels',
    { seconds: 30, everyMs: 100 },
  );
}

/** A pull request event of #`number` as the receiver publishes it. */
function pullEvent(repo: TestRepo, action: 'opened' | 'synchronize' | 'closed', base: string, head: string, number = 1): BuildMessage {
  return buildRequest(repo, head, {
    kind: 'pull_request',
    ref: `refs/pull/${number}/head`,
    before: base,
    pull: { number, action, baseRef: 'main', baseSha: base, headRepo: 'mallory/slow', fork: true, mergeable: null },
  });
}

test('synchronize cancels the running build of the older head; closed cancels the newer one', async () => {
  // The base's build file: a slow job that pull requests build.
  const repo = TestRepo.create(path.join(ci.data.root, 'repos', 'slow'), 'jobs:\n  binaries:\n    pull_requests: true\n    steps: ["sleep 120"]\n');
  const base = repo.git('rev-parse', 'HEAD');
  repo.git('checkout', '-q', '-b', 'feature');
  const older = repo.commit('first');
  const olderMerge = must(repo.pullRequest(1, older), 'the first merge');
  const worker = procs.startWorker(['--lookupd', nsq.lookupdHttp, '--topic', TOPIC], 'binaries', '--allow-local', path.join(ci.data.root, 'repos'));
  await workerReady();
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(repo, 'opened', base, older)));
  await waitFor(() => running('test/slow').length === 1, 'the first build to start', { seconds: 60, everyMs: 100 });

  const newer = repo.commit('second');
  const newerMerge = must(repo.pullRequest(1, newer), 'the second merge');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(repo, 'synchronize', base, newer)));
  // Without cancelling, the older build would hold the worker's only slot for 120 s.
  await waitFor(() => running('test/slow').some((b) => b.commit === newerMerge), 'the newer build to start', { seconds: 40, everyMs: 100 });
  const older1 = buildsOf('test/slow').find((b) => b.commit === olderMerge);
  expect([older1?.status, older1?.message]).toEqual(['cancelled', `superseded by ${newer.slice(0, 12)}`]);

  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(repo, 'closed', base, newer)));
  await waitFor(() => running('test/slow').length === 0, 'the newer build to end', { seconds: 40, everyMs: 100 });
  const newer1 = buildsOf('test/slow').find((b) => b.commit === newerMerge);
  expect([newer1?.status, newer1?.message]).toEqual(['cancelled', 'cancelled by the close of #1']);
  // closed built nothing of its own.
  expect(buildsOf('test/slow')).toHaveLength(2);
  expect(await stopProcess(worker)).toBe(0);
}, 180_000);

test('a pull request closed while its build waits in the queue is recorded cancelled when the build comes', async () => {
  const repo = TestRepo.create(path.join(ci.data.root, 'repos', 'queued'), 'jobs:\n  binaries:\n    pull_requests: true\n    steps: ["sleep 120"]\n');
  const base = repo.git('rev-parse', 'HEAD');
  repo.git('checkout', '-q', '-b', 'one');
  const one = repo.commit('one');
  repo.pullRequest(1, one);
  repo.git('checkout', '-q', '-b', 'two', 'main');
  const two = repo.commit('two');
  const twoMerge = must(repo.pullRequest(2, two), 'the merge of #2');
  const worker = procs.startWorker(['--lookupd', nsq.lookupdHttp, '--topic', TOPIC], 'binaries', '--allow-local', path.join(ci.data.root, 'repos'));
  await workerReady();
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(repo, 'opened', base, one, 1)));
  await waitFor(() => running('test/queued').length === 1, "#1's build to start", { seconds: 60, everyMs: 100 });
  // #2 waits behind #1 (one slot), and is closed before it starts; then #1 is closed too.
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(repo, 'opened', base, two, 2)));
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(repo, 'closed', base, two, 2)));
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(pullEvent(repo, 'closed', base, one, 1)));
  await waitFor(() => buildsOf('test/queued').length === 2 && running('test/queued').length === 0, 'both builds recorded final', {
    seconds: 40,
    everyMs: 100,
  });
  const second = buildsOf('test/queued').find((b) => b.commit === twoMerge);
  expect([second?.status, second?.message]).toEqual(['cancelled', 'cancelled by the close of #2']);
  expect(await stopProcess(worker)).toBe(0);
}, 180_000);
