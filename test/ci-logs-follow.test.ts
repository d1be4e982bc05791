/**
 * `lxcts ci logs ID --follow`, run as a user would (bin/run.js): from a real CI server on a
 * loopback port (its store fed with a build's events and log chunks while the command runs),
 * and from this machine's builds database and log file. It prints what is there, keeps
 * printing as the build goes on, stops when the build ends, and exits 0 only on success.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import { serve, type ServerType } from '@hono/node-server';

import { openDataDir } from '../src/ci/data-dir';
import { BuildStore } from '../src/ci/store';
import { serverApp } from '../src/server/app';
import { ingestChunkBody, ingestEventBody } from '../src/server/ingest';
import { LiveStore } from '../src/server/live-store';
import { binRun } from './helpers/cli';
import { startServer, type TestServer } from './helpers/http-server';
import { must } from './helpers/must';
import { buildEvents, chunkMessages, sampleOutput, seeded } from './helpers/server-events';
import { waitFor } from './helpers/wait';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-logs-follow-'));
const data = openDataDir(path.join(dir, 'data'));
let store: LiveStore;
let server: TestServer;
const children: ChildProcess[] = [];
// Ends the servers' live streams (and their heartbeat timers) at the end.
const stopping = new AbortController();

beforeAll(async () => {
  store = new LiveStore(path.join(dir, 'server.sqlite'));
  server = await startServer(serverApp({ store, binariesRoot: data.binaries, docsRoot: data.docs, stopping: stopping.signal }));
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  stopping.abort();
  await server?.close();
  store?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The server again on `port` (the one a follower was given), as after a restart. */
