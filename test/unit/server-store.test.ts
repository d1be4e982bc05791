/**
 * @tier unit
 * The CI server's store on real SQLite files: build events replayed and shuffled give the
 * same rows, a finished event that comes first still ends finished, log chunks shuffled
 * and duplicated read back as the exact log, page by page, and what is not an event or a
 * chunk is refused.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { migrate, openDatabase, SchemaTooNewError } from '../../src/ci/database';
import { ingestChunkBody, ingestEventBody } from '../../src/server/ingest';
import { SERVER_MIGRATIONS } from '../../src/server/server-schema';
import { ServerStore } from '../../src/server/server-store';
import { must } from '../helpers/must';
import { buildEvents, chunkMessages, sampleOutput, seeded, shuffled } from '../helpers/server-events';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-server-store-'));
let opened: ServerStore[] = [];
let files = 0;

function open(): ServerStore {
  const store = new ServerStore(path.join(dir, `server-${files++}.db`));
  opened.push(store);
  return store;
}

afterEach(() => {
  for (const s of opened) s.close();
  opened = [];
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Everything the store knows of `keys`, without the server's own numbering (it follows arrival order). */
function snapshot(store: ServerStore, keys: string[]) {
  return keys.map((key) => {
    const { id: _id, ...build } = must(store.getByKey(key), `build ${key}`);
    return { build, steps: store.steps(key) };
  });
}

function ingestAll(store: ServerStore, bodies: string[]): void {
  for (const body of bodies) expect(ingestEventBody(store, body)).toBe('stored');
}

describe('build events', () => {
  const builds = [
    buildEvents({ id: 1, status: 'success' }),
    buildEvents({ id: 2, status: 'failure', job: 'docs' }),
    // Same worker build id from another machine: a different build.
    buildEvents({ id: 1, status: 'success', worker: 'host-b', repo: 'octo/other' }),
  ];
  const keys = builds.map((b) => b.key);
  const inOrder = builds.flatMap((b) => b.events);

  test('builds are numbered 1, 2, 3 in the order the server hears of them, however many events each has', () => {
    const store = open();
    ingestAll(store, [...inOrder, ...inOrder]);
    expect(keys.map((key) => must(store.getByKey(key), `build ${key}`).id)).toEqual([1, 2, 3]);
  });

  test('replayed twice and shuffled, they give the same rows as in order', () => {
    const reference = open();
    ingestAll(reference, inOrder);
    const expected = snapshot(reference, keys);
    expect(expected.map((e) => e.build.status)).toEqual(['success', 'failure', 'success']);
    expect(expected[1]?.steps).toEqual([
      { step: 1, command: 'make', startedAt: 1_800_000_000_002, finishedAt: 1_800_000_000_003, exitCode: 0, seconds: 1.5 },
      { step: 2, command: 'make test', startedAt: 1_800_000_000_004, finishedAt: 1_800_000_000_005, exitCode: 2, seconds: 2.25 },
    ]);
    for (const seed of [1, 2, 3, 4, 5]) {
      const store = open();
      ingestAll(store, shuffled([...inOrder, ...inOrder], seeded(seed)));
      expect(snapshot(store, keys)).toEqual(expected);
    }
  });

  test('a finished event that arrives before started still ends finished', () => {
    const store = open();
    const [queued, started, s1, f1, s2, f2, finished] = must(builds[0], 'build').events;
    ingestAll(store, [
      must(finished, 'finished'),
      must(started, 'started'),
      must(queued, 'queued'),
      must(s1, 's1'),
      must(f2, 'f2'),
      must(s2, 's2'),
      must(f1, 'f1'),
    ]);
    const build = must(store.getByKey(keys[0] ?? ''), 'build');
    expect(build.status).toBe('success');
    expect(build.finishedAt).toBe('2026-12-04T10:00:09.000Z');
    expect(build.artifacts).toEqual(['hello']);
    expect(store.steps(build.key).map((s) => s.exitCode)).toEqual([0, 0]);
  });

  test('two machines with the same build id are two builds, listed newest first and filtered', () => {
    const store = open();
    ingestAll(store, inOrder);
    expect(store.list({ limit: 10 }).map((b) => b.key)).toEqual([...keys].reverse());
    expect(store.list({ limit: 10, repo: 'octo/other' }).map((b) => b.worker)).toEqual(['host-b']);
    expect(store.list({ limit: 10, status: 'failure' }).map((b) => b.job)).toEqual(['docs']);
    const [newest] = store.list({ limit: 1 });
    expect(store.list({ limit: 10, before: must(newest, 'newest').id }).map((b) => b.key)).toEqual([keys[1], keys[0]]);
  });

  test('what is not an event is refused and stores nothing', () => {
    const store = open();
    const good = JSON.parse(must(builds[0]?.events[0], 'event')) as Record<string, unknown>;
    const build = good.build as Record<string, unknown>;
    const bad = [
      'not json',
      '{}',
      JSON.stringify({ ...good, key: '../../etc' }),
      JSON.stringify({ ...good, seq: -1 }),
      JSON.stringify({ ...good, type: 'exploded' }),
      JSON.stringify({ ...good, build: { ...build, repo: '../../etc/passwd' } }),
      JSON.stringify({ ...good, build: { ...build, commit: 'HEAD' } }),
      JSON.stringify({ ...good, build: { ...build, status: 'weird' } }),
    ];
    for (const body of bad) expect(ingestEventBody(store, body)).toBe('invalid');
    expect(store.list({ limit: 10 })).toEqual([]);
  });
});

