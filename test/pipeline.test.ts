import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { publishMessage } from '../src/ci/nsq-api';
import { BuildMessage } from '../src/ci/push-event';
import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';
import { lxctsOnPath } from './helpers/lxcts-shim';
import { freePort, TestNsq } from './helpers/nsq';
import { buildRequest, channelStats, CliProcesses, stopProcess, topicStats } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { at, must } from './helpers/must';
import { waitFor } from './helpers/wait';

// Real nsqd and nsqlookupd, real worker processes (bin/run.js ci worker), real containers.
const TOPIC = 'lxcts.pushes';
const nsq = new TestNsq({ lookupd: true, nsqdFlags: ['--msg-timeout=3s'] });
const ci = new CiSandbox('pipeline');
const procs = new CliProcesses(ci.data.root);

beforeAll(async () => {
  await nsq.start();
  for (const channel of ['binaries', 'docs']) await nsq.createChannel(TOPIC, channel);
});
afterEach(() => procs.killAll());
afterAll(async () => {
  await procs.killAll();
  await nsq.stop();
  ci.cleanup();
});

// The tests' repositories are local paths: workers take those only under --allow-local.
const startWorker = (channel: string, ...extra: string[]) =>
  procs.startWorker(['--lookupd', nsq.lookupdHttp], channel, '--allow-local', path.join(ci.data.root, 'repos'), ...extra);

const push = (message: BuildMessage) => publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(message));

const buildsOf = (repo: string) => ci.store.list({ repo, limit: 1000 });
const finished = (repo: string, n: number) => () => buildsOf(repo).filter((b) => !['queued', 'running'].includes(b.status)).length >= n;

test('two workers found through nsqlookupd share a channel: each push is built once; a second channel builds them too', async () => {
  const repo = TestRepo.create(path.join(ci.data.root, 'repos', 'shared'));
  const commits = [repo.git('rev-parse', 'HEAD'), repo.commit('two'), repo.commit('three')];
  const a = startWorker('binaries', '--no-supersede');
  const b = startWorker('binaries', '--no-supersede');
  const docs = startWorker('docs', '--no-supersede');
  // Three pushes to main, not superseding each other here.
  for (const commit of commits) await push(buildRequest(repo, commit));
  await waitFor(finished('test/shared', 6), 'six builds', { seconds: 60, everyMs: 200 });
  const builds = buildsOf('test/shared');
  const pairs = builds.map((b) => `${b.job}@${b.commit}`).sort();
  expect(pairs).toEqual(commits.flatMap((c) => [`binaries@${c}`, `docs@${c}`]).sort());
  expect(builds.map((b) => b.status)).toEqual(Array(6).fill('success'));
  // queued, started, finished and two step events per build, for the dashboard and anyone else.
  expect(await nsq.depth('lxcts.builds')).toBeGreaterThanOrEqual(6 * 4);
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
  await Promise.all([a, b, docs].map((w) => stopProcess(w)));
}, 120_000);

const slowRepo = (name: string, seconds: number) =>
  TestRepo.create(path.join(ci.data.root, 'repos', name), `jobs:\n  binaries:\n    steps: ["sleep ${seconds}", "echo built"]\n`);

test('a build longer than the message timeout is kept alive with TOUCH and handed out once', async () => {
  const repo = slowRepo('long', 7); // nsqd here: --msg-timeout=3s
  const a = startWorker('binaries');
  const b = startWorker('binaries');
  await push(buildRequest(repo, repo.git('rev-parse', 'HEAD')));
  await waitFor(finished('test/long', 1), 'the long build', { seconds: 60, everyMs: 200 });
  await new Promise((r) => setTimeout(r, 2000)); // a redelivery would have started a second build by now
  expect(buildsOf('test/long').map((b) => [b.status, b.job])).toEqual([['success', 'binaries']]);
  await Promise.all([stopProcess(a), stopProcess(b)]);
}, 60_000);

test('kill -9 of a worker mid-build: the message goes to another worker, one success, no container left', async () => {
  const repo = slowRepo('killed', 4);
  const victim = startWorker('binaries');
  await push(buildRequest(repo, repo.git('rev-parse', 'HEAD')));
  await waitFor(() => buildsOf('test/killed').some((b) => b.status === 'running'), 'the build to start', { seconds: 60, everyMs: 200 });
  expect(await stopProcess(victim, 'SIGKILL')).toBeNull();
  const rescuer = startWorker('binaries');
  await waitFor(() => buildsOf('test/killed').some((b) => b.status === 'success'), 'the rebuild', { seconds: 60, everyMs: 200 });
  const builds = buildsOf('test/killed');
  expect(builds.filter((b) => b.status === 'success')).toHaveLength(1);
  expect(builds.filter((b) => b.status === 'error').map((b) => b.message)).toEqual(['builder died']);
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
  await stopProcess(rescuer);
}, 90_000);

