/**
 * Workload 7: the CI pipeline end to end, as deployed: real nsqd and nsqlookupd on
 * loopback, `lxcts ci webhook` and `lxcts ci worker` processes, a real git repository.
 * The build's first step prints the wall clock in nanoseconds from inside its fresh
 * container; the builder's log notes how long that container took to be ready.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { sign } from '@octokit/webhooks-methods';

import { CiSandbox } from '../../test/helpers/ci-data';
import { binRun } from '../../test/helpers/cli';
import { freePort, TestNsq } from '../../test/helpers/nsq';
import { TestRepo } from '../../test/helpers/repo';
import { waitFor } from '../../test/helpers/wait';
import { Progress, Result } from './workloads';
import { summarize } from './stats';

const TOPIC = 'lxcts.pushes';
const CHANNEL = 'binaries';
export const REPO = 'bench/trivial';
const SECRET = 'lxcts-bench';
/** The first step reports when it ran; the second keeps the build trivial. */
const BUILD_FILE = 'jobs:\n  binaries:\n    steps: ["date +%s%N", "true"]\n';

export interface CiScale {
  latencyPushes: number;
  throughputBuilds: number;
}

const wallMs = () => performance.timeOrigin + performance.now();

export class Pipeline {
  readonly nsq = new TestNsq({ lookupd: true });
  readonly ci = new CiSandbox('bench');
  readonly repo: TestRepo;
  readonly #children = new Set<ChildProcess>();
  #workers: ChildProcess[] = [];
  #url = '';

  /** `bin`: the lxcts to run (another build's bin/run.js, to compare builds interleaved). */
  constructor(readonly bin = binRun) {
    this.repo = TestRepo.create(path.join(this.ci.data.root, 'repos', 'trivial'), BUILD_FILE);
  }

  async start(): Promise<void> {
    await this.nsq.start();
    await this.nsq.createChannel(TOPIC, CHANNEL);
    const secretFile = path.join(this.ci.data.root, 'secret');
    fs.writeFileSync(secretFile, SECRET, { mode: 0o600 });
    const port = await freePort();
    this.#spawn('webhook', ['ci', 'webhook', '--listen', `127.0.0.1:${port}`, '--secret-file', secretFile, '--nsqd-http', this.nsq.nsqdHttp, '--topic', TOPIC]);
    this.#url = `http://127.0.0.1:${port}/hooks/github`;
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok === true, 'the webhook receiver', { seconds: 15 });
  }

  #spawn(label: string, args: string[]): ChildProcess {
    const log = fs.openSync(path.join(this.ci.data.root, `${label}.log`), 'a');
    const child = spawn(process.execPath, [this.bin, ...args], { env: { ...process.env, LXCTS_DATA_DIR: this.ci.data.root }, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Replaces the running workers with `count` new ones, connected to nsqd (`flags`: more of `ci worker`'s). */
  async workers(count: number, flags: string[] = []): Promise<void> {
    await stop(this.#workers);
    this.#workers = Array.from({ length: count }, (_, i) =>
      this.#spawn(`worker-${count}-${i}`, [
        'ci',
        'worker',
        '--nsqd-tcp',
        this.nsq.nsqdTcp,
        '--nsqd-http',
        this.nsq.nsqdHttp,
        '--channel',
        CHANNEL,
        '--topic',
        TOPIC,
        '--requeue-delay',
        '1',
        '--allow-local',
        path.dirname(this.repo.dir),
        ...flags,
      ]),
    );
    await waitFor(async () => (await this.clients()) === count, `${count} worker(s) on the channel`, { seconds: 30 });
  }

  async clients(): Promise<number> {
    const stats = (await (await fetch(`http://${this.nsq.nsqdHttp}/stats?format=json&topic=${TOPIC}`)).json()) as {
      topics: Array<{ channels: Array<{ channel_name: string; clients: unknown[] }> }> | null;
    };
    return stats.topics?.[0]?.channels.find((c) => c.channel_name === CHANNEL)?.clients.length ?? 0;
  }

  /** Sends a signed GitHub push event for `commit` on `branch`, as GitHub would. */
  async push(commit: string, branch: string): Promise<void> {
    const body = JSON.stringify({
      ref: `refs/heads/${branch}`,
      before: '0'.repeat(40),
      after: commit,
      repository: { full_name: REPO, clone_url: this.repo.dir },
      pusher: { name: 'bench' },
    });
    const response = await fetch(this.#url, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': await sign(SECRET, body),
      },
    });
    if (!response.ok) throw new Error(`the webhook receiver answered ${response.status}: ${await response.text()}`);
  }

  /** The finished builds of `commits`, once all have finished. */
  async finished(commits: string[], seconds = 120): Promise<Array<{ commit: string; status: string; logPath: string | null }>> {
    const wanted = new Set(commits);
    let done: Array<{ commit: string; status: string; logPath: string | null }> = [];
    await waitFor(
      () => {
        done = this.ci.store.list({ repo: REPO, limit: 10_000 }).filter((b) => wanted.has(b.commit) && !['queued', 'running'].includes(b.status));
        return done.length >= wanted.size;
      },
      `${wanted.size} build(s)`,
      { seconds, everyMs: 10 },
    );
    const failed = done.filter((b) => b.status !== 'success');
    if (failed.length) throw new Error(`${failed.length} build(s) did not succeed: ${failed.map((b) => `${b.commit.slice(0, 8)} ${b.status}`).join(', ')}`);
    return done;
  }

  newCommit(branch: string, message: string): string {
    this.repo.git('checkout', '-q', '-B', branch, 'main');
    const commit = this.repo.commit(message);
    this.repo.git('checkout', '-q', 'main');
    return commit;
  }

  async stop(): Promise<void> {
    await stop([...this.#children]);
    await this.nsq.stop();
    this.ci.cleanup();
  }
}

async function stop(children: ChildProcess[]): Promise<void> {
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of running) c.kill('SIGKILL');
  await Promise.all(running.map((c) => new Promise((r) => c.once('exit', r))));
}

