/**
 * The nsqd trust boundary end to end (src/ci/message-seal.ts): `ci server` and `ci worker`
 * processes started with a message key, on a real nsqd, builds in real containers. Messages
 * published straight to nsqd without the key's seal are dropped by the component that reads
 * them: a forged push is not cloned, recorded or built; a push sealed for another topic (a
 * log chunk's seal) is refused too; forged build events and log chunks are not stored, and
 * the server's /metrics counts them; a forged cancel does not stop a build. The same
 * messages sealed with the key are built, stored and obeyed. A key file others may read is
 * refused by every command.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

import { CONTROL_TOPIC, type ControlMessage } from '../src/ci/control-message';
import { LOGS_TOPIC } from '../src/ci/log-chunks';
import { MessageSeal, readMessageKey } from '../src/ci/message-seal';
import { mirrorPath } from '../src/ci/names';
import { publishMessage } from '../src/ci/nsq-api';
import { EVENTS_TOPIC, SERVER_CHANNEL } from '../src/server/ingest';
import type { ServerBuild } from '../src/server/server-store';
import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';
import { must } from './helpers/must';
import { TestNsq } from './helpers/nsq';
import { buildRequest, channelStats, CliProcesses } from './helpers/pipeline';
import { parsePrometheus } from './helpers/prometheus';
import { TestRepo } from './helpers/repo';
import { buildEvents, chunkMessages, seeded } from './helpers/server-events';
import { startServerProcess } from './helpers/server-process';
import { waitFor } from './helpers/wait';

const TOPIC = 'lxcts.pushes';
const ADMIN = 'an-admin-token-of-enough-length';
const nsq = new TestNsq({ lookupd: true });
const ci = new CiSandbox('seal');
const procs = new CliProcesses(ci.data.root);
const keyFile = path.join(ci.data.root, 'message-key');
const tokenFile = path.join(ci.data.root, 'admin-token');
const sources = path.join(ci.data.root, 'repos');
let seal: MessageSeal;
let url = '';

beforeAll(async () => {
  await nsq.start();
  await nsq.createChannel(TOPIC, 'binaries');
  for (const topic of [EVENTS_TOPIC, LOGS_TOPIC]) await nsq.createChannel(topic, SERVER_CHANNEL);
  fs.writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  fs.writeFileSync(tokenFile, `${ADMIN}\n`, { mode: 0o600 });
  seal = new MessageSeal(readMessageKey(keyFile));
  const sealed = ['--message-key-file', keyFile];
  ({ url } = await startServerProcess(procs, '--lookupd', nsq.lookupdHttp, '--nsqd-http', nsq.nsqdHttp, '--admin-token-file', tokenFile, ...sealed));
  procs.startWorker(['--lookupd', nsq.lookupdHttp], 'binaries', '--live-logs', '--allow-local', sources, ...sealed);
  // The worker is on its channel before anything is published.
  await waitFor(async () => ((await channelStats(nsq.nsqdHttp, TOPIC, 'binaries'))?.clients.length ?? 0) > 0, 'the worker on its channel', { seconds: 120 });
}, 180_000);
afterAll(async () => {
  await procs.killAll();
  await nsq.stop();
  ci.cleanup();
});

const logsOf = (what: 'worker' | 'server') =>
  fs
    .readdirSync(procs.logDir)
    .filter((f) => f.startsWith(`${path.basename(ci.data.root)}-${what}-`))
    .map((f) => fs.readFileSync(path.join(procs.logDir, f), 'utf8'))
    .join('\n');
const allLogs = () => `worker:\n${logsOf('worker').slice(-4000)}\nserver:\n${logsOf('server').slice(-4000)}`;

/** The JSON log lines of `what` that say a message was refused on `topic` (and `channel`, when given). */
const refusals = (what: 'worker' | 'server', topic: string, channel?: string) =>
  logsOf(what)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { topic?: string; channel?: string; reason?: string; msg: string })
    .filter((line) => line.topic === topic && line.reason !== undefined && (channel === undefined || line.channel === channel));

async function builds(query: string): Promise<ServerBuild[]> {
  return ((await (await fetch(`${url}/api/builds?limit=100${query}`)).json()) as { builds: ServerBuild[] }).builds;
}

/** Waits until the channel has taken `count` more messages than `before` and holds none. */
async function consumed(topic: string, channel: string, before: number, count: number): Promise<void> {
  await waitFor(
    async () => {
      const stats = await channelStats(nsq.nsqdHttp, topic, channel);
      return stats !== undefined && stats.message_count === before + count && stats.depth === 0 && stats.in_flight_count === 0;
    },
    () => `${topic}/${channel} to take ${count} messages; logs:\n${allLogs()}`,
    { seconds: 60, everyMs: 100 },
  );
}
const taken = async (topic: string, channel: string) => (await channelStats(nsq.nsqdHttp, topic, channel))?.message_count ?? 0;

