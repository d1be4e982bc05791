/**
 * The server's operations views against a real nsqd and a real server (startServer):
 * /metrics parsed by Prometheus's own parser after real events (a replay counts nothing
 * twice; a second server in the same process keeps its own numbers; an unreachable nsqd
 * is lxcts_nsqd_up 0, not a failed scrape), and /queue, /api/queue saying why a push
 * waits: no worker on its channel, a paused channel, a worker holding its only message.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import { Message, Reader } from 'nsqjs';

import { loggerFor } from '../src/ci/logger';
import { publishMessage } from '../src/ci/nsq-api';
import type { BuildMessage } from '../src/ci/push-event';
import { type RunningServer, serverApp, startServer } from '../src/server/app';
import { EVENTS_TOPIC, SERVER_CHANNEL } from '../src/server/ingest';
import { LiveStore } from '../src/server/live-store';
import { PUSH_TOPIC } from '../src/ci/push-event';
import { PUSH_WATCH_CHANNEL } from '../src/server/push-queue';
import type { QueueView } from '../src/server/queue-page';
import { startServer as startHttp } from './helpers/http-server';
import { freePort, TestNsq } from './helpers/nsq';
import { parsePrometheus, type PromSample, sampleValue } from './helpers/prometheus';
import { buildEvents } from './helpers/server-events';
import { waitFor } from './helpers/wait';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-server-ops-'));
const nsq = new TestNsq();
const log = loggerFor('server-ops-test');
const servers: RunningServer[] = [];
const readers: Reader[] = [];
let server: RunningServer;
/** Build events published so far (to know when the server has taken them all). */
let eventsPublished = 0;

beforeAll(async () => {
  await nsq.start();
  // Job channels exist before any push, as the receiver's --channel makes them.
  for (const channel of ['binaries', 'docs', 'held']) await nsq.createChannel(PUSH_TOPIC, channel);
  server = await start(path.join(dir, 'a'), [nsq.nsqdHttp]);
  // The push watch is an ephemeral channel: it exists once the server's reader subscribed.
  await waitFor(async () => (await channelStats(PUSH_TOPIC, PUSH_WATCH_CHANNEL))?.clients?.length === 1, "the server's push watch");
});

afterAll(async () => {
  for (const r of readers) r.close();
  for (const s of servers) await s.close();
  await nsq.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function start(dataDir: string, nsqdHttp: string[]): Promise<RunningServer> {
  const s = await startServer({ dataDir, host: '127.0.0.1', port: 0, nsqdTcp: [nsq.nsqdTcp], nsqdHttp, log });
  servers.push(s);
  return s;
}

interface ChannelStats {
  channel_name: string;
  depth: number;
  in_flight_count: number;
  message_count: number;
  clients: Array<{ hostname: string }> | null;
}

async function channelStats(topic: string, channel: string): Promise<ChannelStats | undefined> {
  const stats = (await (await fetch(`http://${nsq.nsqdHttp}/stats?format=json&topic=${topic}`)).json()) as {
    topics: Array<{ topic_name: string; channels: ChannelStats[] | null }> | null;
  };
  return stats.topics?.find((t) => t.topic_name === topic)?.channels?.find((c) => c.channel_name === channel);
}

/** Publishes build events and waits until the server has finished (stored) every one published so far. */
async function publishEvents(bodies: string[]): Promise<void> {
  for (const body of bodies) await publishMessage(nsq.nsqdHttp, EVENTS_TOPIC, body);
  eventsPublished += bodies.length;
  await waitFor(async () => {
    const c = await channelStats(EVENTS_TOPIC, SERVER_CHANNEL);
    return c !== undefined && c.message_count === eventsPublished && c.depth === 0 && c.in_flight_count === 0;
  }, 'the server to store every event');
}

let deliveries = 0;
function push(after: string, receivedAt = Date.now()): BuildMessage {
  return {
    kind: 'push',
    delivery: `delivery-${++deliveries}`,
    repo: 'local/hello',
    cloneUrl: '/srv/git/hello.git',
    ref: 'refs/heads/main',
    before: '0'.repeat(39) + '1',
    after,
    pusher: 'alice',
    receivedAt,
  };
}

async function metrics(url: string): Promise<PromSample[]> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await response.text());
}