async function listenOn(port: number): Promise<TestServer> {
  const app = serverApp({ store, binariesRoot: data.binaries, docsRoot: data.docs, stopping: stopping.signal });
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        (server as http.Server).closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Running {
  child: ChildProcess;
  stdout: () => Buffer;
  stderr: () => string;
  exit: Promise<number | null>;
}

function follow(args: string[]): Running {
  const child = spawn(process.execPath, [binRun, 'ci', 'logs', ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, stdout: () => Buffer.concat(out), stderr: () => Buffer.concat(err).toString(), exit };
}

/**
 * A build with a log of `bytes`, told to the store up to its first step and half its log;
 * `rest()` tells the rest of the log, `finish()` the remaining events (finished last).
 */
async function halfDoneBuild(id: number, bytes: number, seed: number) {
  const output = sampleOutput(bytes, seeded(seed));
  const build = buildEvents({ id, status: 'success' });
  const { bodies, totals } = await chunkMessages(build.key, output, seeded(seed + 1));
  const events = buildEvents({ id, status: 'success', log: totals }).events.map((e) => JSON.stringify({ ...(JSON.parse(e) as object), key: build.key }));
  // Queued, started, the first step; half of the log.
  for (const e of events.slice(0, 3)) ingestEventBody(store, e);
  const half = Math.floor(bodies.length / 2);
  for (const c of bodies.slice(0, half)) ingestChunkBody(store, c);
  return {
    output,
    id: must(store.getByKey(build.key), 'build').id,
    shown: store.readLog(build.key, 0, 0).available,
    rest: () => bodies.slice(half).forEach((c) => ingestChunkBody(store, c)),
    finish: () => events.slice(3).forEach((e) => ingestEventBody(store, e)),
  };
}

test('--follow --server prints the log so far, then each new piece, and ends with the build: exit 0 on success', async () => {
  const { output, id, shown, rest, finish } = await halfDoneBuild(1, 300_000, 11);
  expect(shown).toBeGreaterThan(0);

  const run = follow([String(id), '--follow', '--server', server.url]);
  await waitFor(() => run.stdout().length >= shown, 'the log so far printed');
  // The build is still running: the command waits for more (without --follow it would have ended).
  expect(run.child.exitCode).toBeNull();
  expect(run.stdout().equals(output.subarray(0, shown))).toBe(true);

  rest();
  await waitFor(() => run.stdout().length >= output.length, 'the rest of the log printed');
  expect(run.child.exitCode).toBeNull();
  finish();
  expect(await run.exit).toBe(0);
  expect(run.stdout().equals(output)).toBe(true);
  expect(run.stderr()).toContain(`build ${id} (local/hello binaries): success`);
});

test('without --follow, --server prints what the server has and stops, the build still running; --follow survives a server restart', async () => {
  const { output, id, shown, rest, finish } = await halfDoneBuild(4, 50_000, 21);

  // A second server over the same store, on a port of its own that can be reused.
  let second = await startServer(serverApp({ store, binariesRoot: data.binaries, docsRoot: data.docs, stopping: stopping.signal }));
  const port = second.port;
  const once = follow([String(id), '--server', second.url]);
  expect(await once.exit).toBe(0);
  expect(once.stdout().equals(output.subarray(0, shown))).toBe(true);

  const run = follow([String(id), '--follow', '--server', second.url]);
  await waitFor(() => run.stdout().length >= shown, 'the log so far printed');
  await second.close();
  rest();
  finish();
  second = await listenOn(port);
  try {
    expect(await run.exit).toBe(0);
    expect(run.stdout().equals(output)).toBe(true);
  } finally {
    await second.close();
  }
});

test('--follow --server on a build that already failed prints its whole log at once and exits 1', async () => {
  const output = Buffer.from('==> step 1: make\nerror: no rule\n==> binaries: failure\n');
  const build = buildEvents({ id: 2, status: 'failure' });
  const { bodies, totals } = await chunkMessages(build.key, output, seeded(13));
  for (const e of buildEvents({ id: 2, status: 'failure', log: totals }).events)
    ingestEventBody(store, JSON.stringify({ ...(JSON.parse(e) as object), key: build.key }));
  for (const c of bodies) ingestChunkBody(store, c);
  const id = must(store.getByKey(build.key), 'build').id;
  const run = follow([String(id), '-f', '--server', server.url]);
  expect(await run.exit).toBe(1);
  expect(run.stdout().toString()).toBe(output.toString());
  expect(run.stderr()).toContain('failure');
});

test('--follow --server on a build whose worker sends no log ends when the build does, and says why there is no log', async () => {
  const build = buildEvents({ id: 3, status: 'success' });
  const [queued, started, ...rest] = build.events;
  ingestEventBody(store, must(queued, 'queued'));
  ingestEventBody(store, must(started, 'started'));
  const id = must(store.getByKey(build.key), 'build').id;
  const run = follow([String(id), '--follow', '--server', server.url]);
  for (const e of rest) ingestEventBody(store, e);
  expect(await run.exit).toBe(0);
  expect(run.stdout().length).toBe(0);
  expect(run.stderr()).toContain('no log on the server (start its worker with --live-logs)');
  expect(run.stderr()).toContain(`build ${id} (local/hello binaries): success`);
});

test('an unknown build, or a server that is not a URL, is a clear error with exit 1', async () => {
  // Run asynchronously: the server answering lives in this process.
  const missing = follow(['999999', '--follow', '--server', server.url]);
  expect(await missing.exit).toBe(1);
  expect(missing.stderr()).toContain('has no build 999999');
  const bad = follow(['1', '--server', 'file:///etc/passwd']);
  expect(await bad.exit).toBe(1);
  expect(bad.stderr()).toContain('is not an http(s) URL');
});

test("--follow without --server reads this machine's log file as it grows and ends when the build row is final", async () => {
  const builds = new BuildStore(data.database);
  try {
    const { record } = builds.claim({
      repo: 'local/hello',
      cloneUrl: '/srv/git/hello.git',
      commit: 'b'.repeat(40),
      ref: 'refs/heads/main',
      branch: 'main',
      job: 'docs',
    });
    const logPath = path.join(data.logs, `${record.id}.log`);
    fs.writeFileSync(logPath, '==> step 1: make docs\n');
    builds.started(record.id, { logPath, container: 'lxcts-build-x' });
    const run = follow([String(record.id), '--follow', '--data-dir', data.root]);
    await waitFor(() => run.stdout().toString() === '==> step 1: make docs\n', 'the first line');
    expect(run.child.exitCode).toBeNull();
    fs.appendFileSync(logPath, 'mkdir -p site\n');
    await waitFor(() => run.stdout().toString().endsWith('mkdir -p site\n'), 'the second line');
    builds.finished(record.id, { status: 'success', exitCode: 0 });
    // The builder's last note comes just after the final row.
    fs.appendFileSync(logPath, '==> docs: success\n');
    expect(await run.exit).toBe(0);
    expect(run.stdout().toString()).toBe('==> step 1: make docs\nmkdir -p site\n==> docs: success\n');
    expect(run.stderr()).toContain(`build ${record.id} (local/hello docs): success`);
  } finally {
    builds.close();
  }
});
