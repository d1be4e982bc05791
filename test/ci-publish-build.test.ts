/**
 * Publishing from real builds: the build container is stopped before anything is
 * collected, a hostile build's output is published safely, and the user's mistakes are
 * failures, not infrastructure errors.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { identify } from '../src/ci/git';
import { publishMessage } from '../src/ci/nsq-api';
import { BuildMessage } from '../src/ci/push-event';
import { CiSandbox } from './helpers/ci-data';
import { TestNsq } from './helpers/nsq';
import { buildRequest, channelStats, CliProcesses } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { at, must } from './helpers/must';
import { waitFor } from './helpers/wait';

const ci = new CiSandbox('publish');
const repos = path.join(ci.data.root, 'repos');
/** A local repository's published name: local/<dir>-<hash of its real path>. */
const localName = (repo: TestRepo) => identify(repo.dir).repo;
// A root-only host file the build wants published, holding a unique marker.
const secretDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-secret-'));
const secret = path.join(secretDir, 'secret');
const marker = `HOST-SECRET-${randomBytes(12).toString('hex')}`;
const token = `lxcts-flipper-${randomBytes(6).toString('hex')}`;
fs.chmodSync(secretDir, 0o700);
fs.writeFileSync(secret, `${marker}\n`, { mode: 0o600 });

afterAll(() => {
  // The flipper runs in the build container, which the builder destroys; should a broken
  // builder leave one, it goes here.
  for (const line of processesWith(token)) {
    try {
      process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  ci.cleanup();
  fs.rmSync(secretDir, { recursive: true, force: true });
});

function filesContaining(dir: string, text: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesContaining(full, text);
    return entry.isFile() && fs.readFileSync(full, 'utf8').includes(text) ? [full] : [];
  });
}

function processesWith(text: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(text) && !line.includes('ps -eo'));
}

test('a background process left by the build is dead before its output is collected, and no host byte is published', async () => {
  // The flipper swaps out/f between a file and a link to the host's secret, forever.
  const flip = `: ${token}; while :; do echo safe > out/f.t; mv -f out/f.t out/f; ln -sf ${secret} out/f.l; mv -f out/f.l out/f; done`;
  const repo = TestRepo.create(
    path.join(repos, 'flipper'),
    [
      'jobs:',
      '  flip:',
      '    steps:',
      '      - mkdir -p out site && echo safe > out/f && echo site > site/index.html',
      `      - 'setsid nohup sh -c "${flip}" > /dev/null 2>&1 < /dev/null &'`,
      // The flipper is running when the steps end: it has made out/f a link at least once.
      '      - for i in $(seq 200); do [ -L out/f ] && exit 0; sleep 0.05; done; exit 1',
      '    artifacts: [out/*]',
      '    docs: site',
      '',
    ].join('\n'),
  );
  const r = at(await ci.builder().build({ source: repo.dir }), 0);
  expect([r.status, r.message]).toEqual(['success', null]);
  const log = fs.readFileSync(r.logPath!, 'utf8');
  // Stopped (every process killed) before anything was collected.
  const stopped = log.indexOf(`build container lxcts-build-${r.buildId} stopped`);
  expect(stopped).toBeGreaterThan(-1);
  expect(log.indexOf('published')).toBeGreaterThan(stopped);
  // out/f is frozen as one of the two states: the file (published) or the link (refused).
  const published = path.join(ci.data.binaries, localName(repo), repo.git('rev-parse', 'HEAD'), 'out', 'f');
  if (r.artifacts.includes('out/f')) expect(fs.readFileSync(published, 'utf8')).toBe('safe\n');
  else expect(log).toContain('not published: out/f: a symbolic link: not published');
  expect(filesContaining(ci.data.binaries, marker)).toEqual([]);
  expect(filesContaining(ci.data.docs, marker)).toEqual([]);
  expect(processesWith(token)).toEqual([]);
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
});