test('a forged push (unsigned, or sealed for the logs topic) is dropped unread: no clone, no build row, no container; sealed for the push topic, it is built', async () => {
  const repo = TestRepo.create(path.join(sources, 'forged'), 'jobs:\n  binaries:\n    steps: ["echo built"]\n');
  const commit = repo.git('rev-parse', 'HEAD');
  const request = buildRequest(repo, commit);
  const body = JSON.stringify(request);
  const before = await taken(TOPIC, 'binaries');
  await publishMessage(nsq.nsqdHttp, TOPIC, body);
  // A signature made for lxcts.logs (as a log chunk's), replayed on the push topic.
  await publishMessage(nsq.nsqdHttp, TOPIC, seal.seal(LOGS_TOPIC, body));
  await consumed(TOPIC, 'binaries', before, 2);
  // By the job channel's reader, and by the worker's and the server's watchers of the topic.
  // nsqd counts a message finished before the worker's log line about it is read back here.
  await waitFor(
    () => refusals('worker', TOPIC, 'binaries').length >= 2,
    () => `the reader's refusals; logs:\n${allLogs()}`,
    { seconds: 30, everyMs: 100 },
  );
  expect(refusals('worker', TOPIC, 'binaries').map((r) => r.reason)).toEqual(['unsigned', 'bad-mac']);
  await waitFor(
    () => refusals('server', TOPIC, 'server#ephemeral').length === 2 && refusals('worker', TOPIC).length === 4,
    () => `the watchers' refusals; logs:\n${allLogs()}`,
    { seconds: 30, everyMs: 100 },
  );
  expect(ci.store.list({ limit: 1000 }).filter((b) => b.commit === commit)).toEqual([]);
  expect(fs.existsSync(mirrorPath(ci.data.mirrors, request.repo, request.cloneUrl))).toBe(false);
  expect(ci.leftovers().containers).toEqual([]);
  expect(await builds(`&repo=${request.repo}`)).toEqual([]);

  // The same body sealed for its topic: cloned, built, and its events (sealed by the worker) stored by the server.
  await seal.publish(nsq.nsqdHttp, TOPIC, body);
  await waitFor(
    async () => (await builds(`&repo=${request.repo}`)).some((b) => b.commit === commit && b.status === 'success'),
    () => `the sealed push built; logs:\n${allLogs()}`,
    { seconds: 300, everyMs: 250 },
  );
  expect(fs.existsSync(mirrorPath(ci.data.mirrors, request.repo, request.cloneUrl))).toBe(true);
  expect(ci.store.list({ limit: 1000 }).filter((b) => b.commit === commit)).toHaveLength(1);
  // Its live log came as sealed chunks, and none was refused.
  expect(must((await builds(`&repo=${request.repo}`))[0], 'the build').log?.chunks).toBeGreaterThan(0);
  expect(refusals('server', LOGS_TOPIC)).toEqual([]);
}, 400_000);

test('forged build events and log chunks are not stored, and /metrics counts them; sealed, the same are stored', async () => {
  const build = buildEvents({ id: 4242, repo: 'forged/events', commit: 'f'.repeat(40), job: 'binaries' });
  const { bodies } = await chunkMessages(build.key, Buffer.from('forged output\n'), seeded(7));
  const events = await taken(EVENTS_TOPIC, SERVER_CHANNEL);
  const chunks = await taken(LOGS_TOPIC, SERVER_CHANNEL);
  for (const event of build.events) await publishMessage(nsq.nsqdHttp, EVENTS_TOPIC, event);
  for (const chunk of bodies) await publishMessage(nsq.nsqdHttp, LOGS_TOPIC, chunk);
  await consumed(EVENTS_TOPIC, SERVER_CHANNEL, events, build.events.length);
  await consumed(LOGS_TOPIC, SERVER_CHANNEL, chunks, bodies.length);
  expect(await builds('&repo=forged/events')).toEqual([]);
  expect(refusals('server', EVENTS_TOPIC)).toHaveLength(build.events.length);
  expect(refusals('server', LOGS_TOPIC)).toHaveLength(bodies.length);
  const refused = parsePrometheus(await (await fetch(`${url}/metrics`)).text()).filter((s) => s.name === 'lxcts_nsq_messages_refused_total');
  expect(refused).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ labels: { topic: EVENTS_TOPIC, reason: 'unsigned' }, value: build.events.length }),
      expect.objectContaining({ labels: { topic: LOGS_TOPIC, reason: 'unsigned' }, value: bodies.length }),
    ]),
  );

  for (const event of build.events) await seal.publish(nsq.nsqdHttp, EVENTS_TOPIC, event);
  for (const chunk of bodies) await seal.publish(nsq.nsqdHttp, LOGS_TOPIC, chunk);
  let stored: ServerBuild | undefined;
  await waitFor(
    async () => (stored = (await builds('&repo=forged/events')).find((b) => b.status === 'success')) !== undefined,
    () => `the sealed events stored; logs:\n${allLogs()}`,
    { seconds: 60, everyMs: 100 },
  );
  const id = must(stored, 'the stored build').id;
  await waitFor(
    async () => (await (await fetch(`${url}/api/builds/${id}/log`)).text()) === 'forged output\n',
    () => `the sealed chunk stored; logs:\n${allLogs()}`,
    { seconds: 60, everyMs: 100 },
  );
}, 120_000);

