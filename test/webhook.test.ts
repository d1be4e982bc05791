import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import { sign } from '@octokit/webhooks-methods';

import { DeliveryLog } from '../src/ci/deliveries';
import { loggerFor } from '../src/ci/logger';
import { SpooledPublisher } from '../src/ci/nsq-http';
import { createWebhookServer } from '../src/ci/webhook';
import { TestNsq } from './helpers/nsq';

// Real payloads GitHub sends, from @octokit/webhooks-examples.
const examples = require('@octokit/webhooks-examples') as Array<{ name: string; examples: Array<Record<string, unknown>> }>;
const pushExample = examples.find((e) => e.name === 'push')!.examples.find((p) => !(p as { deleted?: boolean }).deleted)!;
const pingExample = examples.find((e) => e.name === 'ping')!.examples[0];

const SECRET = "It's a Secret to Everybody";
const TOPIC = 'lxcts.pushes';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-webhook-'));
const nsq = new TestNsq();
let server: http.Server;
let url = '';
let deliveries: DeliveryLog;
let publisher: SpooledPublisher;

function startServer(): Promise<void> {
  deliveries = new DeliveryLog(path.join(dir, 'deliveries.sqlite'));
  publisher = new SpooledPublisher(nsq.nsqdHttp, TOPIC, path.join(dir, 'spool'), loggerFor('webhook-test'), 200);
  publisher.start();
  server = createWebhookServer({ secret: SECRET, publisher, deliveries, log: loggerFor('webhook-test') });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/github`;
    resolve();
  }));
}

async function stopServer(): Promise<void> {
  publisher.stop();
  await new Promise((r) => server.close(r));
  deliveries.close();
}

beforeAll(async () => {
  await nsq.start();
  await startServer();
});
afterAll(async () => {
  await stopServer();
  await nsq.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
async function deliver(
  event: string,
  payload: unknown,
  { delivery = `delivery-${process.pid}-${seq++}`, secret = SECRET, contentType = 'application/json', raw }: { delivery?: string; secret?: string | null; contentType?: string; raw?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const body = raw ?? JSON.stringify(payload);
  const headers: Record<string, string> = { 'content-type': contentType, 'x-github-event': event, 'x-github-delivery': delivery };
  if (secret !== null) headers['x-hub-signature-256'] = await sign(secret, body);
  const response = await fetch(url, { method: 'POST', headers, body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a signed push is accepted and becomes one small message on the topic', async () => {
  const before = await nsq.depth(TOPIC);
  const started = Date.now();
  const r = await deliver('push', pushExample);
  expect(r).toEqual({ status: 202, body: { accepted: true, spooled: false } });
  expect(Date.now() - started).toBeLessThan(1000);
  expect(await nsq.depth(TOPIC)).toBe(before + 1);
});

test('ping answers, unknown events are accepted and ignored', async () => {
  expect(await deliver('ping', pingExample)).toEqual({ status: 200, body: { ok: true, pong: true } });
  expect((await deliver('issues', { action: 'opened' })).status).toBe(202);
});

test('a missing or wrong signature is 401 and publishes nothing', async () => {
  const before = await nsq.depth(TOPIC);
  expect((await deliver('push', pushExample, { secret: null })).status).toBe(401);
  expect((await deliver('push', pushExample, { secret: 'not the secret' })).status).toBe(401);
  expect(await nsq.depth(TOPIC)).toBe(before);
});

test('a body over 25 MB is 413; malformed JSON and a wrong content type are 400', async () => {
  expect((await deliver('push', null, { raw: 'x'.repeat(25 * 1024 * 1024 + 1) })).status).toBe(413);
  expect((await deliver('push', null, { raw: '{"ref": ' })).status).toBe(400);
  expect((await deliver('push', pushExample, { contentType: 'application/x-www-form-urlencoded' })).status).toBe(400);
});

test('a redelivery is recognised, even after a restart of the receiver', async () => {
  const before = await nsq.depth(TOPIC);
  expect((await deliver('push', pushExample, { delivery: 'replayed-1' })).status).toBe(202);
  expect(await deliver('push', pushExample, { delivery: 'replayed-1' })).toEqual({ status: 200, body: { accepted: true, duplicate: true } });
  await stopServer();
  await startServer();
  expect((await deliver('push', pushExample, { delivery: 'replayed-1' })).body).toEqual({ accepted: true, duplicate: true });
  expect(await nsq.depth(TOPIC)).toBe(before + 1);
});

test('a push that deletes a branch builds nothing', async () => {
  const before = await nsq.depth(TOPIC);
  const deleted = { ...pushExample, deleted: true, after: '0000000000000000000000000000000000000000' };
  const r = await deliver('push', deleted);
  expect(r.status).toBe(202);
  expect(r.body.ignored).toMatch(/branch deleted/);
  expect(await nsq.depth(TOPIC)).toBe(before);
});

test('while nsqd is down the event is spooled, accepted, and published once nsqd is back', async () => {
  const before = await nsq.depth(TOPIC);
  await nsq.stopNsqd();
  const r = await deliver('push', pushExample);
  expect(r).toEqual({ status: 202, body: { accepted: true, spooled: true } });
  expect(publisher.pending()).toBe(1);
  await nsq.startNsqd();
  await until(async () => publisher.pending() === 0, 'the spool to drain');
  expect(await nsq.depth(TOPIC)).toBe(before + 1);
});

test('the receiver refuses to start without a secret', () => {
  expect(() => createWebhookServer({ secret: '', publisher, deliveries, log: loggerFor('webhook-test') })).toThrow(/needs a secret/);
});