/** What the build log says: when the first step ran (ms since the epoch) and the container's readiness. */
function readLog(logPath: string): { firstStepAtMs: number; containerReadyMs: number } {
  const log = fs.readFileSync(logPath, 'utf8');
  const [, ns] = /^(\d{18,20})$/m.exec(log) ?? [];
  const [, readyMs] = /container \S+ ready in ([\d.]+) ms/.exec(log) ?? [];
  if (ns === undefined || readyMs === undefined) throw new Error(`build log ${logPath} lacks the first step's clock or the container note`);
  return { firstStepAtMs: Number(BigInt(ns) / 1000n) / 1000, containerReadyMs: Number(readyMs) };
}

export async function runCiPipeline(scale: CiScale, progress: Progress): Promise<Result[]> {
  const pipeline = new Pipeline();
  const result = (workload: string, unit: string): Result => ({ workload, peer: 'lxcts', unit });
  const latency = result('CI: signed webhook → first step running in its fresh container', 'ms');
  const fresh = result('CI: fresh build container (overlay clone + config + start)', 'ms');
  const throughput = [1, 2].map((n) => result(`CI: trivial builds per minute, ${n} worker${n > 1 ? 's' : ''}`, 'builds per minute'));
  try {
    await pipeline.start();
    await pipeline.workers(1);
    // The first build makes the host base and the repository's mirror: not measured.
    const first = pipeline.newCommit('main', 'warm-up');
    await pipeline.push(first, 'main');
    await pipeline.finished([first]);
    const latencies: number[] = [];
    const ready: number[] = [];
    for (let i = 0; i < scale.latencyPushes; i++) {
      const commit = pipeline.newCommit('main', `latency ${i}`);
      const sentAt = wallMs();
      await pipeline.push(commit, 'main');
      const [build] = await pipeline.finished([commit]);
      if (!build?.logPath) throw new Error(`the build of ${commit} has no log`);
      const log = readLog(build.logPath);
      latencies.push(log.firstStepAtMs - sentAt);
      ready.push(log.containerReadyMs);
    }
    latency.summary = summarize(latencies);
    fresh.summary = summarize(ready);
    progress('CI: webhook to first step');
    for (const [i, r] of throughput.entries()) {
      const workers = i + 1;
      await pipeline.workers(workers);
      const commits = Array.from({ length: scale.throughputBuilds }, (_, j) => pipeline.newCommit(`w${workers}-${j}`, `throughput ${workers}/${j}`));
      const t0 = wallMs();
      for (const [j, commit] of commits.entries()) await pipeline.push(commit, `w${workers}-${j}`);
      await pipeline.finished(commits, 600);
      const perMinute = commits.length / ((wallMs() - t0) / 60_000);
      r.summary = summarize([perMinute]);
      r.extra = { builds: commits.length };
      progress(`CI: builds per minute with ${workers} worker(s)`);
    }
  } catch (err) {
    for (const r of [latency, fresh, ...throughput]) if (!r.summary) r.error = (err as Error).message;
  } finally {
    await pipeline.stop();
  }
  return [latency, fresh, ...throughput];
}
