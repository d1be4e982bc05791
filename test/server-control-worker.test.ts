/**
 * Re-run and cancel end to end: `ci server` and `ci worker` processes on a real nsqd, builds
 * in real containers, driven by `lxcts ci cancel|rerun`. A cancelled build stops mid-step
 * (a step that sleeps), ends cancelled "by" who asked, and leaves no container; a re-run of
 * a finished build is a new build of the same commit and job only, and succeeds. The CLI
 * says clearly when the server cannot be reached or refuses.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { randomUUID } from 'node:crypto';

import { CONTROL_TOPIC, type ControlMessage } from '../src/ci/control-message';
import { LOGS_TOPIC } from '../src/ci/log-chunks';
import { publishMessage } from '../src/ci/nsq-api';
import { EVENTS_TOPIC, SERVER_CHANNEL } from '../src/server/ingest';
import type { ServerBuild } from '../src/server/server-store';
import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';
import { must } from './helpers/must';
import { freePort, TestNsq } from './helpers/nsq';
import { buildRequest, channelStats, CliProcesses, topicStats } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { startServerProcess } from './helpers/server-process';
import { waitFor } from './helpers/wait';

const TOPIC = 'lxcts.pushes';
const ADMIN = 'an-admin-token-of-enough-length';
const nsq = new TestNsq({ lookupd: true });
const ci = new CiSandbox('server-control');
const procs = new CliProcesses(ci.data.root);
const tokenFile = path.join(ci.data.root, 'admin-token');
const sources = path.join(ci.data.root, 'repos');
let url = '';

beforeAll(async () => {
  await nsq.start();
  for (const channel of ['binaries', 'docs']) await nsq.createChannel(TOPIC, channel);
  for (const topic of [EVENTS_TOPIC, LOGS_TOPIC]) await nsq.createChannel(topic, SERVER_CHANNEL);
  fs.writeFileSync(tokenFile, `${ADMIN}\n`, { mode: 0o600 });
  ({ url } = await startServerProcess(procs, '--lookupd', nsq.lookupdHttp, '--nsqd-http', nsq.nsqdHttp, '--admin-token-file', tokenFile));
  for (const channel of ['binaries', 'docs']) procs.startWorker(['--lookupd', nsq.lookupdHttp], channel, '--live-logs', '--allow-local', sources);
});
afterAll(async () => {
  await procs.killAll();
  await nsq.stop();
  ci.cleanup();
});

async function builds(query = ''): Promise<ServerBuild[]> {
  const r = await fetch(`${url}/api/builds?limit=100${query}`);
  return ((await r.json()) as { builds: ServerBuild[] }).builds;
}

async function build(id: number): Promise<ServerBuild & { steps: Array<{ startedAt: number | null }> }> {
  return (await (await fetch(`${url}/api/builds/${id}`)).json()) as ServerBuild & { steps: Array<{ startedAt: number | null }> };
}

const workerLogs = () =>
  fs
    .readdirSync(procs.logDir)
    .filter((f) => f.startsWith(`${path.basename(ci.data.root)}-worker-`) || f.startsWith(`${path.basename(ci.data.root)}-server-`))
    .map((f) => `${f}:\n${fs.readFileSync(path.join(procs.logDir, f), 'utf8').slice(-4000)}`)
    .join('\n');

/** `lxcts ci cancel|rerun ID --json` against the test's server. */
const control = (action: 'cancel' | 'rerun', id: number, ...extra: string[]) =>
  lxcts('', ['ci', action, String(id), '--server', url, '--admin-token-file', tokenFile, '--json', ...extra], { env: { LXCTS_DATA_DIR: ci.data.root } });

