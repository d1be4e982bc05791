/**
 * A pull request's artifacts and docs reach the CI server, end to end: a real `ci server`
 * process, real nsqd, a worker on "another machine" (its own data directory, `--server`)
 * building a fork's pull request in a real container. The server serves them under the
 * pull request (`-/pull/<N>/<sha>/`) with the worker's sums, never at the branch's or the
 * commit's place; the build page says they are the pull request's; and the server's
 * retention (`ci gc`) expires them while the branch's stay.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { publishMessage } from '../src/ci/nsq-api';
import { PUSH_TOPIC } from '../src/ci/push-event';
import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';
import { must } from './helpers/must';
import { TestNsq } from './helpers/nsq';
import { buildRequest, CliProcesses, stopProcess } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { startServerProcess } from './helpers/server-process';
import { waitFor } from './helpers/wait';

const nsq = new TestNsq();
const server = new CiSandbox('prfiles-server');
const serverProcs = new CliProcesses(server.data.root);
const remote = new CiSandbox('prfiles-remote');
const remoteProcs = new CliProcesses(remote.data.root);

beforeAll(async () => {
  await nsq.start();
  await nsq.createChannel(PUSH_TOPIC, 'binaries');
});
afterAll(async () => {
  await remoteProcs.killAll();
  await serverProcs.killAll();
  await nsq.stop();
  server.cleanup();
  remote.cleanup();
});

interface ApiBuild {
  id: number;
  commit: string;
  status: string;
}

async function finished(url: string, commit: string): Promise<ApiBuild | undefined> {
  const { builds } = (await (await fetch(`${url}/api/builds`)).json()) as { builds: ApiBuild[] };
  return builds.find((b) => b.commit === commit && b.status === 'success');
}

async function text(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

test("a fork's pull request build is uploaded under the pull request, served there, shown as the pull request's, and expired by ci gc", async () => {
  const tokenFile = path.join(server.data.root, 'worker-token');
  fs.writeFileSync(tokenFile, 'a-worker-token-for-pull-requests\n', { mode: 0o600 });
  const { child: serverProcess, url } = await startServerProcess(
    serverProcs,
    '--nsqd-tcp',
    nsq.nsqdTcp,
    '--nsqd-http',
    nsq.nsqdHttp,
    '--worker-token-file',
    tokenFile,
  );
  // main's build and the pull request's merge each say who they are, in a file and in the docs.
  const repo = TestRepo.create(
    path.join(remote.data.root, 'repos', 'prsite'),
    [
      'jobs:',
      '  binaries:',
      '    pull_requests: true',
      '    steps: ["mkdir -p out site && cat who > out/who.txt && echo \\"<h1>$(cat who)</h1>\\" > site/index.html"]',
      '    artifacts: [out/**]',
      '    docs: site/',
      '',
    ].join('\n'),
  );
  repo.write('who', 'main\n');
  const base = repo.commit('main says main');
  const worker = remoteProcs.startWorker(
    ['--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp],
    'binaries',
    '--allow-local',
    path.join(remote.data.root, 'repos'),
    '--server',
    url,
    '--worker-token-file',
    tokenFile,
  );
  const logs = () => `worker log:\n${remoteProcs.logOf(worker)}\nserver log:\n${serverProcs.logOf(serverProcess)}`;
  await publishMessage(nsq.nsqdHttp, PUSH_TOPIC, JSON.stringify(buildRequest(repo, base)));
  await waitFor(
    async () => (await finished(url, base)) !== undefined,
    () => `main's build on the server; ${logs()}`,
    { seconds: 240, everyMs: 200 },
  );

  repo.git('checkout', '-q', '-b', 'feature');
  repo.write('who', 'fork\n');
  const head = repo.commit('the fork says fork');
  repo.git('checkout', '-q', 'main');
  const merge = must(repo.pullRequest(1, head), 'the merge of #1');
  const pull = buildRequest(repo, head, {
    kind: 'pull_request',
    ref: 'refs/pull/1/head',
    before: base,
    pull: { number: 1, action: 'opened', baseRef: 'main', baseSha: base, headRepo: 'mallory/prsite', fork: true, mergeable: null },
  });
  await publishMessage(nsq.nsqdHttp, PUSH_TOPIC, JSON.stringify(pull));
  let build: ApiBuild | undefined;
  await waitFor(
    async () => (build = await finished(url, merge)) !== undefined,
    () => `the pull request's build on the server; ${logs()}`,
    { seconds: 240, everyMs: 200 },
  );

  // Served under the pull request, with the sums the worker wrote, each file matching its sum.
  const prefix = `${url}/binaries/test/prsite/-/pull/1/${merge}`;
  const sums = await text(`${prefix}/SHA256SUMS`);
  expect(sums.status).toBe(200);
  expect(sums.body).toBe(fs.readFileSync(path.join(remote.data.binaries, 'test', 'prsite', 'pull', '1', merge, 'SHA256SUMS'), 'utf8'));
  const [sum, name] = sums.body.trim().split(/ [ *]/) as [string, string];
  const served = Buffer.from(await (await fetch(`${prefix}/${name}`)).arrayBuffer());
  expect(served.toString()).toBe('fork\n');
  expect(createHash('sha256').update(served).digest('hex')).toBe(sum);
  expect((await text(`${url}/docs/test/prsite/-/pull/1/${merge}/`)).body).toContain('<h1>fork</h1>');
  // The branch's binaries and docs, and the commit's place, are main's build's alone.
  expect((await text(`${url}/binaries/test/prsite/main/${name}`)).body).toBe('main\n');
  expect((await text(`${url}/docs/test/prsite/main/`)).body).toContain('<h1>main</h1>');
  expect((await text(`${url}/binaries/test/prsite/${merge}/`)).status).toBe(404);
  expect(fs.existsSync(path.join(server.data.binaries, 'test', 'prsite', merge))).toBe(false);
  const local = must(
    remote.store.list({ repo: 'test/prsite', limit: 10 }).find((b) => b.commit === merge),
    'the build on the worker',
  );
  expect(fs.readFileSync(must(local.logPath, 'its log'), 'utf8')).toContain(`uploaded to ${prefix}/ and ${url}/docs/test/prsite/-/pull/1/${merge}/`);

  // The build page says whose artifacts these are, and links them where they are served.
  const page = (await text(`${url}/builds/${must(build, 'the build').id}`)).body;
  expect(page).toContain("These are pull request #1's artifacts, not a branch's");
  expect(page).toContain(`href="/binaries/test/prsite/-/pull/1/${merge}/${name}"`);
  expect(page).toContain(`href="/docs/test/prsite/-/pull/1/${merge}/"`);

  // The server's retention: the pull request's go once older than the days; the branch's stay.
  const gc = lxcts(server.data.containers, ['ci', 'gc', '--expire-days', '0', '--json'], { env: { LXCTS_DATA_DIR: server.data.root } });
  expect(gc.status).toBe(0);
  const removed = (gc.json() as { removed: Array<{ kind: string; path: string; why: string }> }).removed.filter((r) => r.kind !== 'log');
  expect(removed.map((r) => [r.kind, r.path, r.why.split(':')[0]]).sort()).toEqual([
    ['binaries', expect.stringMatching(new RegExp(`^binaries/test/prsite/pull/1/\\.versions/${merge}-\\d+$`)), 'pull request #1'],
    ['docs', expect.stringMatching(new RegExp(`^docs/test/prsite/pull/1/\\.versions/${merge}-\\d+$`)), 'pull request #1'],
  ]);
  expect((await text(`${prefix}/SHA256SUMS`)).status).toBe(404);
  expect((await text(`${url}/docs/test/prsite/-/pull/1/${merge}/`)).status).toBe(404);
  expect((await text(`${url}/binaries/test/prsite/main/${name}`)).body).toBe('main\n');
  expect(await stopProcess(worker)).toBe(0);
  expect(await stopProcess(serverProcess)).toBe(0);
}, 600_000);