test('a newer push to a branch cancels the older build still running', async () => {
  const repo = slowRepo('super', 20);
  const worker = startWorker('binaries', '--concurrency', '2');
  const older = repo.git('rev-parse', 'HEAD');
  await push(buildRequest(repo, older));
  await waitFor(() => buildsOf('test/super').some((b) => b.status === 'running'), 'the older build to start', { seconds: 60, everyMs: 200 });
  repo.write('.lxcts.yml', 'jobs:\n  binaries:\n    steps: ["echo quick"]\n');
  const newer = repo.commit('newer');
  await push(buildRequest(repo, newer));
  await waitFor(finished('test/super', 2), 'both builds to end', { seconds: 30, everyMs: 200 });
  const byCommit = Object.fromEntries(buildsOf('test/super').map((b) => [b.commit, [b.status, b.message]]));
  expect(byCommit[older]).toEqual(['cancelled', `superseded by ${newer.slice(0, 12)}`]);
  expect(byCommit[newer]).toEqual(['success', null]);
  // The cancelled build's container goes as soon as its worker has stopped the step.
  await waitFor(() => ci.leftovers().containers.length + ci.leftovers().workspaces.length === 0, "the cancelled build's cleanup", {
    seconds: 20,
    everyMs: 200,
  });
  await stopProcess(worker);
}, 60_000);

test('a request that keeps failing for infrastructure reasons goes to the dead-letter topic after the attempt limit', async () => {
  const worker = startWorker('binaries', '--max-attempts', '2');
  const repo = TestRepo.create(path.join(ci.data.root, 'repos', 'gone'));
  const message = buildRequest(repo, repo.git('rev-parse', 'HEAD'), { cloneUrl: path.join(ci.data.root, 'repos', 'no-such-repo'), repo: 'test/gone' });
  await push(message);
  await waitFor(async () => (await nsq.depth(`${TOPIC}.dead`)) === 1, 'the dead letter', { seconds: 30, everyMs: 200 });
  const recorded = at(buildsOf('test/gone'), 0);
  expect(recorded.status).toBe('error');
  expect(recorded.message).toMatch(/^gave up after 2 attempts: git clone failed/);
  await stopProcess(worker);
});

test('SIGTERM during a build: no new messages, the build is cancelled and requeued, exit 0', async () => {
  const repo = slowRepo('term', 30);
  const worker = startWorker('binaries', '--grace', '1');
  await push(buildRequest(repo, repo.git('rev-parse', 'HEAD')));
  await waitFor(() => buildsOf('test/term').some((b) => b.status === 'running'), 'the build to start', { seconds: 60, everyMs: 200 });
  const started = Date.now();
  expect(await stopProcess(worker, 'SIGTERM')).toBe(0);
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(buildsOf('test/term').map((b) => b.status)).toEqual(['cancelled']);
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
  // The message went back to the channel for another worker.
  const channel = must(await channelStats(nsq.nsqdHttp, TOPIC, 'binaries'), 'the binaries channel');
  expect(channel.depth + channel.requeue_count).toBeGreaterThanOrEqual(1);
}, 60_000);

test("a worker refuses to start when builds could outlive nsqd's --max-msg-timeout, and says which flag", async () => {
  const worker = startWorker('binaries', '--build-timeout', '7200');
  const code = await new Promise<number | null>((r) => worker.once('exit', (c) => r(c)));
  expect(code).toBe(1);
  expect(procs.logOf(worker)).toContain('start nsqd with --max-msg-timeout=7200s');
});

test('a push to a self-hosted bare repository reaches the receiver through the installed hook', async () => {
  const secretFile = path.join(ci.data.root, 'secret');
  fs.writeFileSync(secretFile, 'hook-secret\n');
  const port = await freePort();
  const receiver = await procs.startReceiver(port, '--secret-file', secretFile, '--nsqd-http', nsq.nsqdHttp, '--topic', 'hooked');
  try {
    const bare = path.join(ci.data.root, 'repos', 'served.git');
    execFileSync('git', ['init', '-q', '--bare', bare]);
    // The hook runs the lxcts found on PATH at install time, as an installed package's would be.
    const { PATH } = lxctsOnPath(path.join(ci.data.root, 'shim-bin'));
    const install = lxcts('/nonexistent', ['ci', 'hook', 'install', bare, '--url', `http://127.0.0.1:${port}/hooks/github`, '--secret-file', secretFile], {
      env: { PATH },
    });
    expect(install.status).toBe(0);
    const work = TestRepo.create(path.join(ci.data.root, 'repos', 'served-work'));
    const pushed = execFileSync('git', ['push', '-q', bare, 'HEAD:main'], { cwd: work.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(pushed).toBe('');
    // The receiver made the channels before publishing: the event waits in each of them.
    const channelDepths = async () => Object.fromEntries(((await topicStats(nsq.nsqdHttp, 'hooked'))?.channels ?? []).map((c) => [c.channel_name, c.depth]));
    await waitFor(
      async () => {
        const depths = await channelDepths();
        return depths.binaries === 1 && depths.docs === 1;
      },
      'the push event',
      { seconds: 20, everyMs: 200 },
    );
  } finally {
    await stopProcess(receiver);
  }
});