describe('log chunks', () => {
  test('shuffled and duplicated, they read back as the exact log, page by page', async () => {
    const random = seeded(7);
    const output = sampleOutput(300_000, random);
    const build = buildEvents({ id: 9 });
    const { bodies, totals } = await chunkMessages(build.key, output, random);
    expect(totals.bytes).toBe(output.length);
    expect(bodies.length).toBe(totals.chunks);
    const finished = buildEvents({ id: 9, log: totals });
    // The same build: take the finished event's shape, with this build's key.
    const events = finished.events.map((e) => JSON.stringify({ ...(JSON.parse(e) as object), key: build.key }));

    const store = open();
    const deliveries = shuffled([...bodies, ...bodies.slice(0, 40), ...events], seeded(8));
    for (const body of deliveries) expect(body.includes('"data"') ? ingestChunkBody(store, body) : ingestEventBody(store, body)).toBe('stored');

    const pages: Buffer[] = [];
    for (let offset = 0; ;) {
      const page = store.readLog(build.key, offset, 7000);
      expect(page.data.length).toBeLessThanOrEqual(7000);
      if (page.data.length === 0) break;
      pages.push(page.data);
      offset = page.next;
    }
    expect(Buffer.concat(pages).equals(output)).toBe(true);
    const end = store.readLog(build.key, output.length, 7000);
    expect(end).toMatchObject({ complete: true, available: output.length, next: output.length });
    // A page from the middle of a chunk.
    expect(store.readLog(build.key, 12_345, 100).data.equals(output.subarray(12_345, 12_445))).toBe(true);
  });

  test('a missing chunk stops the log at the gap and it is not complete', async () => {
    const random = seeded(11);
    const output = sampleOutput(50_000, random);
    const build = buildEvents({ id: 3 });
    const { bodies, totals } = await chunkMessages(build.key, output, random);
    const store = open();
    const events = buildEvents({ id: 3, log: totals }).events.map((e) => JSON.stringify({ ...(JSON.parse(e) as object), key: build.key }));
    for (const e of events) ingestEventBody(store, e);
    const missing = 3;
    bodies.forEach((body, i) => i !== missing && ingestChunkBody(store, body));
    const gapAt = (JSON.parse(must(bodies[missing], 'chunk')) as { offset: number }).offset;
    const page = store.readLog(build.key, 0, 1024 * 1024);
    expect(page).toMatchObject({ next: gapAt, available: gapAt, complete: false });
    expect(page.data.equals(output.subarray(0, gapAt))).toBe(true);
    // Past the gap: nothing, until the chunk arrives.
    expect(store.readLog(build.key, gapAt + 10, 100).data.length).toBe(0);
    ingestChunkBody(store, must(bodies[missing], 'chunk'));
    expect(store.readLog(build.key, 0, 1024 * 1024)).toMatchObject({ next: output.length, complete: true });
  });

  test('what is not a chunk is refused', () => {
    const store = open();
    const good = { v: 1, build: buildEvents().key, seq: 0, offset: 0, step: null, at: 1, data: 'aGVsbG8=' };
    for (const bad of [
      { ...good, data: '<script>' },
      { ...good, seq: 1.5 },
      { ...good, build: 'x' },
      { ...good, v: 2 },
    ]) {
      expect(ingestChunkBody(store, JSON.stringify(bad))).toBe('invalid');
    }
    expect(ingestChunkBody(store, JSON.stringify(good))).toBe('stored');
    expect(store.readLog(good.build, 0, 100).data.toString()).toBe('hello');
  });
});

test('the schema is versioned: a database from a newer lxcts is refused', () => {
  const file = path.join(dir, 'newer.db');
  const db = openDatabase(file);
  migrate(db, SERVER_MIGRATIONS, file);
  expect(db.pragma('user_version', { simple: true })).toBe(SERVER_MIGRATIONS.length);
  db.pragma(`user_version = ${SERVER_MIGRATIONS.length + 1}`);
  db.close();
  expect(() => new ServerStore(file)).toThrow(SchemaTooNewError);
});
