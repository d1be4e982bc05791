import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import { sign } from '@octokit/webhooks-methods';

import { DeliveryLog } from '../src/ci/deliveries';
import { loggerFor } from '../src/ci/logger';
import { SpooledPublisher } from '../src/ci/nsq-spool';
import { createWebhookServer } from '../src/ci/webhook';
import { TestNsq } from './helpers/nsq';
import { waitFor } from './helpers/wait';

// Real payloads GitHub sends, from @octokit/webhooks-examples.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a package of JSON files, without types
const examples = require('@octokit/webhooks-examples') as Array<{ name: string; examples: Array<Record<string, unknown>> }>;
const pushExample = examples.find((e) => e.name === 'push')!.examples.find((p) => !(p as { deleted?: boolean }).deleted)!;
const pingExample = examples.find((e) => e.name === 'ping')!.examples[0];
/** The example push with a commit id of its own: a new push, not a replay of an earlier test's. */
let pushes = 0;
const freshPush = (): Record<string, unknown> & { after: string; repository: { pushed_at: number } } =>
  ({ ...pushExample, after: (++pushes).toString(16).padStart(40, 'c') }) as never;

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
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/github`;
      resolve();
    }),
  );
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
  {
    delivery = `delivery-${process.pid}-${seq++}`,
    secret = SECRET,
    contentType = 'application/json',
    raw,
  }: { delivery?: string; secret?: string | null; contentType?: string; raw?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const body = raw ?? JSON.stringify(payload);
  const headers: Record<string, string> = { 'content-type': contentType, 'x-github-event': event, 'x-github-delivery': delivery };
  if (secret !== null) headers['x-hub-signature-256'] = await sign(secret, body);
  const response = await fetch(url, { method: 'POST', headers, body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test('a signed push is accepted and becomes one small message on the topic', async () => {
  const before = await nsq.depth(TOPIC);
  const started = Date.now();
  const r = await deliver('push', freshPush());
  expect(r).toEqual({ status: 202, body: { accepted: true, spooled: false } });
  // Well inside GitHub's 10 s delivery timeout: the receiver answers before any build work.
  expect(Date.now() - started).toBeLessThan(5000);
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
  const push = freshPush();
  expect((await deliver('push', push, { delivery: 'replayed-1' })).status).toBe(202);
  expect(await deliver('push', push, { delivery: 'replayed-1' })).toEqual({ status: 200, body: { accepted: true, duplicate: true } });
  await stopServer();
  await startServer();
  expect((await deliver('push', push, { delivery: 'replayed-1' })).body).toEqual({ accepted: true, duplicate: true });
  expect(await nsq.depth(TOPIC)).toBe(before + 1);
});

test('a body replayed under a new delivery id is not published again, even after a restart', async () => {
  const before = await nsq.depth(TOPIC);
  const push = freshPush();
  expect((await deliver('push', push)).status).toBe(202);
  // Same signed body, a new X-GitHub-Delivery (the signature does not cover that header).
  expect(await deliver('push', push)).toEqual({ status: 200, body: { accepted: true, duplicate: true, replay: true } });
  await stopServer();
  await startServer();
  expect((await deliver('push', push)).body).toEqual({ accepted: true, duplicate: true, replay: true });
  expect(await nsq.depth(TOPIC)).toBe(before + 1);
  // Another push of the same branch (a new after) is a new push, and so is the same
  // (before, after) pushed again later (force-pushed back and forth): pushed_at differs.
  expect((await deliver('push', { ...push, before: push.after, after: 'e'.repeat(40) })).status).toBe(202);
  const again = { ...push, repository: { ...push.repository, pushed_at: push.repository.pushed_at + 60 } };
  expect((await deliver('push', again)).status).toBe(202);
  expect((await deliver('push', again)).body).toEqual({ accepted: true, duplicate: true, replay: true });
  expect(await nsq.depth(TOPIC)).toBe(before + 3);
});

test.each([
  ['full_name ../../../../tmp/x', { repository: { ...(pushExample.repository as object), full_name: '../../../../tmp/x' } }, /repository|owner/],
  ['full_name ""', { repository: { ...(pushExample.repository as object), full_name: '' } }, /owner\/name/],
  ['full_name .', { repository: { ...(pushExample.repository as object), full_name: '.' } }, /owner\/name/],
  ['ref refs/heads/-u=x', { ref: 'refs/heads/-u=x' }, /starts with "-"/],
  ['ref refs/heads/a..b', { ref: 'refs/heads/a..b' }, /not a valid git ref/],
  ['after HEAD', { after: 'HEAD' }, /not a full commit id/],
  ['before --upload-pack=x', { before: '--upload-pack=x' }, /not a full commit id/],
  ['clone_url -u=...', { repository: { ...(pushExample.repository as object), clone_url: '-u=touch /tmp/pwned' } }, /starts with "-"/],
  ['clone_url ext::', { repository: { ...(pushExample.repository as object), clone_url: 'ext::sh -c id' } }, /transport/],
  ['no repository', { repository: undefined }, /not a push payload/],
])('a signed push with %s is 422 with the reason and publishes nothing', async (_what, change, reason) => {
  const before = await nsq.depth(TOPIC);
  const r = await deliver('push', { ...freshPush(), ...change });
  expect(r.status).toBe(422);
  expect(r.body.error).toMatch(reason);
  expect(await nsq.depth(TOPIC)).toBe(before);
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
  const r = await deliver('push', freshPush());
  expect(r).toEqual({ status: 202, body: { accepted: true, spooled: true } });
  expect(publisher.pending()).toBe(1);
  await nsq.startNsqd();
  await waitFor(async () => publisher.pending() === 0, 'the spool to drain', { seconds: 10, everyMs: 100 });
  expect(await nsq.depth(TOPIC)).toBe(before + 1);
});

test('the receiver refuses to start without a secret', () => {
  expect(() => createWebhookServer({ secret: '', publisher, deliveries, log: loggerFor('webhook-test') })).toThrow(/needs a secret/);
});