test('ci cancel stops a running build on its worker: it ends cancelled by who asked, its container gone', async () => {
  const repo = TestRepo.create(path.join(sources, 'sleepy'), 'jobs:\n  binaries:\n    steps: ["echo sleeping; sleep 600"]\n');
  const commit = repo.git('rev-parse', 'HEAD');
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, commit)));
  let running: ServerBuild | undefined;
  await waitFor(
    async () => {
      running = (await builds('&repo=test/sleepy')).find((b) => b.status === 'running');
      return running !== undefined && (await build(running.id)).steps.some((s) => s.startedAt !== null);
    },
    () => `the build running its step; logs:\n${workerLogs()}`,
    { seconds: 240, everyMs: 250 },
  );
  const id = must(running, 'the running build').id;
  expect(ci.leftovers().containers.length).toBe(1);
  const run = control('cancel', id);
  expect(run.status).toBe(0);
  expect(run.json()).toMatchObject({ action: 'cancel', build: id });
  await waitFor(
    async () => (await build(id)).status === 'cancelled',
    () => `build ${id} cancelled; logs:\n${workerLogs()}`,
    { seconds: 120, everyMs: 250 },
  );
  const cancelled = await build(id);
  expect(cancelled.message).toMatch(/^cancelled by admin \(.+@.+\)$/);
  // The worker's own record says the same, and nothing of the build is left on the machine.
  expect(ci.store.get(cancelled.workerBuildId)).toMatchObject({ status: 'cancelled', message: cancelled.message });
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
  // Nothing more to cancel.
  const again = control('cancel', id);
  expect(again.status).toBe(1);
  expect(again.json().error).toMatchObject({ code: 'SERVER_REFUSED' });
  expect(again.json().error.message).toMatch(/\(409\).*already finished/);
}, 400_000);

test('ci rerun builds a finished build’s commit again, only its job, and it succeeds', async () => {
  const repo = TestRepo.create(path.join(sources, 'quick'), 'jobs:\n  binaries:\n    steps: ["echo built"]\n  docs:\n    steps: ["echo documented"]\n');
  const commit = repo.git('rev-parse', 'HEAD');
  const docsBefore = must(await channelStats(nsq.nsqdHttp, TOPIC, 'docs'), 'the docs channel').message_count;
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, commit)));
  await waitFor(
    async () => (await builds('&repo=test/quick')).filter((b) => b.status === 'success').length === 2,
    () => `both jobs built; logs:\n${workerLogs()}`,
    { seconds: 300, everyMs: 250 },
  );
  const original = must((await builds('&repo=test/quick&job=binaries'))[0], 'the binaries build');
  const run = control('rerun', original.id);
  expect(run.status).toBe(0);
  expect(run.json()).toMatchObject({ action: 'rerun', build: original.id });
  await waitFor(
    async () => (await builds('&repo=test/quick&job=binaries')).some((b) => b.id !== original.id && b.status === 'success'),
    () => `the re-run built; logs:\n${workerLogs()}`,
    { seconds: 300, everyMs: 250 },
  );
  const rerun = must(
    (await builds('&repo=test/quick&job=binaries')).find((b) => b.id !== original.id),
    'the re-run',
  );
  // Built again (a new build of the worker), not the earlier success reused.
  expect(rerun).toMatchObject({ commit, job: 'binaries', ref: 'refs/heads/main', status: 'success' });
  expect(rerun.workerBuildId).not.toBe(original.workerBuildId);
  // The docs worker took the re-run's message too, and built nothing for it.
  await waitFor(
    async () => {
      const docs = must(await channelStats(nsq.nsqdHttp, TOPIC, 'docs'), 'the docs channel');
      return docs.message_count === docsBefore + 2 && docs.depth === 0 && docs.in_flight_count === 0;
    },
    () => `the docs worker done with both messages; logs:\n${workerLogs()}`,
    { seconds: 60, everyMs: 250 },
  );
  expect((await builds('&repo=test/quick&job=docs')).length).toBe(1);
}, 700_000);

