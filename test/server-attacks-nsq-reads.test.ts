/**
 * /queue and /metrics against a flood of requests: each used to read nsqd's /stats, so
 * anyone who could reach the dashboard could make it hammer nsqd. nsqd here is real; a
 * small proxy in front of its HTTP port counts the /stats reads the server makes.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { buffer } from 'node:stream/consumers';

import { loggerFor } from '../src/ci/logger';
import { type RunningServer, startServer } from '../src/server/app';
import { NsqReadings, READING_SHARED_MS } from '../src/server/nsq-readings';
import { TestNsq } from './helpers/nsq';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-nsq-reads-'));
const nsq = new TestNsq();
let proxy: http.Server | undefined;
let proxyAddress = '';
let server: RunningServer | undefined;
/** GET /stats requests that reached nsqd through the proxy, and the topic each asked for ('' for all). */
let statsReads = 0;
const statsTopics: string[] = [];

beforeAll(async () => {
  await nsq.start();
  proxy = http.createServer((req, res) => {
    void (async () => {
      if (req.url?.startsWith('/stats')) {
        statsReads++;
        statsTopics.push(new URL(req.url, 'http://nsqd').searchParams.get('topic') ?? '');
      }
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await buffer(req);
      const upstream = await fetch(`http://${nsq.nsqdHttp}${req.url ?? '/'}`, { method: req.method, body });
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    })().catch((err: Error) => res.writeHead(502).end(err.message));
  });
  await new Promise<void>((resolve) => proxy?.listen(0, '127.0.0.1', resolve));
  proxyAddress = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await server?.close();
  proxy?.closeAllConnections();
  await new Promise((resolve) => proxy?.close(resolve));
  await nsq.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('50 concurrent /queue, /api/queue and /metrics requests each make at most two reads of nsqd /stats per topic', async () => {
  server = await startServer({ dataDir: dir, host: '127.0.0.1', port: 0, nsqdTcp: [nsq.nsqdTcp], nsqdHttp: [proxyAddress], log: loggerFor('nsq-reads-test') });
  const url = server.url;
  const reads: Array<{ route: string; topic: string; reads: number }> = [];
  for (const route of ['/queue', '/api/queue', '/metrics']) {
    const before = statsTopics.length;
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => fetch(`${url}${route}`).then(async (r) => ({ status: r.status, text: await r.text() }))),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // The answers still come from nsqd: it is up in every one.
    expect(answers.every((a) => (route === '/metrics' ? a.text.includes(`lxcts_nsqd_up{nsqd="${proxyAddress}"} 1`) : a.text.includes(proxyAddress)))).toBe(
      true,
    );
    const topics = statsTopics.slice(before);
    for (const topic of new Set(topics)) reads.push({ route, topic, reads: topics.filter((t) => t === topic).length });
  }
  // Without sharing: 50 a topic. /api/queue may take /queue's reading (the same topic) and read none.
  for (const r of reads) expect({ ...r, atMostTwo: r.reads <= 2 }).toEqual({ ...r, atMostTwo: true });
  expect(reads.filter((r) => r.route === '/queue')).not.toEqual([]);
  // /metrics reads the server's four topics (metrics.ts), the push topic perhaps /queue's reading.
  expect(new Set(reads.filter((r) => r.route === '/metrics').map((r) => r.topic)).size).toBeGreaterThanOrEqual(3);
});

test('a reading is shared while it is taken and for READING_SHARED_MS after, per topic, then taken again', async () => {
  let now = 1_000_000;
  const readings = new NsqReadings({ nsqdHttp: [proxyAddress] }, () => now);
  const before = statsReads;
  const first = await Promise.all(Array.from({ length: 50 }, () => readings.read('lxcts.pushes')));
  expect(new Set(first).size).toBe(1);
  expect(first[0]?.nsqds[0]?.up).toBe(true);
  expect(statsReads - before).toBe(1);
  now += READING_SHARED_MS - 1;
  expect(await readings.read('lxcts.pushes')).toBe(first[0]);
  expect(statsReads - before).toBe(1);
  // Another topic is another reading.
  await readings.read('lxcts.builds');
  expect(statsReads - before).toBe(2);
  now += 1;
  const again = await Promise.all([readings.read('lxcts.pushes'), readings.read('lxcts.pushes')]);
  expect(again[0]).not.toBe(first[0]);
  expect(again[1]).toBe(again[0]);
  expect(statsReads - before).toBe(3);
});

test('requests that come while a reading is taken wait for it, however late the clock says they are', async () => {
  let now = 0;
  // Every look at the clock is a minute later: only the reading in flight can be shared.
  const readings = new NsqReadings({ nsqdHttp: [proxyAddress] }, () => (now += 60_000));
  const before = statsReads;
  const all = await Promise.all(Array.from({ length: 20 }, () => readings.read()));
  expect(new Set(all).size).toBe(1);
  expect(statsReads - before).toBe(1);
});
