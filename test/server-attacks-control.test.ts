/**
 * Re-run and cancel (control.ts) on a real server on a loopback port, with what it
 * publishes captured at the seam `ci server` gives it: the server must never answer 202
 * ("sent") for a message the workers will drop. A worker checks each control message with
 * controlMessageSchema and each push with buildRequestSchema, and ignores what fails: a
 * cancel the server sent that way is lost, while the admin was told it was on its way.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { CONTROL_TOPIC, controlMessageSchema } from '../src/ci/control-message';
import { buildRequestSchema, PUSH_TOPIC } from '../src/ci/push-event';
import { serverApp } from '../src/server/app';
import { ingestEventBody } from '../src/server/ingest';
import { LiveStore } from '../src/server/live-store';
import { startServer, type TestServer } from './helpers/http-server';
import { must } from './helpers/must';
import { buildEvents } from './helpers/server-events';

const ADMIN = 'admin-token-0123456789abcdef';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-control-attacks-'));
let store: LiveStore;
let server: TestServer;
const published: Array<{ topic: string; body: string }> = [];

/** A build as its worker's events left it, `upTo` events in (3: running). */
function ingest(options: Parameters<typeof buildEvents>[0], upTo?: number): number {
  const b = buildEvents(options);
  for (const e of b.events.slice(0, upTo)) ingestEventBody(store, e);
  return must(store.getByKey(b.key), 'the build').id;
}

beforeAll(async () => {
  store = new LiveStore(path.join(dir, 'server.sqlite'));
  server = await startServer(
    serverApp({
      store,
      binariesRoot: path.join(dir, 'binaries'),
      docsRoot: path.join(dir, 'docs'),
      adminToken: ADMIN,
      publish: async (topic, body) => {
        published.push({ topic, body });
      },
    }),
  );
});

afterAll(async () => {
  await server?.close();
  store?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  published.length = 0;
});

const api = (id: number, action: 'rerun' | 'cancel', body: unknown) =>
  fetch(`${server.url}/api/builds/${id}/${action}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });

/** What the workers would make of each message published. */
function workersTake(): boolean[] {
  return published.map(({ topic, body }) => {
    const schema = topic === CONTROL_TOPIC ? controlMessageSchema : topic === PUSH_TOPIC ? buildRequestSchema : null;
    return schema !== null && schema.safeParse(JSON.parse(body)).success;
  });
}

describe('re-run and cancel never report sent what the workers drop', () => {
  it('a cancel on behalf of a requester of 100 characters', async () => {
    const id = ingest({ id: 1, job: 'binaries' }, 3);
    // The API takes `by` of up to 100 characters, then sends "admin (BY)": 108.
    const response = await api(id, 'cancel', { by: 'x'.repeat(100) });
    // Sent, it is dropped by every worker (workersTake() is [false]): refused here instead.
    expect(response.status).toBe(400);
    expect(published).toEqual([]);
  });

  it('a cancel of a build whose event named a job no worker has (a forged event)', async () => {
    // The events topic takes any job of up to 100 characters; the control topic only job names.
    const id = ingest({ id: 2, job: 'not a job; rm -rf' }, 3);
    const response = await api(id, 'cancel', {});
    expect(response.status).toBe(409);
    expect(published).toEqual([]);
  });

  it('still sends a cancel the workers take', async () => {
    const id = ingest({ id: 3, job: 'docs' }, 3);
    const response = await api(id, 'cancel', { by: 'x'.repeat(92) });
    expect(response.status).toBe(202);
    expect(workersTake()).toEqual([true]);
  });
});