test('a setuid file is published without the bit; links and hard links are not published, with a note in the log', async () => {
  const repo = TestRepo.create(
    path.join(repos, 'modes'),
    [
      'jobs:',
      '  modes:',
      '    steps:',
      '      - mkdir -p bin site && printf "#!/bin/sh\\necho hi\\n" > bin/tool && chmod 4755 bin/tool && cp bin/tool site/tool && chmod 4755 site/tool',
      `      - echo hi > site/index.html && ln -s ${secret} bin/secret && ln -s ${secret} site/secret.html`,
      '      - echo shared > bin/shared && ln bin/shared site/shared.html',
      // A hard link to a file outside the workspace cannot even be made from the build (another mount).
      '      - if ln /etc/passwd bin/passwd; then exit 1; fi',
      '    artifacts: [bin/*]',
      '    docs: site',
      '',
    ].join('\n'),
  );
  const r = at(await ci.builder().build({ source: repo.dir }), 0);
  expect([r.status, r.message]).toEqual(['success', null]);
  expect(r.artifacts).toEqual(['bin/tool']);
  const commit = repo.git('rev-parse', 'HEAD');
  const tool = path.join(ci.data.binaries, localName(repo), commit, 'bin', 'tool');
  expect(fs.statSync(tool).mode & 0o7777).toBe(0o755);
  const site = path.join(ci.data.docs, localName(repo), 'main');
  expect(fs.statSync(path.join(site, 'tool')).mode & 0o7777).toBe(0o755);
  expect(fs.readdirSync(site).sort()).toEqual(['index.html', 'tool']);
  const log = fs.readFileSync(r.logPath!, 'utf8');
  for (const note of [
    'not published: bin/secret: a symbolic link: not published',
    'not published: site/secret.html: a symbolic link: not published',
    'not published: bin/shared: has 2 hard links (one may be outside the workspace): not published',
    'not published: site/shared.html: has 2 hard links (one may be outside the workspace): not published',
  ]) {
    expect(log).toContain(note);
  }
});

test("the user's mistakes at publish time are failures with a message, not errors", async () => {
  const repo = TestRepo.create(
    path.join(repos, 'mistakes'),
    [
      'jobs:',
      '  nodocs:',
      '    steps: [mkdir -p bin && echo x > bin/x]',
      '    artifacts: [bin/*]',
      '    docs: site/',
      '  noartifact:',
      '    steps: [mkdir -p bin && echo x > bin/x]',
      '    artifacts: [bin/*, { path: "dist/*.tar.gz", required: true }]',
      '',
    ].join('\n'),
  );
  const results = await ci.builder().build({ source: repo.dir });
  expect(results.map((r) => [r.job, r.status, r.message])).toEqual([
    ['nodocs', 'failure', 'the docs directory "site/" was not produced by the build'],
    ['noartifact', 'failure', 'the required artifact "dist/*.tar.gz" matched no file'],
  ]);
  // Nothing of a failed build is published.
  expect(fs.existsSync(path.join(ci.data.binaries, localName(repo), repo.git('rev-parse', 'HEAD')))).toBe(false);
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
});

test('a forced push moves the branch pointers to a head that does not descend from them; an unforced one does not', async () => {
  const repo = TestRepo.create(
    path.join(repos, 'rewritten'),
    'jobs:\n  both:\n    steps: ["mkdir -p bin site && echo $LXCTS_COMMIT > bin/id && cp bin/id site/index.html"]\n    artifacts: [bin/*]\n    docs: site\n',
  );
  const first = repo.git('rev-parse', 'HEAD');
  const second = repo.commit('second');
  const binaries = path.join(ci.data.binaries, localName(repo));
  const docs = path.join(ci.data.docs, localName(repo));
  const pointers = () => [fs.readlinkSync(path.join(binaries, 'main')), fs.readFileSync(path.join(docs, 'main', 'index.html'), 'utf8').trim()];
  await ci.builder().build({ source: repo.dir });
  expect(pointers()).toEqual([second, second]);
  // History rewritten: main is now first + rewrite, a sibling of second.
  repo.git('reset', '-q', '--hard', first);
  const rewritten = repo.commit('rewrite');
  const unforced = at(await ci.builder().build({ source: repo.dir }), 0);
  expect(unforced.status).toBe('success');
  expect(pointers()).toEqual([second, second]);
  expect(fs.readFileSync(unforced.logPath!, 'utf8')).toContain(
    `the binaries pointer of main did not move: ${rewritten.slice(0, 12)} does not descend from ${second.slice(0, 12)}`,
  );
  await ci.builder().build({ source: repo.dir, force: true, forced: true });
  expect(pointers()).toEqual([rewritten, rewritten]);
});

