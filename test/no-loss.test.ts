import * as fs from 'node:fs';
import * as path from 'node:path';

import { sendPushEvent } from '../src/ci/hook-spool';
import { publishMessage } from '../src/ci/nsq-api';
import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';
import { freePort, TestNsq } from './helpers/nsq';
import { buildRequest, CliProcesses, stopProcess, topicStats } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { at, must } from './helpers/must';
import { waitFor } from './helpers/wait';

// "Nothing lost, nothing silent", with real nsqd + nsqlookupd (the README's many-machine
// setup), real worker and receiver processes and real containers. nsqd's --msg-timeout is
// long (60 s) so that a message coming back by timeout is unmistakable.
const nsq = new TestNsq({ lookupd: true, nsqdFlags: ['--msg-timeout=60s'] });
const ci = new CiSandbox('noloss');
const procs = new CliProcesses(ci.data.root);

beforeAll(() => nsq.start());
afterEach(() => procs.killAll());
afterAll(async () => {
  await procs.killAll();
  await nsq.stop();
  ci.cleanup();
});

// The test repositories are local: the worker must be allowed their directory.
const startWorker = (topic: string, channel: string, ...extra: string[]) =>
  procs.startWorker(['--lookupd', nsq.lookupdHttp, '--topic', topic], channel, '--allow-local', path.join(ci.data.root, 'repos'), ...extra);
const channelsOf = async (topic: string) => (await topicStats(nsq.nsqdHttp, topic))?.channels ?? [];

/** The worker's job channel and its supersede watch channel are both subscribed. */
async function workersReady(topic: string, channel: string, clients = 1): Promise<void> {
  await waitFor(
    async () => {
      const channels = await channelsOf(topic);
      const job = channels.find((c) => c.channel_name === channel);
      const watches = channels.filter((c) => c.channel_name.startsWith(`${channel}.watch-`) && c.clients.length > 0);
      return (job?.clients.length ?? 0) >= clients && watches.length >= clients;
    },
    `${clients} worker(s) of ${channel} on ${topic}`,
    { seconds: 30, everyMs: 100 },
  );
}

async function idle(topic: string, channel: string): Promise<boolean> {
  const c = (await channelsOf(topic)).find((x) => x.channel_name === channel);
  return c !== undefined && c.depth === 0 && c.in_flight_count === 0;
}

const buildsOf = (repo: string) => ci.store.list({ repo, limit: 1000 });
const final = (repo: string) => buildsOf(repo).filter((b) => !['queued', 'running'].includes(b.status));
const makeRepo = (name: string, file?: string) => TestRepo.create(path.join(ci.data.root, 'repos', name), file);
const slowFile = (seconds: number) => `jobs:\n  binaries:\n    steps: ["sleep ${seconds}", "echo built"]\n`;

test('a push published before the docs worker ever connected is still built by it (receiver creates every channel first)', async () => {
  const topic = 'fresh.pushes';
  const secretFile = path.join(ci.data.root, 'secret');
  fs.writeFileSync(secretFile, 'no-loss-secret\n');
  const port = await freePort();
  // The receiver starts before any worker: it alone knows the channels (default: binaries, docs).
  await procs.startReceiver(port, '--secret-file', secretFile, '--nsqd-http', nsq.nsqdHttp, '--topic', topic);
  const repo = makeRepo('fresh');
  const commits = [repo.git('rev-parse', 'HEAD'), repo.commit('two')];
  for (const [i, after] of commits.entries()) {
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      before: i === 0 ? '0'.repeat(40) : commits[i - 1],
      after,
      repository: { full_name: 'test/fresh', clone_url: repo.dir },
      pusher: { name: 'tests' },
    });
    const sent = await sendPushEvent(`http://127.0.0.1:${port}/hooks/github`, 'no-loss-secret', `fresh-${i}`, body);
    expect(sent.status).toBe(202);
  }
  // The binaries worker comes first and builds both; the docs worker connects only afterwards.
  startWorker(topic, 'binaries', '--no-supersede');
  await waitFor(() => final('test/fresh').filter((b) => b.job === 'binaries').length === 2, 'the binaries builds', { seconds: 90, everyMs: 100 });
  startWorker(topic, 'docs', '--no-supersede');
  await waitFor(() => final('test/fresh').filter((b) => b.job === 'docs').length === 2, 'the docs builds', { seconds: 90, everyMs: 100 });
  const pairs = final('test/fresh')
    .map((b) => `${b.job}@${b.commit}:${b.status}`)
    .sort();
  expect(pairs).toEqual(commits.flatMap((c) => [`binaries@${c}:success`, `docs@${c}:success`]).sort());
}, 180_000);