async function queue(url: string): Promise<QueueView> {
  const response = await fetch(`${url}/api/queue`);
  expect(response.status).toBe(200);
  return (await response.json()) as QueueView;
}

/** How a waiting push's channels are explained, by channel; undefined when it waits nowhere. */
function reasonsOf(view: QueueView, after: string): Record<string, string> | undefined {
  const waiting = view.waiting.find((w) => w.push.after === after);
  return waiting && Object.fromEntries(waiting.channels.map((c) => [c.channel, c.reason]));
}

/**
 * The queue view once it explains `after`'s push with `reasons`: requests share one reading
 * of nsqd for up to a second (nsq-readings.ts), so what nsqd just did shows a moment later.
 */
async function queueShowing(url: string, after: string, reasons: Record<string, string>): Promise<QueueView> {
  let view: QueueView | undefined;
  await waitFor(
    async () => isDeepStrictEqual(reasonsOf((view = await queue(url)), after), reasons),
    () => `the queue to explain ${after.slice(0, 12)} with ${JSON.stringify(reasons)}; last: ${JSON.stringify(view && reasonsOf(view, after))}`,
  );
  return view as QueueView;
}

describe('/metrics', () => {
  test('builds by status and job, durations and queue waits once per build, nsqd channels', async () => {
    const commit = 'a'.repeat(40);
    // The push the builds were made for, received a second before they started (helpers/server-events.ts: started 10:00:01).
    await publishMessage(nsq.nsqdHttp, PUSH_TOPIC, JSON.stringify(push(commit, Date.parse('2026-12-04T10:00:00.000Z'))));
    await waitFor(async () => (await queue(server.url)).waiting.some((w) => w.push.after === commit), 'the server to see the push');
    const ok = buildEvents({ id: 1, job: 'binaries', status: 'success' }).events;
    const failed = buildEvents({ id: 2, job: 'docs', status: 'failure' }).events;
    await publishEvents([...ok, ...failed]);
    // Replayed, and in another order: nothing may be counted twice.
    await publishEvents([...failed].reverse().concat(ok));

    const samples = await metrics(server.url);
    expect(sampleValue(samples, 'lxcts_builds', { status: 'success', job: 'binaries' })).toBe(1);
    expect(sampleValue(samples, 'lxcts_builds', { status: 'failure', job: 'docs' })).toBe(1);
    expect(sampleValue(samples, 'lxcts_builds', { status: 'running', job: 'binaries' })).toBeUndefined();
    // Started 10:00:01, finished 10:00:09: 8 s each, observed once.
    expect(sampleValue(samples, 'lxcts_build_duration_seconds_count', { job: 'binaries', status: 'success' })).toBe(1);
    expect(sampleValue(samples, 'lxcts_build_duration_seconds_sum', { job: 'binaries', status: 'success' })).toBe(8);
    expect(sampleValue(samples, 'lxcts_build_duration_seconds_bucket', { job: 'binaries', status: 'success', le: '5' })).toBe(0);
    expect(sampleValue(samples, 'lxcts_build_duration_seconds_bucket', { job: 'binaries', status: 'success', le: '15' })).toBe(1);
    expect(sampleValue(samples, 'lxcts_build_duration_seconds_count', { job: 'docs', status: 'failure' })).toBe(1);
    expect(sampleValue(samples, 'lxcts_queue_wait_seconds_count', { job: 'binaries' })).toBe(1);
    expect(sampleValue(samples, 'lxcts_queue_wait_seconds_sum', { job: 'binaries' })).toBe(1);
    expect(sampleValue(samples, 'lxcts_queue_wait_seconds_sum', { job: 'docs' })).toBe(1);
    // nsqd's side: the push waits on the job channels nobody consumes.
    expect(sampleValue(samples, 'lxcts_nsqd_up', { nsqd: nsq.nsqdHttp })).toBe(1);
    const binaries = { nsqd: nsq.nsqdHttp, topic: PUSH_TOPIC, channel: 'binaries' };
    expect(sampleValue(samples, 'lxcts_nsq_channel_depth', binaries)).toBe(1);
    expect(sampleValue(samples, 'lxcts_nsq_channel_in_flight', binaries)).toBe(0);
    expect(sampleValue(samples, 'lxcts_nsq_channel_clients', binaries)).toBe(0);
    expect(sampleValue(samples, 'lxcts_nsq_channel_clients', { topic: EVENTS_TOPIC, channel: SERVER_CHANNEL })).toBe(1);
    // The server's ephemeral channel is not a series.
    expect(samples.some((s) => s.labels.channel?.endsWith('#ephemeral'))).toBe(false);
  });

  test('a second server in the same process has its own registry; an unreachable nsqd is lxcts_nsqd_up 0', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const store = new LiveStore(path.join(dir, 'other.sqlite'));
    const stopping = new AbortController();
    const app = serverApp({ store, binariesRoot: dir, docsRoot: dir, stopping: stopping.signal, ops: { nsqdHttp: [dead], log } });
    const other = await startHttp(app);
    try {
      const samples = await metrics(other.url);
      expect(sampleValue(samples, 'lxcts_nsqd_up', { nsqd: dead })).toBe(0);
      expect(sampleValue(samples, 'lxcts_build_duration_seconds_count', { job: 'binaries', status: 'success' })).toBeUndefined();
      expect(samples.filter((s) => s.name === 'lxcts_builds')).toEqual([]);
      // And the first server's numbers are as they were.
      expect(sampleValue(await metrics(server.url), 'lxcts_build_duration_seconds_count', { job: 'binaries', status: 'success' })).toBe(1);
      const view = await queue(other.url);
      expect(view.nsqds).toEqual([{ nsqd: dead, up: false, error: expect.stringMatching(/ECONNREFUSED/) as unknown }]);
    } finally {
      stopping.abort();
      await other.close();
      store.close();
    }
  });
});

