/**
 * /metrics against topics and channels made on nsqd by someone else (anyone who can reach
 * nsqd's HTTP port): each used to be series of the channel gauges. A real nsqd with 200 junk
 * topics and 120 junk channels on the server's push topic, a real server (startServer) with
 * its own --push-topic, a real consumer; the exposition read by Prometheus's parser.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Reader } from 'nsqjs';

import { loggerFor } from '../src/ci/logger';
import { type RunningServer, startServer } from '../src/server/app';
import { EVENTS_TOPIC, SERVER_CHANNEL } from '../src/server/ingest';
import { MAX_CHANNELS_PER_TOPIC } from '../src/server/metrics';
import { TestNsq } from './helpers/nsq';
import { parsePrometheus, sampleValue } from './helpers/prometheus';
import { waitFor } from './helpers/wait';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-nsq-topics-'));
const nsq = new TestNsq();
const PUSHES = 'custom.pushes';
const JUNK_TOPICS = 200;
const JUNK_CHANNELS = 120;
let server: RunningServer | undefined;
let reader: Reader | undefined;

beforeAll(async () => {
  await nsq.start();
});

afterAll(async () => {
  reader?.close();
  await server?.close();
  await nsq.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the channel gauges cover only the server topics, at most MAX_CHANNELS_PER_TOPIC each, consumed channels kept', async () => {
  for (let i = 0; i < JUNK_TOPICS; i++) await nsq.createChannel(`junk-${i}`, 'c');
  // On the server's own push topic: junk names that sort before the real ones.
  for (let i = 0; i < JUNK_CHANNELS; i++) await nsq.createChannel(PUSHES, `aaa-${String(i).padStart(3, '0')}`);
  // A job channel with a worker on it, whose name sorts after every junk one.
  reader = new Reader(PUSHES, 'zz-worker', { nsqdTCPAddresses: [nsq.nsqdTcp] });
  reader.connect();
  server = await startServer({
    dataDir: dir,
    host: '127.0.0.1',
    port: 0,
    nsqdTcp: [nsq.nsqdTcp],
    nsqdHttp: [nsq.nsqdHttp],
    pushTopic: PUSHES,
    log: loggerFor('nsq-topics-test'),
  });
  const url = server.url;
  const scrape = async () => parsePrometheus(await (await fetch(`${url}/metrics`)).text());
  let samples = await scrape();
  // Each topic's reading is shared for a second: both consumers show once readings taken after they connected do.
  await waitFor(async () => {
    samples = await scrape();
    return (
      sampleValue(samples, 'lxcts_nsq_channel_clients', { topic: PUSHES, channel: 'zz-worker' }) === 1 &&
      sampleValue(samples, 'lxcts_nsq_channel_clients', { topic: EVENTS_TOPIC, channel: SERVER_CHANNEL }) === 1
    );
  }, 'the worker on zz-worker and the server on its own channel in /metrics');
  const channelSamples = samples.filter((s) => s.family === 'lxcts_nsq_channel_depth');
  const topics = new Set(channelSamples.map((s) => s.labels.topic));
  // Without the restriction: 200 junk topics, 120 channels more on the push topic.
  expect([...topics].filter((t) => t?.startsWith('junk-'))).toEqual([]);
  expect([...topics].every((t) => [PUSHES, EVENTS_TOPIC, 'lxcts.logs', 'lxcts.control'].includes(t as string))).toBe(true);
  expect(channelSamples.filter((s) => s.labels.topic === PUSHES)).toHaveLength(MAX_CHANNELS_PER_TOPIC);
  // The server's own channel and the consumed job channel keep their series.
  expect(sampleValue(samples, 'lxcts_nsq_channel_clients', { topic: EVENTS_TOPIC, channel: SERVER_CHANNEL })).toBe(1);
  expect(sampleValue(samples, 'lxcts_nsqd_up', { nsqd: nsq.nsqdHttp })).toBe(1);
  // Four gauges of at most 50 channels on four topics, and the rest: far fewer than the junk would make.
  expect(samples.length).toBeLessThan(1000);
});