test("SIGTERM requeues the running build's message at once: another worker gets it within the requeue delay, not nsqd's 60 s timeout", async () => {
  const topic = 'term.pushes';
  const repo = makeRepo('term', slowFile(120));
  const first = startWorker(topic, 'binaries', '--grace', '0');
  await workersReady(topic, 'binaries');
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, repo.git('rev-parse', 'HEAD'))));
  await waitFor(() => buildsOf('test/term').some((b) => b.status === 'running'), 'the build to start', { seconds: 60, everyMs: 100 });
  const second = startWorker(topic, 'binaries', '--grace', '0');
  await workersReady(topic, 'binaries', 2);
  const signalled = Date.now();
  expect(await stopProcess(first)).toBe(0);
  // The second worker starts its own build of the same push (a new record: the first was cancelled).
  await waitFor(
    () => buildsOf('test/term').filter((b) => b.status === 'running').length === 1 && buildsOf('test/term').length === 2,
    "the second worker's build",
    { seconds: 55, everyMs: 100 },
  );
  const elapsed = Date.now() - signalled;
  // --requeue-delay 1 s and --grace 0, plus slack for stopping a container and starting the next.
  expect(elapsed).toBeLessThan(20_000);
  expect(buildsOf('test/term').map((b) => [b.status, b.message])).toEqual([
    ['running', null],
    ['cancelled', 'worker stopping'],
  ]);
  expect(await stopProcess(second)).toBe(0);
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
}, 120_000);

test('one worker per channel: a newer push to the branch cancels the running build ("superseded by <sha>") and is built', async () => {
  const topic = 'super.pushes';
  const repo = makeRepo('super', slowFile(120));
  const worker = startWorker(topic, 'binaries'); // concurrency 1, as in the README
  await workersReady(topic, 'binaries');
  const older = repo.git('rev-parse', 'HEAD');
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, older)));
  await waitFor(() => buildsOf('test/super').some((b) => b.status === 'running'), 'the older build to start', { seconds: 60, everyMs: 100 });
  repo.write('.lxcts.yml', 'jobs:\n  binaries:\n    steps: ["echo quick"]\n');
  const newer = repo.commit('newer');
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, newer)));
  // Without supersede, the older build would hold the only slot for its 120 s.
  await waitFor(() => final('test/super').length === 2, 'both builds to end', { seconds: 40, everyMs: 100 });
  const byCommit = Object.fromEntries(buildsOf('test/super').map((b) => [b.commit, [b.status, b.message]]));
  expect(byCommit[older]).toEqual(['cancelled', `superseded by ${newer.slice(0, 12)}`]);
  expect(byCommit[newer]).toEqual(['success', null]);
  await waitFor(() => ci.leftovers().containers.length + ci.leftovers().workspaces.length === 0, 'the cleanup', { seconds: 20, everyMs: 100 });
  expect(await stopProcess(worker)).toBe(0);
}, 120_000);

test('a newer push whose clone URL the worker refuses cancels nothing', async () => {
  const topic = 'refused.pushes';
  const repo = makeRepo('refused', slowFile(120));
  const worker = startWorker(topic, 'binaries');
  await workersReady(topic, 'binaries');
  const older = repo.git('rev-parse', 'HEAD');
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, older)));
  await waitFor(() => buildsOf('test/refused').some((b) => b.status === 'running'), 'the build to start', { seconds: 60, everyMs: 100 });
  // Same repository and branch, newer, but from a path outside --allow-local (and then a
  // private address): the job channel and the watch channel both see it.
  const outside = makeRepo('refused-outside').dir.replace(path.join(ci.data.root, 'repos'), path.join(ci.data.root, 'elsewhere'));
  fs.mkdirSync(path.dirname(outside), { recursive: true });
  fs.renameSync(path.join(ci.data.root, 'repos', 'refused-outside'), outside);
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, 'a'.repeat(40), { cloneUrl: outside })));
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, 'b'.repeat(40), { cloneUrl: 'https://127.0.0.1:9/test/refused.git' })));
  // Then an acceptable newer push: it is the one that supersedes the running build.
  repo.write('.lxcts.yml', 'jobs:\n  binaries:\n    steps: ["echo quick"]\n');
  const newer = repo.commit('newer');
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, newer, { receivedAt: Date.now() + 1 })));
  await waitFor(() => final('test/refused').length === 2 && idle(topic, 'binaries'), 'the builds to end and the refused pushes to be acknowledged', {
    seconds: 40,
    everyMs: 100,
  });
  const byCommit = Object.fromEntries(buildsOf('test/refused').map((b) => [b.commit, [b.status, b.message]]));
  expect(byCommit).toEqual({ [older]: ['cancelled', `superseded by ${newer.slice(0, 12)}`], [newer]: ['success', null] });
  expect(await stopProcess(worker)).toBe(0);
}, 120_000);