describe('/queue', () => {
  test('why a push waits: no worker, paused, all busy; then built, then taken', async () => {
    // A worker of "held" that takes one message and holds it.
    const held: Message[] = [];
    const reader = new Reader(PUSH_TOPIC, 'held', { nsqdTCPAddresses: [nsq.nsqdTcp], maxInFlight: 1 });
    readers.push(reader);
    reader.on('message', (m: Message) => held.push(m));
    reader.connect();
    await waitFor(async () => (await channelStats(PUSH_TOPIC, 'held'))?.clients?.length === 1, 'the held worker to connect');
    // The first test's push is on "held" too: the worker takes it and holds it.
    await waitFor(() => held.length === 1, 'the worker to take the first push');
    const pauseDocs = await fetch(`http://${nsq.nsqdHttp}/channel/pause?topic=${PUSH_TOPIC}&channel=docs`, { method: 'POST' });
    expect(pauseDocs.status).toBe(200);

    const commit = 'b'.repeat(40);
    await publishMessage(nsq.nsqdHttp, PUSH_TOPIC, JSON.stringify(push(commit)));
    await waitFor(async () => reasonsOf(await queue(server.url), commit) !== undefined, 'the server to see the push');
    const view = await queueShowing(server.url, commit, { binaries: 'no-worker', docs: 'paused', held: 'all-busy' });
    const heldChannel = view.channels.find((c) => c.channel === 'held');
    expect(heldChannel).toMatchObject({ depth: 1, inFlight: 1, reason: 'all-busy' });
    expect(view.workers).toEqual([expect.objectContaining({ channel: 'held', hostname: os.hostname(), inFlight: 1, ready: 1, connected: true })]);
    // The page says the same, escaped, and the builds page links to it.
    const html = await (await fetch(`${server.url}/queue`)).text();
    expect(html).toContain('data-reason="no-worker"');
    expect(html).toContain('data-reason="paused"');
    expect(html).toContain('data-reason="all-busy"');
    expect(await (await fetch(`${server.url}/`)).text()).toContain('href="/queue"');

    // A build of the push's "binaries" job: it no longer waits there.
    await publishEvents(buildEvents({ id: 3, job: 'binaries', status: 'success' }).events.map((e) => e.replaceAll('a'.repeat(40), commit)));
    await queueShowing(server.url, commit, { docs: 'paused', held: 'all-busy' });

    // The worker finishes what it holds and takes the next: "held" ends empty, nothing waits there.
    const first = held.shift();
    first?.finish();
    await waitFor(() => held.length === 1, 'the worker to take the second push');
    await queueShowing(server.url, commit, { docs: 'paused', held: 'taken' });
    held.shift()?.finish();
    await waitFor(async () => (await channelStats(PUSH_TOPIC, 'held'))?.in_flight_count === 0, 'the second push finished');
    await queueShowing(server.url, commit, { docs: 'paused' });
  });
});