describe('through a worker', () => {
  const TOPIC = 'lxcts.pushes';
  const nsq = new TestNsq();
  const procs = new CliProcesses(ci.data.root);
  beforeAll(async () => {
    await nsq.start();
    await nsq.createChannel(TOPIC, 'docs');
    procs.startWorker(['--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp], 'docs', '--allow-local', repos, '--max-attempts', '2');
  });
  afterAll(async () => {
    await procs.killAll();
    await nsq.stop();
  });

  const push = (repo: TestRepo, commit: string, extra: Partial<BuildMessage> = {}) =>
    publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, commit, extra)));
  const buildsOf = (repo: string) => ci.store.list({ repo, limit: 100 });
  const channel = async () => must(await channelStats(nsq.nsqdHttp, TOPIC, 'docs'), 'the docs channel');

  test('a missing docs directory is a failure, acknowledged at once: not retried, not dead-lettered', async () => {
    const repo = TestRepo.create(path.join(repos, 'worker-nodocs'), 'jobs:\n  docs:\n    steps: ["echo no docs"]\n    docs: site/\n');
    const before = await channel();
    await push(repo, repo.git('rev-parse', 'HEAD'));
    await waitFor(() => buildsOf('test/worker-nodocs').some((b) => !['queued', 'running'].includes(b.status)), 'the build to finish', {
      seconds: 60,
      everyMs: 200,
    });
    await waitFor(
      async () => {
        const c = await channel();
        return c.message_count === before.message_count + 1 && c.in_flight_count === 0 && c.deferred_count === 0 && c.depth === 0;
      },
      'the message to be finished',
      { seconds: 60, everyMs: 200 },
    );
    expect(buildsOf('test/worker-nodocs').map((b) => [b.status, b.message])).toEqual([['failure', 'the docs directory "site/" was not produced by the build']]);
    expect((await channel()).requeue_count).toBe(before.requeue_count);
    expect(await nsq.depth(`${TOPIC}.dead`)).toBe(0);
  });

  test("a push's forced flag reaches the publisher: the docs pointer follows a rewritten branch", async () => {
    const repo = TestRepo.create(
      path.join(repos, 'worker-forced'),
      'jobs:\n  docs:\n    steps: ["mkdir -p site && echo $LXCTS_COMMIT > site/index.html"]\n    docs: site\n',
    );
    const first = repo.git('rev-parse', 'HEAD');
    const second = repo.commit('second');
    const site = () => fs.readFileSync(path.join(ci.data.docs, 'test', 'worker-forced', 'main', 'index.html'), 'utf8').trim();
    await push(repo, second);
    await waitFor(() => buildsOf('test/worker-forced').some((b) => b.status === 'success'), 'the first build', { seconds: 60, everyMs: 200 });
    expect(site()).toBe(second);
    repo.git('reset', '-q', '--hard', first);
    const rewritten = repo.commit('rewritten');
    await push(repo, rewritten, { before: second, forced: true });
    await waitFor(() => buildsOf('test/worker-forced').filter((b) => b.status === 'success').length === 2, 'the forced build', { seconds: 60, everyMs: 200 });
    expect(site()).toBe(rewritten);
  });
});