test('a push superseded before it started is recorded as cancelled "superseded by <sha>"', async () => {
  const topic = 'queued.pushes';
  const repo = makeRepo('queued', slowFile(120));
  const worker = startWorker(topic, 'binaries');
  await workersReady(topic, 'binaries');
  const [x1, x2] = [repo.git('rev-parse', 'HEAD'), repo.commit('x2')];
  repo.write('.lxcts.yml', 'jobs:\n  binaries:\n    steps: ["echo quick"]\n');
  const x3 = repo.commit('x3');
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, x1)));
  await waitFor(() => buildsOf('test/queued').some((b) => b.status === 'running'), 'the first build to start', { seconds: 60, everyMs: 100 });
  // x2 waits in nsqd behind the running build; x3 comes right after it.
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, x2)));
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, x3, { receivedAt: Date.now() + 1 })));
  await waitFor(() => final('test/queued').length === 3, 'all three pushes to be recorded', { seconds: 40, everyMs: 100 });
  const byCommit = Object.fromEntries(buildsOf('test/queued').map((b) => [b.commit, [b.status, b.message]]));
  const [x1Status, x1Message] = must(byCommit[x1], `the build of ${x1}`);
  expect(x1Status).toBe('cancelled');
  expect(x1Message).toMatch(/^superseded by /);
  expect(byCommit[x2]).toEqual(['cancelled', `superseded by ${x3.slice(0, 12)}`]);
  expect(byCommit[x3]).toEqual(['success', null]);
  expect(await stopProcess(worker)).toBe(0);
}, 120_000);

test('workers honour branches: a push to another branch builds nothing; ci build says which jobs did not run and why', async () => {
  const topic = 'branches.pushes';
  const repo = makeRepo('branches'); // the README's sample: both jobs say branches: [main]
  repo.git('checkout', '-q', '-b', 'feature');
  const feature = repo.commit('feature work');
  repo.git('checkout', '-q', 'main');
  const main = repo.commit('main work');
  const worker = startWorker(topic, 'binaries');
  await workersReady(topic, 'binaries');
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, feature, { ref: 'refs/heads/feature' })));
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, main)));
  await waitFor(() => final('test/branches').length >= 1, 'the main build', { seconds: 90, everyMs: 100 });
  // A repository whose build file has no job of this worker's channel.
  const docsOnly = makeRepo('docs-only', 'jobs:\n  docs:\n    steps: ["true"]\n');
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(docsOnly, docsOnly.git('rev-parse', 'HEAD'))));
  await waitFor(() => idle(topic, 'binaries'), 'the pushes to be handled', { seconds: 30, everyMs: 100 });
  expect(buildsOf('test/branches').map((b) => [b.commit, b.branch, b.status])).toEqual([[main, 'main', 'success']]);
  // The worker's log says why each push built nothing.
  const lines = procs
    .logOf(worker)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; why?: string });
  expect(lines).toContainEqual(expect.objectContaining({ msg: 'job not run for this push; acknowledged', why: 'branches: [main] does not include feature' }));
  expect(lines).toContainEqual(
    expect.objectContaining({ msg: 'no such job for this push; acknowledged', why: 'no job "binaries" in .lxcts.yml; it has: docs' }),
  );
  expect(fs.existsSync(path.join(ci.data.binaries, 'test', 'branches', feature))).toBe(false);
  expect(await stopProcess(worker)).toBe(0);

  const cli = lxcts('/nonexistent', ['ci', 'build', repo.dir, '--ref', 'feature'], { env: { LXCTS_DATA_DIR: ci.data.root } });
  expect(cli.status).toBe(0);
  expect(cli.stdout).toContain('binaries: not run (branches: [main] does not include feature)');
  expect(cli.stdout).toContain('docs: not run (branches: [main] does not include feature)');
}, 150_000);

test('a push with an invalid build file leaves a failure record with the located error, and is not retried', async () => {
  const topic = 'invalid.pushes';
  const repo = makeRepo('invalid', 'jobs:\n  binaries:\n    steps: make\n');
  const worker = startWorker(topic, 'binaries');
  await workersReady(topic, 'binaries');
  await publishMessage(nsq.nsqdHttp, topic, JSON.stringify(buildRequest(repo, repo.git('rev-parse', 'HEAD'))));
  await waitFor(() => final('test/invalid').length === 1, 'the failure record', { seconds: 30, everyMs: 100 });
  await waitFor(() => idle(topic, 'binaries'), 'the message to be finished', { seconds: 10, everyMs: 100 });
  const record = at(buildsOf('test/invalid'), 0);
  expect(record).toMatchObject({ job: 'binaries', status: 'failure', branch: 'main' });
  expect(record.message).toContain('.lxcts.yml:3:12: jobs.binaries.steps: expected array, got string "make"');
  expect(await nsq.depth(`${topic}.dead`)).toBe(0);
  expect(await stopProcess(worker)).toBe(0);
}, 60_000);