describe('/queue, later pushes', () => {
  test('a worker that requeued its message with a delay: waiting for a retry', async () => {
    // Made now: only pushes from here on reach it.
    await nsq.createChannel(PUSH_TOPIC, 'retry');
    const reader = new Reader(PUSH_TOPIC, 'retry', { nsqdTCPAddresses: [nsq.nsqdTcp], maxInFlight: 1 });
    readers.push(reader);
    reader.on('message', (m: Message) => m.requeue(600_000, false));
    reader.connect();
    await waitFor(async () => (await channelStats(PUSH_TOPIC, 'retry'))?.clients?.length === 1, 'the retrying worker to connect');
    const commit = 'c'.repeat(40);
    await publishMessage(nsq.nsqdHttp, PUSH_TOPIC, JSON.stringify(push(commit)));
    await waitFor(async () => reasonsOf(await queue(server.url), commit)?.retry === 'retry-wait', 'the push to wait for its retry');
    await queueShowing(server.url, commit, { binaries: 'no-worker', docs: 'paused', held: 'taken', retry: 'retry-wait' });
  });

  test('nsqd down: /metrics still answers (lxcts_nsqd_up 0), and every waiting push says nsqd is unreachable', async () => {
    await nsq.stopNsqd();
    let samples: PromSample[] = [];
    await waitFor(async () => sampleValue((samples = await metrics(server.url)), 'lxcts_nsqd_up', { nsqd: nsq.nsqdHttp }) === 0, 'lxcts_nsqd_up 0');
    expect(sampleValue(samples, 'lxcts_builds', { status: 'success', job: 'binaries' })).toBe(2);
    // ("held": its worker holds this push too, unfinished.)
    const everywhere = { binaries: 'nsqd-unreachable', docs: 'nsqd-unreachable', held: 'nsqd-unreachable', retry: 'nsqd-unreachable' };
    const view = await queueShowing(server.url, 'c'.repeat(40), everywhere);
    expect(view.nsqds).toEqual([{ nsqd: nsq.nsqdHttp, up: false, error: expect.stringMatching(/ECONNREFUSED/) as unknown }]);
    expect(await (await fetch(`${server.url}/queue`)).text()).toContain('unreachable');
  });
});

describe('where nsqd is', () => {
  test('through nsqlookupd only: the queue and the metrics read every nsqd it knows', async () => {
    const withLookupd = await new TestNsq({ lookupd: true }).start();
    let s: RunningServer | undefined;
    try {
      await withLookupd.createChannel(PUSH_TOPIC, 'binaries');
      s = await startServer({ dataDir: path.join(dir, 'c'), host: '127.0.0.1', port: 0, lookupd: [withLookupd.lookupdHttp], log });
      const { url } = s;
      // nsqd registers with nsqlookupd on its own schedule.
      await waitFor(async () => (await queue(url)).nsqds.length === 1, 'nsqlookupd to name the nsqd');
      const view = await queue(url);
      expect(view.nsqds).toEqual([{ nsqd: withLookupd.nsqdHttp, up: true }]);
      expect(view.channels.map((c) => [c.channel, c.reason])).toEqual([['binaries', 'empty']]);
      expect(sampleValue(await metrics(url), 'lxcts_nsqd_up', { nsqd: withLookupd.nsqdHttp })).toBe(1);
    } finally {
      await s?.close();
      await withLookupd.stop();
    }
  });

  test('a pushes topic that is not an NSQ name is refused', () => {
    const store = new LiveStore(path.join(dir, 'refused.sqlite'));
    try {
      const stopping = new AbortController();
      expect(() =>
        serverApp({ store, binariesRoot: dir, docsRoot: dir, stopping: stopping.signal, ops: { nsqdHttp: [nsq.nsqdHttp], pushTopic: 'a/../b', log } }),
      ).toThrow(/not an NSQ topic name/);
    } finally {
      store.close();
    }
  });
});