test('a push that comes after its cancel (a redelivery) is recorded cancelled, not built; one received after the cancel builds', async () => {
  const repo = TestRepo.create(path.join(sources, 'late'), 'jobs:\n  binaries:\n    steps: ["echo built"]\n');
  const commit = repo.git('rev-parse', 'HEAD');
  // Both workers read the control topic (each on an ephemeral channel of its own).
  await waitFor(
    async () =>
      ((await topicStats(nsq.nsqdHttp, CONTROL_TOPIC))?.channels ?? []).filter((c) => c.channel_name.includes('.control-') && c.clients.length > 0).length ===
      2,
    () => `the workers on the control topic; logs:\n${workerLogs()}`,
    { seconds: 30, everyMs: 100 },
  );
  const cancel: ControlMessage = { type: 'cancel', key: randomUUID(), repo: 'test/late', commit, job: 'binaries', by: 'admin (tests)', at: Date.now() };
  const controlled = must(await topicStats(nsq.nsqdHttp, CONTROL_TOPIC), 'the control topic').message_count;
  await publishMessage(nsq.nsqdHttp, CONTROL_TOPIC, JSON.stringify(cancel));
  // Every channel has handed it out (and the worker finished it) before the push is sent.
  await waitFor(
    async () => {
      const topic = must(await topicStats(nsq.nsqdHttp, CONTROL_TOPIC), 'the control topic');
      return topic.message_count === controlled + 1 && topic.channels.every((c) => c.depth === 0 && c.in_flight_count === 0 && c.message_count > 0);
    },
    'the cancel read by the workers',
    { seconds: 30, everyMs: 100 },
  );
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, commit, { receivedAt: cancel.at - 60_000 })));
  await waitFor(
    async () => (await builds('&repo=test/late')).some((b) => b.status === 'cancelled'),
    () => `the late push recorded; logs:\n${workerLogs()}`,
    {
      seconds: 120,
      everyMs: 250,
    },
  );
  const [late] = await builds('&repo=test/late');
  expect(late).toMatchObject({ status: 'cancelled', message: 'cancelled by admin (tests)', startedAt: null });
  // A push received after the cancel is not covered by it.
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(buildRequest(repo, commit, { receivedAt: Date.now() })));
  await waitFor(
    async () => (await builds('&repo=test/late')).some((b) => b.status === 'success'),
    () => `the new push built; logs:\n${workerLogs()}`,
    {
      seconds: 300,
      everyMs: 250,
    },
  );
}, 500_000);

test('the CLI says when the server cannot be reached, refuses the token, or the token file is bad', async () => {
  const nobody = `http://127.0.0.1:${await freePort()}`;
  const unreachable = lxcts('', ['ci', 'cancel', '1', '--server', nobody, '--admin-token-file', tokenFile, '--json']);
  expect(unreachable.status).toBe(1);
  expect(unreachable.json().error).toMatchObject({ code: 'SERVER_UNREACHABLE' });
  expect(unreachable.json().error.message).toContain(`cannot reach the CI server at ${nobody}`);
  const wrongFile = path.join(ci.data.root, 'wrong-token');
  fs.writeFileSync(wrongFile, 'not-the-admin-token-at-all\n', { mode: 0o600 });
  const wrong = lxcts('', ['ci', 'rerun', '1', '--server', url, '--admin-token-file', wrongFile]);
  expect(wrong.status).toBe(1);
  expect(wrong.stderr).toMatch(/refused \(401\).*admin token/);
  const missing = lxcts('', ['ci', 'rerun', '1', '--server', url, '--admin-token-file', path.join(ci.data.root, 'no-such-file')]);
  expect(missing.status).toBe(2);
  expect(missing.stderr).toContain('--admin-token-file');
  // The default token file is the data directory's admin-token.
  const byDefault = lxcts('', ['ci', 'cancel', '999999', '--server', url], { env: { LXCTS_DATA_DIR: ci.data.root } });
  expect(byDefault.status).toBe(1);
  expect(byDefault.stderr).toMatch(/refused \(404\).*no build 999999/);
});

test('ci server --read-token-file: the API needs the token; a bad token file is refused at start', async () => {
  const readFile = path.join(ci.data.root, 'read-token');
  fs.writeFileSync(readFile, 'a-read-token-of-enough-length\n', { mode: 0o600 });
  const { child, url: privateUrl } = await startServerProcess(procs, '--lookupd', nsq.lookupdHttp, '--read-token-file', readFile);
  expect((await fetch(`${privateUrl}/api/builds`)).status).toBe(401);
  expect((await fetch(`${privateUrl}/api/builds`, { headers: { Authorization: 'Bearer a-read-token-of-enough-length' } })).status).toBe(200);
  // No admin token on this server: re-run and cancel are off, whatever the caller sends.
  const cancel = await fetch(`${privateUrl}/api/builds/1/cancel`, { method: 'POST', headers: { Authorization: 'Bearer a-read-token-of-enough-length' } });
  expect(cancel.status).toBe(403);
  child.kill('SIGTERM');
  fs.writeFileSync(readFile, 'short\n');
  const refused = lxcts('', ['ci', 'server', '--listen', '127.0.0.1:0', '--lookupd', nsq.lookupdHttp, '--read-token-file', readFile], {
    env: { LXCTS_DATA_DIR: ci.data.root },
  });
  expect(refused.status).toBe(2);
  expect(refused.stderr).toMatch(/--read-token-file: the read token in .* at least 16/);
});
