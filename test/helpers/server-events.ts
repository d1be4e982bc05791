/** Synthetic build events and log chunks as workers publish them (worker.ts, log-chunks.ts), for the server's tests. */
import { randomUUID } from 'node:crypto';

import type { BuildStatus } from '../../src/ci/build-status';
import { LogChunks } from '../../src/ci/log-chunks';

export interface SyntheticBuild {
  key: string;
  events: string[];
}

export { seeded } from './random';

export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * The events of one build, in the order a worker publishes them: queued, started, two
 * steps, finished with `status` (and the log's totals when given). With `pull`, a pull
 * request's build of GitHub's merge commit (`commit`, ref refs/pull/N/merge): every event
 * names the pull request's head.
 */
export function buildEvents(
  options: {
    id: number;
    repo?: string;
    cloneUrl?: string;
    commit?: string;
    branch?: string;
    job?: string;
    status?: BuildStatus;
    message?: string;
    worker?: string;
    log?: { chunks: number; bytes: number };
    pull?: { number: number; head: string };
  } = {
    id: 1,
  },
): SyntheticBuild {
  const key = randomUUID();
  const status = options.status ?? 'success';
  const record = {
    id: options.id,
    repo: options.repo ?? 'local/hello',
    cloneUrl: options.cloneUrl ?? '/srv/git/hello.git',
    commit: options.commit ?? 'a'.repeat(40),
    ref: options.pull ? `refs/pull/${options.pull.number}/merge` : `refs/heads/${options.branch ?? 'main'}`,
    branch: options.pull ? null : (options.branch ?? 'main'),
    job: options.job ?? 'binaries',
    status: 'queued' as BuildStatus,
    createdAt: '2026-12-04T10:00:00.000Z',
    startedAt: null as string | null,
    finishedAt: null as string | null,
    exitCode: null as number | null,
    message: null as string | null,
    logPath: `/var/lib/lxcts/logs/${options.id}.log`,
    artifacts: [] as string[],
    builderPid: 42,
    builder: 'boot:42:1',
    container: `lxcts-build-${options.id}`,
  };
  const running = { ...record, status: 'running' as BuildStatus, startedAt: '2026-12-04T10:00:01.000Z' };
  const done = {
    ...running,
    status,
    finishedAt: '2026-12-04T10:00:09.000Z',
    exitCode: status === 'success' ? 0 : 2,
    message: status === 'success' ? null : (options.message ?? 'step 2 failed'),
    artifacts: status === 'success' ? ['hello'] : [],
  };
  const common = { key, worker: options.worker ?? 'host-a', job: record.job, ...(options.pull ? { head: options.pull.head } : {}) };
  let seq = 0;
  const at = (n: number) => 1_800_000_000_000 + n;
  const events: object[] = [
    { type: 'queued', build: record },
    { type: 'started', build: running },
    { type: 'step-started', step: 1, command: 'make', build: running },
    { type: 'step-finished', step: 1, command: 'make', exitCode: 0, seconds: 1.5, build: running },
    { type: 'step-started', step: 2, command: 'make test', build: running },
    { type: 'step-finished', step: 2, command: 'make test', exitCode: done.exitCode, seconds: 2.25, build: running },
    { type: 'finished', build: done, published: { binaries: null, docs: null }, ...(options.log ? { log: options.log } : {}) },
  ];
  return { key, events: events.map((e) => JSON.stringify({ ...e, ...common, seq: seq, at: at(seq++) })) };
}

/** Some build output: lines with ANSI colours and bytes that are not UTF-8. */
export function sampleOutput(bytes: number, random: () => number): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  for (let line = 0; size < bytes; line++) {
    const part = Buffer.concat([Buffer.from(`\x1b[32mline ${line}\x1b[0m ${'x'.repeat(Math.floor(random() * 200))} `), Buffer.from([0xff, 0xfe, 0x0a])]);
    parts.push(part);
    size += part.length;
  }
  return Buffer.concat(parts).subarray(0, bytes);
}

/**
 * Cuts `output` into chunk messages for build `key` the way a worker does, written in
 * pieces of random size; returns the messages and the totals the finished event carries.
 */
export async function chunkMessages(
  key: string,
  output: Buffer,
  random: () => number,
  maxBytes = 4096,
): Promise<{ bodies: string[]; totals: { chunks: number; bytes: number } }> {
  const bodies: string[] = [];
  const chunks = new LogChunks({ send: (body) => Promise.resolve(void bodies.push(body)), maxBytes });
  chunks.bind(key);
  let at = 0;
  let step = 1;
  while (at < output.length) {
    const n = 1 + Math.floor(random() * 3000);
    chunks.write(output.subarray(at, at + n));
    at += n;
    if (random() < 0.05) chunks.step(++step);
  }
  const totals = await chunks.settle();
  await chunks.close();
  return { bodies, totals };
}
