/**
 * The CI server's consumers against a real nsqd and a real SQLite file: build events and
 * log chunks published shuffled and twice end as the same rows and the exact log; the
 * consumer process SIGKILLed mid-stream, nsqd restarted, the consumer started again:
 * nothing lost, nothing doubled. And the workers' side: LogChunks publishing to nsqd while
 * the in-process consumer reads.
 */
import Database from 'better-sqlite3';
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { LogChunks, LOGS_TOPIC } from '../src/ci/log-chunks';
import { loggerFor } from '../src/ci/logger';
import { publishMessage } from '../src/ci/nsq-api';
import { EVENTS_TOPIC, ingestChunkBody, ingestEventBody, SERVER_CHANNEL, startIngest } from '../src/server/ingest';
import { ServerStore } from '../src/server/server-store';
import { must } from './helpers/must';
import { TestNsq } from './helpers/nsq';
import { buildEvents, chunkMessages, sampleOutput, seeded, shuffled } from './helpers/server-events';
import { waitFor } from './helpers/wait';

const CHILD = path.join(__dirname, 'fixtures', 'server-ingest-child.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-server-ingest-'));
// A message a killed consumer held comes back after this (nsqd's default is a minute).
const nsq = new TestNsq({ nsqdFlags: ['--msg-timeout=2s'] });
const children = new Set<ChildProcess>();
const stores: ServerStore[] = [];
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  await nsq.start();
  for (const topic of [EVENTS_TOPIC, LOGS_TOPIC]) await nsq.createChannel(topic, SERVER_CHANNEL);
});

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  for (const c of cleanups) c();
  for (const s of stores) s.close();
  await nsq.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function openStore(file: string): ServerStore {
  const store = new ServerStore(file);
  stores.push(store);
  return store;
}

/** Publishes messages in batches with nsqd's /mpub (newline-separated: the JSON has no newline). */
async function publishAll(topic: string, bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 100) {
    const response = await fetch(`http://${nsq.nsqdHttp}/mpub?topic=${topic}`, { method: 'POST', body: bodies.slice(i, i + 100).join('\n') });
    expect(response.status).toBe(200);
  }
}

async function startChild(file: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CHILD, file, nsq.nsqdTcp], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => out.includes('ready') || child.exitCode !== null, 'the consumer to start');
  expect(child.exitCode).toBeNull();
  return child;
}

test('killed mid-stream (SIGKILL), nsqd restarted, started again: every event and every log byte, once', async () => {
  const random = seeded(21);
  const output = sampleOutput(1_500_000, random);
  const logged = buildEvents({ id: 1 });
  const { bodies: chunks, totals } = await chunkMessages(logged.key, output, random);
  const withLog = buildEvents({ id: 1, log: totals }).events.map((e) => JSON.stringify({ ...(JSON.parse(e) as object), key: logged.key }));
  const others = [buildEvents({ id: 2, status: 'failure' }), buildEvents({ id: 1, worker: 'host-b', repo: 'octo/other' })];
  const events = [...withLog, ...others.flatMap((b) => b.events)];
  const keys = [logged.key, ...others.map((b) => b.key)];

  // What the store holds when every message is ingested once, in order.
  const reference = openStore(path.join(dir, 'reference.db'));
  for (const e of events) ingestEventBody(reference, e);
  for (const c of chunks) ingestChunkBody(reference, c);

  const file = path.join(dir, 'server.db');
  const reader = openStore(file);
  const raw = new Database(file, { readonly: true });
  cleanups.push(() => raw.close());
  const counter = raw.prepare<[], { n: number }>('SELECT count(*) AS n FROM log_chunks');
  const [eventsFirst, eventsLater] = [shuffled(events, random), shuffled([...events, ...events.slice(0, 5)], random)];
  const chunksShuffled = shuffled([...chunks, ...chunks.slice(0, 20)], random);
  const half = Math.floor(chunksShuffled.length / 2);

  let child = await startChild(file);
  await publishAll(EVENTS_TOPIC, eventsFirst.slice(0, 8));
  await publishAll(LOGS_TOPIC, chunksShuffled.slice(0, half));
  // Kill it while it is writing: some chunks stored, not yet all of the half published.
  const stored = (): number => counter.get()?.n ?? 0;
  await waitFor(() => stored() >= 10, 'the consumer to store some chunks', { everyMs: 5 });
  child.kill('SIGKILL');
  await once(child, 'exit');
  const storedAtKill = stored();

  // nsqd restarts too: what it held (queued and in flight) is on its disk.
  await nsq.stopNsqd();
  await nsq.startNsqd();
  await publishAll(EVENTS_TOPIC, [...eventsFirst.slice(8), ...eventsLater]);
  await publishAll(LOGS_TOPIC, chunksShuffled.slice(half));

  child = await startChild(file);
  await waitFor(
    () => reader.readLog(logged.key, 0, 0).complete && keys.every((k) => ['success', 'failure'].includes(reader.getByKey(k)?.status ?? '')),
    () => `the whole log and every build (${stored()} of ${chunks.length} chunks; ${storedAtKill} when killed)`,
    { seconds: 60 },
  );
  child.kill('SIGKILL');
  await once(child, 'exit');

  const without = (store: ServerStore) =>
    keys.map((k) => {
      const { id: _id, ...build } = must(store.getByKey(k), k);
      return { build, steps: store.steps(k) };
    });
  expect(without(reader)).toEqual(without(reference));
  const log = reader.readLog(logged.key, 0, output.length);
  expect(log.data.equals(output)).toBe(true);
  expect(log.complete).toBe(true);
});

test("a worker's LogChunks published to nsqd reach the server's consumer as the exact log", async () => {
  const file = path.join(dir, 'live.db');
  const store = openStore(file);
  const ingest = await startIngest({ store, nsqd: [nsq.nsqdTcp], log: loggerFor('server-test') });
  try {
    const build = buildEvents({ id: 7 });
    const chunks = new LogChunks({ send: (body) => publishMessage(nsq.nsqdHttp, LOGS_TOPIC, body) });
    chunks.bind(build.key);
    const output = sampleOutput(100_000, seeded(5));
    for (let at = 0; at < output.length; at += 777) chunks.write(output.subarray(at, at + 777));
    const totals = await chunks.settle();
    await chunks.close();
    for (const e of buildEvents({ id: 7, log: totals }).events) {
      await publishMessage(nsq.nsqdHttp, EVENTS_TOPIC, JSON.stringify({ ...(JSON.parse(e) as object), key: build.key }));
    }
    await waitFor(() => store.readLog(build.key, 0, 0).complete, 'the log to be complete');
    expect(store.readLog(build.key, 0, output.length).data.equals(output)).toBe(true);
    expect(totals.chunks).toBe(Math.ceil(output.length / (16 * 1024)));
  } finally {
    ingest.close();
  }
});