test('a forged cancel does not stop a running build; the server’s own (sealed) cancel does', async () => {
  const repo = TestRepo.create(path.join(sources, 'sleepy'), 'jobs:\n  binaries:\n    steps: ["echo sleeping; sleep 600"]\n');
  const commit = repo.git('rev-parse', 'HEAD');
  const request = buildRequest(repo, commit);
  await seal.publish(nsq.nsqdHttp, TOPIC, JSON.stringify(request));
  let running: ServerBuild | undefined;
  await waitFor(
    async () => {
      running = (await builds(`&repo=${request.repo}`)).find((b) => b.status === 'running');
      return running !== undefined && ci.leftovers().containers.length === 1;
    },
    () => `the build running; logs:\n${allLogs()}`,
    { seconds: 240, everyMs: 250 },
  );
  const build = must(running, 'the running build');
  const cancel: ControlMessage = { type: 'cancel', key: build.key, repo: build.repo, commit, job: 'binaries', by: 'mallory', at: Date.now() };
  await publishMessage(nsq.nsqdHttp, CONTROL_TOPIC, JSON.stringify(cancel));
  await waitFor(
    () => refusals('worker', CONTROL_TOPIC).length === 1,
    () => `the worker to refuse the cancel; logs:\n${allLogs()}`,
    { seconds: 60, everyMs: 100 },
  );
  expect(logsOf('worker')).not.toContain('cancelled from the CI server');
  expect(ci.store.get(build.workerBuildId)?.status).toBe('running');
  expect(ci.leftovers().containers).toHaveLength(1);

  const answer = await fetch(`${url}/api/builds/${build.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
  expect(answer.status).toBe(202);
  await waitFor(
    async () => (await builds(`&repo=${request.repo}`)).some((b) => b.id === build.id && b.status === 'cancelled'),
    () => `the build cancelled; logs:\n${allLogs()}`,
    { seconds: 120, everyMs: 250 },
  );
  expect(ci.store.get(build.workerBuildId)).toMatchObject({ status: 'cancelled', message: expect.stringMatching(/^cancelled by admin/) });
  expect(refusals('worker', CONTROL_TOPIC)).toHaveLength(1);
}, 400_000);

test('a message key file others may read (0644) is refused by ci worker, ci server and ci webhook (exit 2), naming the mode', () => {
  const open = path.join(ci.data.root, 'open-key');
  fs.writeFileSync(open, `${randomBytes(32).toString('hex')}\n`, { mode: 0o644 });
  fs.chmodSync(open, 0o644);
  const secret = path.join(ci.data.root, 'webhook-secret');
  fs.writeFileSync(secret, 'a-webhook-secret\n', { mode: 0o600 });
  const env = { LXCTS_DATA_DIR: ci.data.root };
  const commands = [
    ['ci', 'worker', '--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp, '--channel', 'keytest'],
    ['ci', 'server', '--listen', '127.0.0.1:0', '--nsqd-tcp', nsq.nsqdTcp],
    ['ci', 'webhook', '--listen', '127.0.0.1:0', '--secret-file', secret, '--nsqd-http', nsq.nsqdHttp],
  ];
  for (const args of commands) {
    const run = lxcts('', [...args, '--message-key-file', open], { env });
    expect({ args, status: run.status }).toEqual({ args, status: 2 });
    expect(run.stderr).toContain(`--message-key-file: the message key ${open} has mode 644: others may read it; chmod 600 it`);
  }
});
