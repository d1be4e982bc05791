/**
 * Pull-request builds, for real: GitHub's example payloads signed as GitHub signs them go
 * through the receiver to nsqd with their pull request; the builder builds, in real
 * containers, the jobs the base commit's build file marks `pull_requests: true` (never the
 * head's), GitHub's merge ref when it merges cleanly else the head; and a fork's build gets
 * no network, the default limits, and publishes only under the pull request.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

import { sign } from '@octokit/webhooks-methods';
import { Message, Reader } from 'nsqjs';

import { Container } from '../src';
import type { BuildRequest, JobResult } from '../src/ci/builder';
import { DeliveryLog } from '../src/ci/deliveries';
import { DEFAULT_LIMITS } from '../src/ci/limits';
import { loggerFor } from '../src/ci/logger';
import { SpooledPublisher } from '../src/ci/nsq-spool';
import { BuildMessage } from '../src/ci/push-event';
import { createWebhookServer } from '../src/ci/webhook';
import { TestBridge } from './helpers/bridge';
import { CiSandbox } from './helpers/ci-data';
import { at, must } from './helpers/must';
import { TestNsq } from './helpers/nsq';
import { TestRepo } from './helpers/repo';
import { waitFor } from './helpers/wait';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- a package of JSON files, without types
const examples = require('@octokit/webhooks-examples') as Array<{ name: string; examples: Array<Record<string, unknown>> }>;

const ci = new CiSandbox('pulls');
const nsq = new TestNsq();
const bridge = new TestBridge('pulls');
const repos = path.join(ci.data.root, 'repos');

beforeAll(async () => {
  await nsq.start();
  bridge.up();
});
afterAll(async () => {
  await bridge.down();
  await nsq.stop();
  ci.cleanup();
});

describe('the receiver', () => {
  const SECRET = "It's a Secret to Everybody";
  const TOPIC = 'pulls.pushes';
  let server: http.Server;
  let publisher: SpooledPublisher;
  let deliveries: DeliveryLog;
  let reader: Reader;
  let url = '';
  const received: BuildMessage[] = [];

  beforeAll(async () => {
    deliveries = new DeliveryLog(path.join(ci.data.root, 'deliveries.sqlite'));
    publisher = new SpooledPublisher(nsq.nsqdHttp, TOPIC, path.join(ci.data.root, 'spool'), loggerFor('pulls-test'), 200);
    publisher.start();
    server = createWebhookServer({ secret: SECRET, publisher, deliveries, log: loggerFor('pulls-test') });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/github`;
    await nsq.createChannel(TOPIC, 'test');
    reader = new Reader(TOPIC, 'test', { nsqdTCPAddresses: [nsq.nsqdTcp] });
    reader.on('message', (message: Message) => {
      received.push(message.json() as BuildMessage);
      message.finish();
    });
    reader.connect();
  });
  afterAll(async () => {
    reader.close();
    publisher.stop();
    await new Promise((r) => server.close(r));
    deliveries.close();
  });

  let seq = 0;
  async function deliver(payload: unknown): Promise<number> {
    const body = JSON.stringify(payload);
    const headers = {
      'content-type': 'application/json',
      'x-github-event': 'pull_request',
      'x-github-delivery': `pulls-${process.pid}-${seq++}`,
      'x-hub-signature-256': await sign(SECRET, body),
    };
    const response = await fetch(url, { method: 'POST', headers, body });
    await response.arrayBuffer();
    return response.status;
  }

  const example = (action: string) =>
    structuredClone(examples.find((e) => e.name === 'pull_request')!.examples.find((e) => e.action === action)!) as {
      pull_request: { head: { repo: Record<string, unknown> | null } };
    };

  test('opened, synchronize and closed from the same repository and from a fork are published with their pull request', async () => {
    // Another pull request (#3) from a fork: GitHub's example with the head's repository edited.
    const fork = example('opened') as ReturnType<typeof example> & { number: number };
    fork.number = 3;
    fork.pull_request.head.repo = { ...fork.pull_request.head.repo, full_name: 'mallory/Hello-World', clone_url: 'https://github.com/mallory/Hello-World.git' };
    for (const payload of [example('opened'), example('synchronize'), example('closed'), fork]) expect(await deliver(payload)).toBe(202);
    // A labelled pull request builds nothing.
    expect(await deliver(example('labeled'))).toBe(202);
    await waitFor(() => received.length >= 4, 'the four requests on the topic', { seconds: 20, everyMs: 50 });
    expect(received.map((r) => [r.kind, r.repo, r.ref, r.pull?.action, r.pull?.fork, r.pull?.headRepo, r.pull?.baseRef])).toEqual([
      ['pull_request', 'Codertocat/Hello-World', 'refs/pull/2/head', 'opened', false, 'Codertocat/Hello-World', 'master'],
      ['pull_request', 'Codertocat/Hello-World', 'refs/pull/2/head', 'synchronize', false, 'Codertocat/Hello-World', 'master'],
      ['pull_request', 'Codertocat/Hello-World', 'refs/pull/2/head', 'closed', false, 'Codertocat/Hello-World', 'master'],
      ['pull_request', 'Codertocat/Hello-World', 'refs/pull/3/head', 'opened', true, 'mallory/Hello-World', 'master'],
    ]);
    // The base repository is cloned, never the fork's URL; nothing else of the payload travels.
    expect(new Set(received.map((r) => r.cloneUrl))).toEqual(new Set(['https://github.com/Codertocat/Hello-World.git']));
    expect(Object.keys(at(received, 0)).sort()).toEqual(['after', 'before', 'cloneUrl', 'delivery', 'kind', 'pull', 'pusher', 'receivedAt', 'ref', 'repo']);
  }, 60_000);
});

/** A repository whose main has `baseFile`, and a pull request #1 from a feature branch whose head changes the build file to `headFile`. */
function pullRepo(name: string, baseFile: string, headFile = baseFile): { repo: TestRepo; base: string; head: string; merge: string } {
  const repo = TestRepo.create(path.join(repos, name), baseFile);
  repo.git('checkout', '-q', '-b', 'feature');
  repo.write('from-feature', 'feature\n');
  repo.write('.lxcts.yml', headFile);
  const head = repo.commit('feature work');
  repo.git('checkout', '-q', 'main');
  // main moves on after the branch: only the merge has both files.
  repo.write('from-main', 'main\n');
  const base = repo.commit('main work');
  return { repo, base, head, merge: must(repo.pullRequest(1, head), 'the merge of #1') };
}

