/**
 * /metrics against forged build events (anyone who can publish to nsqd's events topic): a
 * job label per job name the events carry lets the sender make as many series as it sends
 * names, in the server's memory (histograms are never reset) and in every Prometheus
 * scraping it. The events go through the server's own ingest into a real store; the
 * exposition is read by Prometheus's parser.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ingestEventBody } from '../src/server/ingest';
import { LiveStore } from '../src/server/live-store';
import { ServerMetrics } from '../src/server/metrics';
import { NsqReadings } from '../src/server/nsq-readings';
import { parsePrometheus } from './helpers/prometheus';
import { buildEvents } from './helpers/server-events';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-metrics-attacks-'));
let store: LiveStore;
let metrics: ServerMetrics | undefined;

beforeAll(() => {
  store = new LiveStore(path.join(dir, 'server.sqlite'));
});

afterAll(() => {
  metrics?.close();
  store?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const FORGED = 500;

test('forged events with a new job name each make a bounded number of series, and real jobs keep theirs', async () => {
  // The real jobs' history, as a restarted server finds it in its store.
  for (let id = 1; id <= 3; id++) for (const e of buildEvents({ id, job: 'binaries' }).events) ingestEventBody(store, e);
  metrics = new ServerMetrics({ store, nsq: new NsqReadings({}) });
  for (let i = 0; i < FORGED; i++) for (const e of buildEvents({ id: 1000 + i, job: `forged-${i}` }).events) ingestEventBody(store, e);
  // A real build after the flood still has its own series.
  for (const e of buildEvents({ id: 4, job: 'binaries' }).events) ingestEventBody(store, e);

  const text = await metrics.scrape();
  // Without a bound: a histogram's 15 lines and a gauge's line per name, some 8,500 lines.
  expect(text.split('\n').length).toBeLessThan(2000);
  const samples = parsePrometheus(text);
  for (const family of ['lxcts_builds', 'lxcts_build_duration_seconds']) {
    const jobs = new Set(samples.filter((s) => s.family === family).map((s) => s.labels.job));
    expect(jobs.size).toBeLessThanOrEqual(100);
    expect(jobs.has('binaries')).toBe(true);
  }
  // Nothing is lost: the forged builds are counted, under one label.
  const counted = samples.filter((s) => s.family === 'lxcts_builds').reduce((sum, s) => sum + s.value, 0);
  expect(counted).toBe(4 + FORGED);
  const binaries = samples.find((s) => s.name === 'lxcts_build_duration_seconds_count' && s.labels.job === 'binaries');
  expect(binaries?.value).toBe(1);
});
