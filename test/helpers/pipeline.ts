/**
 * What the pipeline tests share: the lxcts processes of one test (workers, receivers) with
 * their logs and their cleanup, build requests as the receiver would publish them, and
 * nsqd's counters. (A signed push event: sendPushEvent of src/ci/hook-spool.ts.)
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { BuildMessage } from '../../src/ci/push-event';
import { binRun } from './cli';
import { TestRepo } from './repo';
import { waitFor } from './wait';

/**
 * `lxcts` processes run from dist/ against one data directory. Each writes stdout and
 * stderr to `<data directory's name>-<label>-<n>.log` in $LXCTS_TEST_LOGS (to keep them) or
 * the data directory: named after the data directory, so that the test files of one run
 * (which share $LXCTS_TEST_LOGS) never read each other's lines.
 * killAll() in afterEach/afterAll: a test that fails half-way must not leave a worker to
 * take the next test's messages.
 */
export class CliProcesses {
  readonly #running = new Set<ChildProcess>();
  readonly #logs = new Map<ChildProcess, string>();
  #seq = 0;

  constructor(readonly dataRoot: string) {}

  get logDir(): string {
    return process.env.LXCTS_TEST_LOGS || this.dataRoot;
  }

  start(args: string[], label: string): ChildProcess {
    const file = path.join(this.logDir, `${path.basename(this.dataRoot)}-${label}-${this.#seq++}.log`);
    const log = fs.openSync(file, 'a');
    try {
      const child = spawn(process.execPath, [binRun, ...args], { env: { ...process.env, LXCTS_DATA_DIR: this.dataRoot }, stdio: ['ignore', log, log] });
      this.#logs.set(child, file);
      return this.track(child);
    } finally {
      fs.closeSync(log); // the child has its own copy
    }
  }

  /** Another process of the test (a stand-in server), killed with the others. */
  track(child: ChildProcess): ChildProcess {
    this.#running.add(child);
    child.once('exit', () => this.#running.delete(child));
    return child;
  }

  /** What `child` has written so far. */
  logOf(child: ChildProcess): string {
    const file = this.#logs.get(child);
    return file === undefined ? '' : fs.readFileSync(file, 'utf8');
  }

  /**
   * `lxcts ci worker` of `channel`, finding nsqd through `discovery` (`--lookupd A`, or
   * `--nsqd-tcp A --nsqd-http B`). Unless `extra` says otherwise, a failed attempt is retried
   * after 1 s and builds may take 600 s. Logs: `worker-<channel>-<n>.log`.
   */
  startWorker(discovery: string[], channel: string, ...extra: string[]): ChildProcess {
    const defaults = [
      ...(extra.includes('--requeue-delay') ? [] : ['--requeue-delay', '1']),
      ...(extra.includes('--build-timeout') ? [] : ['--build-timeout', '600']),
    ];
    return this.start(['ci', 'worker', ...discovery, '--channel', channel, ...defaults, ...extra], `worker-${channel}`);
  }

  /** `lxcts ci webhook --listen 127.0.0.1:<port> ...flags`, once it answers /healthz. */
  async startReceiver(port: number, ...flags: string[]): Promise<ChildProcess> {
    const receiver = this.start(['ci', 'webhook', '--listen', `127.0.0.1:${port}`, ...flags], 'receiver');
    await waitFor(
      () =>
        fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      () => `the receiver on port ${port}; its log:\n${this.logOf(receiver)}`,
      { seconds: 60, everyMs: 100 },
    );
    return receiver;
  }

  /** SIGKILLs every process still running and waits until they are gone. */
  async killAll(): Promise<void> {
    const running = [...this.#running].filter((p) => p.exitCode === null && p.signalCode === null);
    for (const p of running) p.kill('SIGKILL');
    await Promise.all(running.map((p) => new Promise((r) => p.once('exit', r))));
  }
}

/** Signals `child` (SIGTERM: a clean stop) and resolves with its exit code (null when a signal ended it). */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill(signal);
  return exited;
}

let requests = 0;

/** A push of `commit` to main of `repo` (named test/<dir>), as the receiver publishes it; each with its own delivery id. */
export function buildRequest(repo: TestRepo, commit: string, overrides: Partial<BuildMessage> = {}): BuildMessage {
  return {
    kind: 'push',
    delivery: `d-${process.pid}-${requests++}`,
    repo: `test/${path.basename(repo.dir)}`,
    cloneUrl: repo.dir,
    ref: 'refs/heads/main',
    before: '0'.repeat(40),
    after: commit,
    pusher: 'tests',
    receivedAt: Date.now(),
    ...overrides,
  };
}

export interface ChannelStats {
  channel_name: string;
  depth: number;
  in_flight_count: number;
  deferred_count: number;
  message_count: number;
  requeue_count: number;
  clients: unknown[];
}

export interface TopicStats {
  topic_name: string;
  /** Messages ever published to the topic, not only those waiting. */
  message_count: number;
  channels: ChannelStats[];
}

/** nsqd's counters of `topic` (GET /stats), or null while the topic does not exist. */
export async function topicStats(nsqdHttp: string, topic: string): Promise<TopicStats | null> {
  const response = await fetch(`http://${nsqdHttp}/stats?format=json&topic=${encodeURIComponent(topic)}`);
  const stats = (await response.json()) as { topics: TopicStats[] | null };
  return (stats.topics ?? []).find((t) => t.topic_name === topic) ?? null;
}

/** The counters of one channel of `topic`, or undefined while it does not exist. */
export async function channelStats(nsqdHttp: string, topic: string, channel: string): Promise<ChannelStats | undefined> {
  return (await topicStats(nsqdHttp, topic))?.channels.find((c) => c.channel_name === channel);
}