function pullBuild(repo: TestRepo, base: string, head: string, pull: Partial<NonNullable<BuildRequest['pull']>> = {}): BuildRequest {
  return {
    source: repo.dir,
    repo: `test/${path.basename(repo.dir)}`,
    ref: 'refs/pull/1/head',
    commit: head,
    requestedAt: Date.now(),
    pull: { number: 1, baseRef: 'main', baseSha: base, fork: false, mergeable: null, ...pull },
  };
}

const logOf = (result: JobResult) => fs.readFileSync(must(result.logPath, 'the log'), 'utf8');

describe('the builder', () => {
  test("a same-repository pull request builds GitHub's merge with the base's jobs marked pull_requests: true, never the head's", async () => {
    const baseFile = [
      'jobs:',
      '  binaries:',
      '    pull_requests: true',
      '    steps: ["test -f from-main && test -f from-feature && echo MERGED", "mkdir -p out && echo pr > out/artifact"]',
      '    artifacts: [out/*]',
      '  docs:',
      '    steps: ["echo DOCS-RAN"]',
      '',
    ].join('\n');
    // The head turns docs on for pull requests and changes binaries: neither counts.
    const headFile =
      'jobs:\n  binaries:\n    pull_requests: true\n    steps: ["echo HEAD-FILE"]\n  docs:\n    pull_requests: true\n    steps: ["echo DOCS-RAN"]\n';
    const { repo, base, head, merge } = pullRepo('same', baseFile, headFile);
    const skipped: string[] = [];
    const events: Array<{ type: string; commit: string; head?: string }> = [];
    const results = await ci.builder().build({
      ...pullBuild(repo, base, head),
      onSkipped: (s) => skipped.push(`${s.job}: ${s.reason}`),
      onEvent: (e) => events.push({ type: e.type, commit: e.build.commit, head: e.head }),
    });
    // Every event of the merge's build names the pull request's head: its statuses go there.
    expect(events.map((e) => e.type)).toContain('finished');
    expect(events).toEqual(events.map((e) => ({ type: e.type, commit: merge, head })));
    expect(results.map((r) => [r.job, r.status])).toEqual([['binaries', 'success']]);
    expect(skipped).toEqual(["docs: pull requests build only jobs marked pull_requests: true in main's build file"]);
    const result = at(results, 0);
    const log = logOf(result);
    // Output lines only (the step's own text is logged too).
    expect(log).toMatch(/^MERGED$/m);
    expect(log).not.toContain('HEAD-FILE');
    expect(log).toContain('built: merge of #1 into main');
    expect(ci.store.get(result.buildId)).toMatchObject({ commit: merge, ref: 'refs/pull/1/merge', branch: null, head });
    // Published under the pull request, not at the commit's place.
    const repoDir = path.join(ci.data.binaries, 'test', 'same');
    expect(fs.readFileSync(path.join(repoDir, 'pull', '1', merge, 'out', 'artifact'), 'utf8')).toBe('pr\n');
    expect(fs.existsSync(path.join(repoDir, merge))).toBe(false);
  }, 300_000);

  test('a pull request GitHub says does not merge, or whose merge ref is of an older head, builds its head', async () => {
    const file = 'jobs:\n  binaries:\n    pull_requests: true\n    steps: ["if test -f from-main; then echo HAS-MAIN; else echo HEAD-ONLY; fi"]\n';
    const { repo, base, head } = pullRepo('conflict', file);
    const [conflicting] = await ci.builder().build(pullBuild(repo, base, head, { mergeable: false }));
    expect(logOf(must(conflicting, 'the build'))).toContain('built: head of #1\n');
    expect(logOf(conflicting!)).toMatch(/^HEAD-ONLY$/m);
    expect(ci.store.get(conflicting!.buildId)).toMatchObject({ commit: head, ref: 'refs/pull/1/head', head });
    // A new head pushed; the merge ref still merges the old one (GitHub has not recomputed it).
    repo.git('checkout', '-q', 'feature');
    const newer = repo.commit('more feature work');
    repo.git('checkout', '-q', 'main');
    repo.git('update-ref', 'refs/pull/1/head', newer);
    const [stale] = await ci.builder().build(pullBuild(repo, base, newer, { mergeable: true }));
    expect(ci.store.get(stale!.buildId)).toMatchObject({ commit: newer, ref: 'refs/pull/1/head', status: 'success' });
  }, 300_000);

  test('a fork gets no network, the default limits, and never writes the branch binaries: its artifacts stay under the pull request', async () => {
    const binaries = ci.data.binaries;
    const file = [
      'jobs:',
      '  binaries:',
      '    pull_requests: true',
      '    network: true',
      '    timeout: 2h',
      '    limits: { pids: 2000 }',
      '    steps:',
      // Network: an interface besides lo (a network: true build has eth0).
      '      - "if grep -q eth0 /proc/net/dev; then echo HAS-NETWORK; else echo NO-NETWORK; fi"',
      // The branch's binaries are not within reach: the host's file (it says "main") is not
      // there to read, and what is written at its path lands in the container's own files.
      `      - "if grep -q main ${binaries}/test/fork/main/bin/out 2>/dev/null; then echo SEES-BRANCH; fi; mkdir -p ${binaries}/test/fork/main/bin && echo fork > ${binaries}/test/fork/main/bin/out"`,
      // main's build writes "main", the pull request's merge "feature".
      '      - "sleep 2; mkdir -p bin && (cat from-feature 2>/dev/null || echo main) > bin/out"',
      '    artifacts: [bin/*]',
      '',
    ].join('\n');
    const { repo, base, head, merge } = pullRepo('fork', file);
    // main is published first: its pointer and commit place are what the fork must not touch.
    const [mainBuild] = await ci.builder({ bridge: bridge.name }).build({ source: repo.dir, repo: 'test/fork', ref: 'refs/heads/main', commit: base });
    expect(mainBuild?.status).toBe('success');
    expect(logOf(mainBuild!)).toMatch(/^HAS-NETWORK$/m);
    const branchOut = path.join(binaries, 'test', 'fork', 'main', 'bin', 'out');
    const commitOut = path.join(binaries, 'test', 'fork', base, 'bin', 'out');
    expect(fs.readFileSync(branchOut, 'utf8')).toBe('main\n');

    let pids: Promise<string> | undefined;
    const [forked] = await ci.builder({ bridge: bridge.name }).build({
      ...pullBuild(repo, base, head, { fork: true }),
      onEvent: (event) => {
        if (event.type !== 'step-started' || event.step !== 3 || pids) return;
        const container = new Container(event.build.container!, { lxcpath: ci.data.containers });
        pids = container
          .getCgroupItem('pids.max')
          .then((v) => v.trim())
          .finally(() => container.release());
      },
    });
    expect(forked?.status).toBe('success');
    const log = logOf(forked!);
    expect(log).toMatch(/^NO-NETWORK$/m);
    expect(log).not.toMatch(/^SEES-BRANCH$/m);
    expect(log).toContain('comes from a fork: no secrets, no network, the default limits');
    // The default limits, not the 2000 processes nor the 2 h the build file asks for.
    expect(await must(pids, 'the pids reading')).toBe(String(DEFAULT_LIMITS.pids));
    // On disk: the branch and the commit's place are as main's build left them.
    expect(fs.readFileSync(branchOut, 'utf8')).toBe('main\n');
    expect(fs.readFileSync(commitOut, 'utf8')).toBe('main\n');
    expect(fs.readFileSync(path.join(binaries, 'test', 'fork', 'pull', '1', merge, 'bin', 'out'), 'utf8')).toBe('feature\n');
    expect(fs.existsSync(path.join(binaries, 'test', 'fork', merge))).toBe(false);
    expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
  }, 300_000);

  test("a fork's build of a commit does not stand for the push of that commit: the push builds it again and publishes the branch", async () => {
    const file = 'jobs:\n  binaries:\n    pull_requests: true\n    steps: ["mkdir -p bin && echo built > bin/out"]\n    artifacts: [bin/*]\n';
    const { repo, base, head } = pullRepo('reuse', file);
    const [forked] = await ci.builder().build(pullBuild(repo, base, head, { fork: true, mergeable: false }));
    expect(ci.store.get(forked!.buildId)).toMatchObject({ commit: head, ref: 'refs/pull/1/head', status: 'success' });
    // The maintainer pushes the pull request's head to main as it is.
    repo.git('reset', '-q', '--hard', 'feature');
    const [pushed] = await ci.builder().build({ source: repo.dir, repo: 'test/reuse', ref: 'refs/heads/main', commit: head, forced: true });
    expect(pushed).toMatchObject({ built: true, status: 'success' });
    expect(pushed!.buildId).not.toBe(forked!.buildId);
    // A push's record names no pull request head.
    expect(ci.store.get(pushed!.buildId)?.head).toBeNull();
    expect(fs.readFileSync(path.join(ci.data.binaries, 'test', 'reuse', 'main', 'bin', 'out'), 'utf8')).toBe('built\n');
  }, 300_000);
});
