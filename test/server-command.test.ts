/**
 * `lxcts ci server` as a real process (dist/), with a real nsqd and a real worker building
 * in a real container: the build shows up in the server's API, and SIGTERM stops the
 * server cleanly.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
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
/** Other machines: workers with a data directory of their own. */
const remote = new CiSandbox('server-command-remote');
const remoteProcs = new CliProcesses(remote.data.root);
const second = new CiSandbox('server-command-second');
const secondProcs = new CliProcesses(second.data.root);

beforeAll(async () => {
  await nsq.start();
  await nsq.createChannel(TOPIC, 'binaries');
  await nsq.createChannel(TOPIC, 'docs');
});
afterAll(async () => {
  await secondProcs.killAll();
  await remoteProcs.killAll();
  await procs.killAll();
  await nsq.stop();
  ci.cleanup();
  remote.cleanup();
  second.cleanup();
});

async function apiBuilds(url: string): Promise<ApiBuild[]> {
  return ((await (await fetch(`${url}/api/builds`)).json()) as { builds: ApiBuild[] }).builds;
}

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
  const worker = procs.startWorker(['--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp], 'binaries', '--allow-local', path.join(ci.data.root, 'repos'));
  const commit = repo.git('rev-parse', 'HEAD');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, commit)));
  let builds: ApiBuild[] = [];
  await waitFor(
    async () => {
      builds = await apiBuilds(url);
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

test('a worker on another machine (--server) uploads what it published; a refused upload is noted in the log, the build stands', async () => {
  const tokenFile = path.join(ci.data.root, 'worker-token');
  fs.writeFileSync(tokenFile, 'a-worker-token-of-enough-length\n', { mode: 0o600 });
  const wrongFile = path.join(remote.data.root, 'wrong-token');
  fs.writeFileSync(wrongFile, 'not-the-worker-token-at-all\n', { mode: 0o600 });
  const { child: server, url } = await startServerProcess(procs, '--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp, '--worker-token-file', tokenFile);
  const repo = TestRepo.create(
    path.join(remote.data.root, 'repos', 'uploaded'),
    'jobs:\n  binaries:\n    steps: ["mkdir -p out/sub site && echo hello > out/hello.txt && echo deep > out/sub/deep.txt && echo \'<h1>docs</h1>\' > site/index.html"]\n    artifacts: [out/**]\n    docs: site/\n',
  );
  const discovery = ['--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp];
  const allow = ['--allow-local', path.join(remote.data.root, 'repos')];
  const worker = remoteProcs.startWorker(discovery, 'binaries', ...allow, '--server', url, '--worker-token-file', tokenFile);
  const first = repo.git('rev-parse', 'HEAD');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, first)));
  await waitFor(
    async () => (await apiBuilds(url)).some((b) => b.commit === first && b.status === 'success'),
    () => `the uploaded build on the server; worker log:\n${remoteProcs.logOf(worker)}\nserver log:\n${procs.logOf(server)}`,
    { seconds: 240, everyMs: 200 },
  );
  // The server serves what the other machine built: the same sums, and every file matches its sum.
  const sums = await (await fetch(`${url}/binaries/test/uploaded/main/SHA256SUMS`)).text();
  expect(sums).toBe(fs.readFileSync(path.join(remote.data.binaries, 'test', 'uploaded', 'main', 'SHA256SUMS'), 'utf8'));
  const lines = sums.trim().split('\n');
  expect(lines).toHaveLength(2);
  for (const line of lines) {
    const [sum, name] = line.split(/ [ *]/) as [string, string];
    const bytes = Buffer.from(await (await fetch(`${url}/binaries/test/uploaded/main/${name}`)).arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(sum);
  }
  expect(await (await fetch(`${url}/docs/test/uploaded/main/`)).text()).toContain('<h1>docs</h1>');
  const local = must(remote.store.list({ repo: 'test/uploaded', limit: 1 })[0], 'the build on the worker');
  expect(fs.readFileSync(must(local.logPath, 'its log'), 'utf8')).toContain(`uploaded to ${url}/binaries/test/uploaded/${first}/`);
  expect(await stopProcess(worker)).toBe(0);

  // A wrong token: the upload is refused, the build still succeeds, its log says why.
  const refused = remoteProcs.startWorker(discovery, 'binaries', ...allow, '--server', url, '--worker-token-file', wrongFile);
  const second = repo.commit('second');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, second)));
  await waitFor(
    async () => (await apiBuilds(url)).some((b) => b.commit === second && b.status === 'success'),
    () => `the second build on the server; worker log:\n${remoteProcs.logOf(refused)}`,
    { seconds: 240, everyMs: 200 },
  );
  const build = must(remote.store.list({ repo: 'test/uploaded', limit: 1 })[0], 'the second build on the worker');
  expect(build).toMatchObject({ commit: second, status: 'success' });
  expect(fs.readFileSync(must(build.logPath, 'its log'), 'utf8')).toMatch(/after publishing: POST \/uploads: 401 .*\(the build stands\)/);
  // The server still serves the first build's files for main.
  expect(await (await fetch(`${url}/binaries/test/uploaded/main/commit`)).text()).toContain(first);
  expect(await stopProcess(refused)).toBe(0);
  expect(await stopProcess(server)).toBe(0);
}, 400_000);

