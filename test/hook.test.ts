import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';
import { lxctsOnPath } from './helpers/lxcts-shim';
import { freePort, TestNsq } from './helpers/nsq';
import { CliProcesses, stopProcess, topicStats } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { at } from './helpers/must';
import { waitFor } from './helpers/wait';

// The self-hosted hook with real bare repositories, real `git push`, a real receiver
// process, nsqd and a worker: a push made while the receiver is down is not lost.
const TOPIC = 'hooked';
const nsq = new TestNsq();
const ci = new CiSandbox('hook');
const shim = lxctsOnPath(path.join(ci.data.root, 'shim-bin'));
const secretFile = path.join(ci.data.root, 'secret');
const procs = new CliProcesses(ci.data.root);
const retriers = new Set<number>();

beforeAll(async () => {
  fs.writeFileSync(secretFile, 'hook-secret\n');
  await nsq.start();
});
afterEach(async () => {
  await procs.killAll();
  // Background retriers are detached from the test: end them by the pid they recorded.
  for (const pid of retriers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  retriers.clear();
});
afterAll(async () => {
  await procs.killAll();
  await nsq.stop();
  ci.cleanup();
});

const startReceiver = (port: number) => procs.startReceiver(port, '--secret-file', secretFile, '--nsqd-http', nsq.nsqdHttp, '--topic', TOPIC);
const startWorker = () =>
  procs.startWorker(['--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp, '--topic', TOPIC], 'binaries', '--allow-local', ci.data.root);

/** Messages ever published to the topic (not only those waiting). */
const published = async () => (await topicStats(nsq.nsqdHttp, TOPIC))?.message_count ?? 0;

/** A bare repository with the hook installed (pointing at `port`), and a clone to push from. */
function served(name: string, port: number): { bare: string; work: TestRepo } {
  const bare = path.join(ci.data.root, 'repos', `${name}.git`);
  execFileSync('git', ['init', '-q', '--bare', bare]);
  const install = lxcts('/nonexistent', ['ci', 'hook', 'install', bare, '--url', `http://127.0.0.1:${port}/hooks/github`, '--secret-file', secretFile], {
    env: { PATH: shim.PATH },
  });
  expect(install.stderr).toBe('');
  expect(install.status).toBe(0);
  return { bare, work: TestRepo.create(path.join(ci.data.root, 'repos', `${name}-work`)) };
}

function gitPush(work: TestRepo, bare: string): string {
  const r = spawnSync('git', ['push', '-q', bare, 'HEAD:main'], { cwd: work.dir, encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stderr;
}

const spooled = (bare: string) =>
  fs.existsSync(path.join(bare, 'lxcts', 'spool')) ? fs.readdirSync(path.join(bare, 'lxcts', 'spool')).filter((n) => n.endsWith('.json')) : [];

/** The detached retrier's pid, from the lock it holds (boot id/pid/start time). */
async function retrierPid(bare: string): Promise<number> {
  const lock = path.join(bare, 'lxcts', 'retry.lock');
  await waitFor(() => fs.existsSync(lock) && fs.readFileSync(lock, 'utf8').includes('/'), 'the background retry to start', { seconds: 15, everyMs: 100 });
  const pid = Number(fs.readFileSync(lock, 'utf8').split('/')[1]);
  retriers.add(pid);
  return pid;
}

test('ci hook install refuses without a stable lxcts, and says what it wrote', () => {
  const bare = path.join(ci.data.root, 'repos', 'install.git');
  execFileSync('git', ['init', '-q', '--bare', bare]);
  const args = ['ci', 'hook', 'install', bare, '--url', 'http://127.0.0.1:1/hooks/github', '--secret-file', secretFile];
  const refused = lxcts('/nonexistent', args, { env: { PATH: '/usr/bin:/bin' } });
  expect(refused.status).toBe(1);
  expect(refused.stderr).toContain('no lxcts command on PATH for the hook to run');
  expect(fs.existsSync(path.join(bare, 'hooks', 'post-receive'))).toBe(false);

  const installed = lxcts('/nonexistent', args, { env: { PATH: shim.PATH } });
  expect(installed.status).toBe(0);
  expect(installed.stdout).toContain(`runs ${shim.bin} ci hook notify on every push`);
  const hook = fs.readFileSync(path.join(bare, 'hooks', 'post-receive'), 'utf8');
  expect(hook).toContain(`LXCTS='${shim.bin}'`);
  // Not a path inside this checkout's build output, which moves or goes away.
  expect(hook).not.toContain('dist/');
  expect(execFileSync('git', ['config', '--file', path.join(bare, 'config'), 'lxcts.url'], { encoding: 'utf8' }).trim()).toBe(
    'http://127.0.0.1:1/hooks/github',
  );
});

test('receiver down: the push is spooled; once it is back, ci hook flush delivers it and a worker builds it, once', async () => {
  const port = await freePort();
  const { bare, work } = served('down', port);
  const commit = work.git('rev-parse', 'HEAD');
  const stderr = gitPush(work, bare);
  expect(stderr).toContain(`lxcts: the CI has not got 1 push event(s) yet (http://127.0.0.1:${port}/hooks/github unreachable (ECONNREFUSED))`);
  expect(stderr).toContain(`kept in ${bare}/lxcts/spool`);
  expect(spooled(bare)).toHaveLength(1);
  // This test is about the explicit flush: stop the background retry the push started.
  process.kill(await retrierPid(bare), 'SIGKILL');
  const kept = path.join(ci.data.root, 'kept.json');
  fs.copyFileSync(path.join(bare, 'lxcts', 'spool', at(spooled(bare), 0)), kept);

  const receiver = await startReceiver(port);
  const worker = startWorker();
  const before = await published();
  const flushed = lxcts('/nonexistent', ['ci', 'hook', 'flush', bare], { env: { LXCTS_DATA_DIR: ci.data.root } });
  expect(flushed.stdout).toContain('1 delivered, 0 still spooled');
  expect(flushed.status).toBe(0);
  expect(spooled(bare)).toEqual([]);
  // The same event sent again (as after a crash between the receiver's answer and the
  // spool's removal): the receiver knows its delivery id and publishes nothing.
  fs.copyFileSync(kept, path.join(bare, 'lxcts', 'spool', path.basename(kept)));
  const again = lxcts('/nonexistent', ['ci', 'hook', 'flush', bare], { env: { LXCTS_DATA_DIR: ci.data.root } });
  expect(again.stdout).toContain('"duplicate":true');
  expect(await published()).toBe(before + 1);

  const builds = () => ci.store.list({ limit: 1000 }).filter((b) => b.commit === commit);
  await waitFor(() => builds().some((b) => b.status === 'success'), 'the build', { seconds: 90, everyMs: 100 });
  await new Promise((r) => setTimeout(r, 1000));
  expect(builds().map((b) => [b.job, b.status])).toEqual([['binaries', 'success']]);
  expect(fs.existsSync(path.join(ci.data.binaries, at(builds(), 0).repo, commit, 'bin', 'hello'))).toBe(true);
  await Promise.all([stopProcess(worker), stopProcess(receiver)]);
}, 150_000);

test('receiver down: the background retry delivers the push when the receiver is back; a later push sends older events first', async () => {
  const port = await freePort();
  const { bare, work } = served('retried', port);
  gitPush(work, bare);
  expect(spooled(bare)).toHaveLength(1);
  await retrierPid(bare);
  const before = await published();
  const receiver = await startReceiver(port);
  // Backoff 1, 2, 4, 8... s: the retry after the receiver came up is at most ~2x later.
  await waitFor(() => spooled(bare).length === 0, 'the background retry to deliver', { seconds: 40, everyMs: 100 });
  expect(await published()).toBe(before + 1);
  await waitFor(() => !fs.existsSync(path.join(bare, 'lxcts', 'retry.lock')), 'the retrier to exit', { seconds: 10, everyMs: 100 });

  // Receiver down again: a push waits; the next push (receiver up) sends both, in order.
  await stopProcess(receiver);
  work.commit('second');
  expect(gitPush(work, bare)).toContain('has not got 1 push event(s) yet');
  process.kill(await retrierPid(bare), 'SIGKILL');
  const receiverAgain = await startReceiver(port);
  work.commit('third');
  const third = gitPush(work, bare);
  const lines = third.split('\n').filter((l) => l.includes('refs/heads/main'));
  expect(lines).toHaveLength(2);
  expect(lines.every((l) => l.includes(': 202 '))).toBe(true);
  expect(lines[1]).toContain(work.git('rev-parse', 'HEAD').slice(0, 12));
  expect(spooled(bare)).toEqual([]);
  expect(await published()).toBe(before + 3);
  await stopProcess(receiverAgain);
}, 120_000);

test('when the lxcts command is gone, the hook script itself keeps the ref updates, and flush sends them', async () => {
  const port = await freePort();
  const bare = path.join(ci.data.root, 'repos', 'gone.git');
  execFileSync('git', ['init', '-q', '--bare', bare]);
  const own = lxctsOnPath(path.join(ci.data.root, 'own-bin'));
  expect(
    lxcts('/nonexistent', ['ci', 'hook', 'install', bare, '--url', `http://127.0.0.1:${port}/hooks/github`, '--secret-file', secretFile], {
      env: { PATH: own.PATH },
    }).status,
  ).toBe(0);
  fs.rmSync(own.bin);
  const work = TestRepo.create(path.join(ci.data.root, 'repos', 'gone-work'));
  expect(gitPush(work, bare)).toContain(`lxcts: ${own.bin} not found: push kept in ${bare}/lxcts/unsent/ref-updates`);
  const receiver = await startReceiver(port);
  const before = await published();
  const flushed = lxcts('/nonexistent', ['ci', 'hook', 'flush', bare]);
  expect(flushed.stdout).toContain('1 delivered, 0 still spooled');
  expect(await published()).toBe(before + 1);
  await stopProcess(receiver);
}, 60_000);

test('a receiver answering 503 keeps the event spooled; flush says why and exits 1', async () => {
  // A receiver in trouble, as a proxy in front of a stopped one answers (its own process:
  // git push and the CLI run synchronously here).
  const port = await freePort();
  const busy = spawn(process.execPath, ['-e', `require('http').createServer((q, s) => s.writeHead(503).end('try later')).listen(${port}, '127.0.0.1')`], {
    stdio: 'ignore',
  });
  procs.track(busy);
  await waitFor(
    () =>
      fetch(`http://127.0.0.1:${port}/`).then(
        (r) => r.status === 503,
        () => false,
      ),
    'the busy receiver',
    { seconds: 30, everyMs: 100 },
  );
  const { bare, work } = served('busy', port);
  expect(gitPush(work, bare)).toContain('answered 503 try later');
  process.kill(await retrierPid(bare), 'SIGKILL');
  const flushed = lxcts('/nonexistent', ['ci', 'hook', 'flush', bare]);
  expect(flushed.status).toBe(1);
  expect(flushed.stdout).toContain('0 delivered, 1 still spooled');
  expect(flushed.stderr).toContain(`not delivered: http://127.0.0.1:${port}/hooks/github answered 503 try later`);
  expect(spooled(bare)).toHaveLength(1);
}, 60_000);