test('a live build page gets a line the build prints over SSE while the build still runs (worker with --live-logs)', async () => {
  const { child: server, url } = await startServerProcess(procs, '--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp);
  const repo = TestRepo.create(path.join(ci.data.root, 'repos', 'live'), 'jobs:\n  binaries:\n    steps: ["echo first-line; sleep 4; echo second-line"]\n');
  const worker = procs.startWorker(
    ['--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp],
    'binaries',
    '--live-logs',
    '--allow-local',
    path.join(ci.data.root, 'repos'),
  );
  const commit = repo.git('rev-parse', 'HEAD');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, commit)));
  let build: ApiBuild | undefined;
  await waitFor(
    async () => (build = (await apiBuilds(url)).find((b) => b.commit === commit)) !== undefined,
    () => `the build on the server; worker log:\n${procs.logOf(worker)}`,
    { seconds: 240, everyMs: 100 },
  );
  const id = must(build, 'the build').id;
  const page = await (await fetch(`${url}/builds/${id}`)).text();
  // A page opened while the build runs follows it (read here from the start of the log: the page may have shown the line already).
  expect(page).toMatch(/data-events="\/builds\/\d+\/events\?from=\d+"/);
  const abort = new AbortController();
  const events = await fetch(`${url}/builds/${id}/events?from=0`, { signal: abort.signal });
  const reader = must(events.body, 'the event stream').getReader();
  const decoder = new TextDecoder();
  let text = '';
  let statusWhenFirstSeen = '';
  try {
    while (!text.includes('event: end')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (!statusWhenFirstSeen && text.includes('first-line')) {
        statusWhenFirstSeen = must(
          (await apiBuilds(url)).find((b) => b.id === id),
          'the build',
        ).status;
      }
    }
  } finally {
    abort.abort();
  }
  // The line came while the build was still running (the step sleeps 4 s after it), and the rest followed.
  expect(statusWhenFirstSeen).toBe('running');
  expect(text.indexOf('first-line')).toBeLessThan(text.indexOf('second-line'));
  expect(text).toMatch(/event: end\ndata: \{"status":"success"\}/);
  expect(await stopProcess(worker)).toBe(0);
  expect(await stopProcess(server)).toBe(0);
}, 300_000);

test("two machines (workers with separate data directories) build the sample's binaries and docs; the server serves both, sums matching", async () => {
  const tokenFile = path.join(ci.data.root, 'worker-token-2');
  fs.writeFileSync(tokenFile, 'another-worker-token-of-length\n', { mode: 0o600 });
  const { child: server, url } = await startServerProcess(procs, '--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp, '--worker-token-file', tokenFile);
  // One repository both machines can read (a git server, here a directory).
  const sources = fs.mkdtempSync(path.join(ci.data.root, 'sources-'));
  const repo = TestRepo.create(path.join(sources, 'two'));
  const discovery = ['--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp];
  const upload = ['--allow-local', sources, '--server', url, '--worker-token-file', tokenFile];
  const binaries = remoteProcs.startWorker(discovery, 'binaries', ...upload);
  const docs = secondProcs.startWorker(discovery, 'docs', ...upload);
  const commit = repo.git('rev-parse', 'HEAD');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, commit)));
  await waitFor(
    async () => (await apiBuilds(url)).filter((b) => b.commit === commit && b.status === 'success').length === 2,
    () => `both builds on the server; binaries worker:\n${remoteProcs.logOf(binaries)}\ndocs worker:\n${secondProcs.logOf(docs)}`,
    { seconds: 240, everyMs: 200 },
  );
  const served = async (route: string) => {
    const response = await fetch(`${url}${route}`);
    expect(response.status).toBe(200);
    return Buffer.from(await response.arrayBuffer());
  };
  // The binaries came from one machine...
  const sums = (await served('/binaries/test/two/main/SHA256SUMS')).toString();
  expect(sums).toMatch(/^[0-9a-f]{64} {2}bin\/hello\n$/);
  const [sum] = sums.split(' ');
  expect(
    createHash('sha256')
      .update(await served('/binaries/test/two/main/bin/hello'))
      .digest('hex'),
  ).toBe(sum);
  expect(await served('/binaries/test/two/main/bin/hello')).toEqual(fs.readFileSync(path.join(remote.data.binaries, 'test', 'two', 'main', 'bin', 'hello')));
  // ...the docs from the other, which never had the binaries.
  expect((await served('/docs/test/two/main/')).toString()).toContain('<h1>hello</h1>');
  expect(fs.existsSync(path.join(second.data.binaries, 'test', 'two', commit, 'bin'))).toBe(false);
  expect(await stopProcess(binaries)).toBe(0);
  expect(await stopProcess(docs)).toBe(0);
  expect(await stopProcess(server)).toBe(0);
}, 300_000);
