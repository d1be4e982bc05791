/**
 * `lxcts ci up` as a user runs it: one process (dist/) on a temporary data directory and
 * free ports, starting real nsqlookupd, nsqd, receiver, server and workers. A signed push
 * through its webhook is built in real containers and shows on its dashboard; Ctrl-C
 * leaves no process, container, mount or up.json; a second `ci up`, a taken port and a
 * stale lock are each checked. With GitHub credentials and a local stand-in for the GitHub
 * API, the server posts statuses there and the patch-parser worker runs with them.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

import { sendPushEvent } from '../src/ci/hook-spool';
import { MessageSeal, readMessageKey } from '../src/ci/message-seal';
import { channelClientCount, publishMessage } from '../src/ci/nsq-api';
import { isProcessAlive } from '../src/ci/process-identity';
import { type BuildMessage, PUSH_TOPIC } from '../src/ci/push-event';
import { EVENTS_TOPIC } from '../src/server/ingest';
import type { UpProcess, UpState } from '../src/up/up-files';
import { CiSandbox } from './helpers/ci-data';
import { binRun } from './helpers/cli';
import { startGitHubApi } from './helpers/github-api';
import { containersIn } from './helpers/lxc-tools';
import { at, must } from './helpers/must';
import { TestRepo } from './helpers/repo';
import { parsePrometheus } from './helpers/prometheus';
import { channelStats } from './helpers/pipeline';
import { buildEvents } from './helpers/server-events';
import { waitFor } from './helpers/wait';

/** A `ci up` process and everything it printed. */
interface UpRun {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const sandboxes: CiSandbox[] = [];
const runs: UpRun[] = [];
/** Every child any ci up of this file recorded, for afterAll (a later ci up rewrites the file). */
const children = new Map<string, UpProcess>();

function sandbox(label: string): CiSandbox {
  const ci = new CiSandbox(label);
  sandboxes.push(ci);
  return ci;
}

/** `lxcts ci up --data-dir ROOT ...flags`, in a process group of its own (killed whole in afterAll). */
function startUp(root: string, ...flags: string[]): UpRun {
  const child = spawn(process.execPath, [binRun, 'ci', 'up', '--data-dir', root, ...flags], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const run = { child, output: () => text, exited };
  runs.push(run);
  return run;
}

const upState = (root: string) =>
  fs.existsSync(path.join(root, 'up.json')) ? (JSON.parse(fs.readFileSync(path.join(root, 'up.json'), 'utf8')) as UpState) : null;
const upProcesses = (root: string) => JSON.parse(fs.readFileSync(path.join(root, 'up-processes.json'), 'utf8')) as UpProcess[];
const pidOf = (p: UpProcess) => Number(p.identity.split('/')[1]);

/** Waits until `run` wrote up.json (everything ready); fails with its output if it exits first. */
async function ready(run: UpRun, root: string): Promise<UpState> {
  await waitFor(
    () => upState(root)?.pid === run.child.pid || run.child.exitCode !== null,
    () => `ci up to be ready; its output:\n${run.output()}`,
    { seconds: 180, everyMs: 100 },
  );
  const state = must(upState(root), `up.json; ci up exited ${run.child.exitCode}:\n${run.output()}`);
  for (const p of upProcesses(root)) children.set(p.identity, p);
  return state;
}

/** Mount points under `root` (a build's scratch disk), from this machine's mount table. */
function mountsUnder(root: string): string[] {
  const real = fs.realpathSync(root);
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mount) => mount.startsWith(`${real}/`));
}

afterAll(async () => {
  for (const run of runs) {
    try {
      process.kill(-(run.child.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  // The children have process groups of their own: end them by the identities ci up recorded.
  for (const ci of sandboxes) {
    if (fs.existsSync(path.join(ci.data.root, 'up-processes.json'))) for (const p of upProcesses(ci.data.root)) children.set(p.identity, p);
  }
  for (const p of children.values()) if (isProcessAlive(p.identity)) process.kill(pidOf(p), 'SIGKILL');
  await Promise.all(runs.map((r) => r.exited));
  for (const ci of sandboxes) ci.cleanup();
});

describe('one ci up on a data directory', () => {
  const ci = sandbox('up');
  let run: UpRun;
  let state: UpState;

  /** A push of `commit` to main of test/hello, signed with the secret ci up made, through its webhook. */
  async function push(repo: TestRepo, commit: string): Promise<void> {
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      before: '0'.repeat(40),
      after: commit,
      repository: { full_name: 'test/hello', clone_url: repo.dir },
      pusher: { name: 'tests' },
    });
    const secret = fs.readFileSync(state.webhookSecretFile, 'utf8').trim();
    expect((await sendPushEvent(state.webhook, secret, randomUUID(), body)).status).toBe(202);
  }

  beforeAll(async () => {
    run = startUp(ci.data.root, '--allowed-host', 'ci.example');
    state = await ready(run, ci.data.root);
  }, 200_000);

  /** The dashboard's answer to GET /healthz under another Host (fetch sets Host itself). */
  function statusUnderHost(host: string): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      const request = http.get(`${state.dashboard}/healthz`, { headers: { host } }, (response) => {
        response.resume();
        resolve(response.statusCode);
      });
      request.on('error', reject);
    });
  }

  test('up.json names where everything listens; the dashboard and the webhook receiver answer; the secret files are 0600', async () => {
    expect(Object.keys(state).sort()).toEqual([
      'adminTokenFile',
      'dashboard',
      'lookupdHttp',
      'messageKeyFile',
      'nsqdHttp',
      'nsqdTcp',
      'pid',
      'webhook',
      'webhookSecretFile',
    ]);
    expect(state.pid).toBe(run.child.pid);
    expect(await (await fetch(`${state.dashboard}/healthz`)).json()).toEqual({ ok: true });
    expect((await fetch(`${state.webhook.replace(/\/hooks\/github$/, '')}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${state.nsqdHttp}/ping`)).status).toBe(200);
    expect((await fetch(`http://${state.lookupdHttp}/ping`)).status).toBe(200);
    for (const file of [state.webhookSecretFile, state.adminTokenFile, state.messageKeyFile]) {
      expect(path.dirname(file)).toBe(ci.data.root);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(file, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    }
    // Printed for the person at the terminal, and every component's lines carry its name.
    const output = run.output();
    for (const line of [
      `dashboard:       ${state.dashboard}/`,
      `webhook:         ${state.webhook}`,
      state.webhookSecretFile,
      state.adminTokenFile,
      state.messageKeyFile,
    ])
      expect(output).toContain(line);
    for (const prefix of ['webhook         | ', 'server          | ', 'worker binaries | ', 'worker docs     | ']) {
      expect(output.split('\n').some((line) => line.startsWith(prefix))).toBe(true);
    }
    expect(upProcesses(ci.data.root).map((p) => p.name)).toEqual(['nsqlookupd', 'nsqd', 'webhook', 'server', 'worker binaries', 'worker docs']);
    // --allowed-host reached the server: that name is answered, a rebinding page's is not.
    expect(await statusUnderHost('ci.example')).toBe(200);
    expect(await statusUnderHost('evil.example')).toBe(421);
  });

  test('a second ci up on the same data directory is refused, naming the first; the first runs on', async () => {
    const second = startUp(ci.data.root);
    expect(await second.exited).toBe(2);
    expect(second.output()).toContain(`another lxcts ci up (pid ${state.pid}, dashboard ${state.dashboard}) is running on the data directory ${ci.data.root}`);
    expect(second.output()).not.toContain('nsqd |');
    expect(upState(ci.data.root)).toEqual(state);
    expect((await fetch(`${state.dashboard}/healthz`)).status).toBe(200);
  }, 60_000);

  test('a signed push through the webhook is built by both workers; the dashboard shows it; its binaries and docs are served', async () => {
    const repo = TestRepo.create(path.join(ci.data.root, 'repos', 'hello'));
    const commit = repo.git('rev-parse', 'HEAD');
    await push(repo, commit);
    let builds: Array<{ job: string; status: string; commit: string; log: { chunks: number } }> = [];
    await waitFor(
      async () => {
        builds = ((await (await fetch(`${state.dashboard}/api/builds`)).json()) as { builds: typeof builds }).builds;
        return builds.filter((b) => b.commit === commit && b.status === 'success').length === 2;
      },
      () => `both builds to succeed on the dashboard (${JSON.stringify(builds)}); ci up's output:\n${run.output()}`,
      { seconds: 300, everyMs: 250 },
    );
    expect(builds.map((b) => b.job).sort()).toEqual(['binaries', 'docs']);
    // The workers run with --live-logs: the server has each build's log.
    for (const build of builds) expect(build.log.chunks).toBeGreaterThan(0);
    const served = async (route: string) => {
      const response = await fetch(`${state.dashboard}${route}`);
      expect(response.status).toBe(200);
      return Buffer.from(await response.arrayBuffer());
    };
    const sums = (await served('/binaries/test/hello/main/SHA256SUMS')).toString();
    const [sum, name] = sums.trim().split(/ [ *]/) as [string, string];
    expect(name).toBe('bin/hello');
    expect(
      createHash('sha256')
        .update(await served(`/binaries/test/hello/main/${name}`))
        .digest('hex'),
    ).toBe(sum);
    expect((await served('/docs/test/hello/main/')).toString()).toContain('<h1>hello</h1>');
  }, 330_000);

  test('every component reads nsqd with the message key: a build event published without its seal is refused and counted, never shown', async () => {
    const forged = buildEvents({ id: 77, repo: 'forged/up', commit: 'e'.repeat(40), job: 'binaries' });
    for (const event of forged.events) await publishMessage(state.nsqdHttp, EVENTS_TOPIC, event);
    const refused = async () =>
      parsePrometheus(await (await fetch(`${state.dashboard}/metrics`)).text()).find(
        (s) => s.name === 'lxcts_nsq_messages_refused_total' && s.labels.topic === EVENTS_TOPIC && s.labels.reason === 'unsigned',
      )?.value;
    await waitFor(
      async () => (await refused()) === forged.events.length,
      () => `the server to refuse the forged events; ci up's output:\n${run.output()}`,
      { seconds: 60, everyMs: 250 },
    );
    expect(((await (await fetch(`${state.dashboard}/api/builds?repo=forged/up`)).json()) as { builds: unknown[] }).builds).toEqual([]);
    // Every component was given the key file.
    for (const p of upProcesses(ci.data.root).filter((p) => !p.name.startsWith('nsq'))) {
      expect(
        fs
          .readFileSync(`/proc/${pidOf(p)}/cmdline`, 'utf8')
          .split('\0')
          .join(' '),
      ).toContain(`--message-key-file ${state.messageKeyFile}`);
    }
  }, 120_000);

  test('Ctrl-C (SIGINT) during a build stops the workers first, then the rest: exit 0, no child process, no container, no mount, no up.json', async () => {
    // A build that is still running when Ctrl-C comes: its worker cancels it and destroys its container.
    const repo = new TestRepo(path.join(ci.data.root, 'repos', 'hello'));
    repo.write('.lxcts.yml', 'jobs:\n  binaries:\n    steps: ["echo started; sleep 300"]\n');
    const commit = repo.commit('slow');
    await push(repo, commit);
    await waitFor(
      async () => {
        const { builds } = (await (await fetch(`${state.dashboard}/api/builds`)).json()) as { builds: Array<{ commit: string; status: string }> };
        return builds.some((b) => b.commit === commit && b.status === 'running') && containersIn(ci.data.containers).length > 0;
      },
      () => `the slow build's container; ci up's output:\n${run.output()}`,
      { seconds: 120, everyMs: 100 },
    );
    const children = upProcesses(ci.data.root);
    expect(children).toHaveLength(6);
    for (const p of children) expect(isProcessAlive(p.identity)).toBe(true);
    // As a terminal's Ctrl-C does: to the whole process group of ci up (its children have groups of their own).
    process.kill(-(run.child.pid as number), 'SIGINT');
    expect(await run.exited).toBe(0);
    for (const p of children) expect(isProcessAlive(p.identity)).toBe(false);
    expect(containersIn(ci.data.containers)).toEqual([]);
    expect(mountsUnder(ci.data.root)).toEqual([]);
    expect(fs.existsSync(path.join(ci.data.root, 'up.json'))).toBe(false);
    // The workers stopped before the nsqd they report to, nsqd before nsqlookupd.
    const stops = [...run.output().matchAll(/^(.+?) +\| exited \(code 0\)$/gm)].map((m) => m[1]);
    expect(stops).toEqual(['worker docs', 'worker binaries', 'server', 'webhook', 'nsqd', 'nsqlookupd']);
  }, 120_000);
});

test('a port that is taken is refused before anything starts, naming the port and the component', async () => {
  const ci = sandbox('up-port');
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as net.AddressInfo;
  try {
    const run = startUp(ci.data.root, '--webhook-port', String(port));
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain(`port ${port} on 127.0.0.1 (the webhook receiver's port, --webhook-port) is taken`);
    // Nothing was started: no component printed a line, no up.json.
    expect(run.output()).not.toMatch(/^nsqlookupd +\|/m);
    expect(fs.existsSync(path.join(ci.data.root, 'up.json'))).toBe(false);
  } finally {
    taken.close();
  }
}, 60_000);

test('a ci up killed with SIGKILL does not block the next: its lock is taken over and what it left running is stopped', async () => {
  const ci = sandbox('up-stale');
  const killed = startUp(ci.data.root, '--channel', 'binaries');
  await ready(killed, ci.data.root);
  const left = upProcesses(ci.data.root);
  expect(left).toHaveLength(5);
  // SIGKILL to ci up alone: its children live on in their own process groups.
  killed.child.kill('SIGKILL');
  await killed.exited;
  expect(left.every((p) => isProcessAlive(p.identity))).toBe(true);

  const next = startUp(ci.data.root, '--channel', 'binaries');
  const state = await ready(next, ci.data.root);
  expect(state.pid).toBe(next.child.pid);
  // (nsqd and nsqlookupd may have ended already: Go programs die of SIGPIPE at their next log line.)
  expect(next.output()).toContain(`stopping worker binaries (pid ${pidOf(at(left, 4))}), left running by a ci up that was killed`);
  for (const p of left) expect(isProcessAlive(p.identity)).toBe(false);
  expect((await fetch(`${state.dashboard}/healthz`)).status).toBe(200);

  // A component that dies while everything runs stops everything, with exit code 1.
  const running = upProcesses(ci.data.root);
  const server = must(
    running.find((p) => p.name === 'server'),
    'the server',
  );
  process.kill(pidOf(server), 'SIGKILL');
  expect(await next.exited).toBe(1);
  expect(next.output()).toContain('server exited unexpectedly (signal SIGKILL); stopping everything');
  for (const p of running) expect(isProcessAlive(p.identity)).toBe(false);
  expect(fs.existsSync(path.join(ci.data.root, 'up.json'))).toBe(false);
  expect(fs.existsSync(path.join(ci.data.root, 'up-processes.json'))).toBe(false);
}, 300_000);

test('a component that fails its start fails ci up with its last lines; what was started is stopped again', async () => {
  const ci = sandbox('up-fail');
  // An admin token too short to be one: ci up keeps an existing token file, the server refuses it.
  fs.writeFileSync(path.join(ci.data.root, 'admin-token'), 'short\n', { mode: 0o600 });
  const run = startUp(ci.data.root);
  expect(await run.exited).toBe(1);
  const output = run.output();
  expect(output).toMatch(/server exited during start-up \(code 2\); its last lines:\n.*--admin-token-file: /);
  for (const name of ['webhook', 'nsqd', 'nsqlookupd']) expect(output).toMatch(new RegExp(`^${name} +\\| exited \\(code 0\\)$`, 'm'));
  expect(output).not.toContain('worker binaries |');
  expect(fs.existsSync(path.join(ci.data.root, 'up.json'))).toBe(false);
  expect(fs.existsSync(path.join(ci.data.root, 'up-processes.json'))).toBe(false);
}, 120_000);

test('a message key others may read, kept in the data directory, is refused before anything starts (exit 2)', async () => {
  const ci = sandbox('up-open-key');
  const key = path.join(ci.data.root, 'message-key');
  fs.writeFileSync(key, `${'ab'.repeat(32)}\n`, { mode: 0o644 });
  fs.chmodSync(key, 0o644);
  const run = startUp(ci.data.root);
  expect(await run.exited).toBe(2);
  expect(run.output()).toContain(`the message key ${key} has mode 644: others may read it; chmod 600 it`);
  expect(run.output()).not.toMatch(/^nsqlookupd +\|/m);
  expect(fs.existsSync(path.join(ci.data.root, 'up.json'))).toBe(false);
}, 60_000);

test('with GitHub credentials, the server posts statuses to that API linking to --public-url, and a patch-parser worker reads pull requests there', async () => {
  const ci = sandbox('up-github');
  const api = await startGitHubApi();
  try {
    const token = path.join(ci.data.root, 'github-token');
    fs.writeFileSync(token, 'ghp_up\n', { mode: 0o600 });
    const run = startUp(
      ci.data.root,
      '--channel',
      'binaries',
      '--github-token-file',
      token,
      '--github-api-url',
      api.url,
      '--public-url',
      'https://ci.example.org/',
      '--bot-login',
      'lxcts-bot',
    );
    const state = await ready(run, ci.data.root);
    expect(upProcesses(ci.data.root).map((p) => p.name)).toEqual(['nsqlookupd', 'nsqd', 'webhook', 'server', 'worker binaries', 'worker patch-parser']);
    expect(run.output()).toMatch(/^worker patch-parser \| /m);
    expect(run.output()).toContain(`GitHub:          commit statuses and the patch parser, through ${api.url}`);
    expect(await channelClientCount(state.nsqdHttp, PUSH_TOPIC, 'patch-parser')).toBe(1);
    // It was given the GitHub flags (files made absolute) and the bot's login.
    const bot = must(
      upProcesses(ci.data.root).find((p) => p.name === 'worker patch-parser'),
      'the patch parser',
    );
    const argv = fs.readFileSync(`/proc/${pidOf(bot)}/cmdline`, 'utf8').split('\0');
    expect(argv.join(' ')).toContain(`--channel patch-parser --github-api-url ${api.url} --github-token-file ${token} --bot-login lxcts-bot`);

    // The server: a build's events become its commit status, posted to the API with the token.
    const sha = 'b'.repeat(40);
    const build = buildEvents({ id: 1, repo: 'octo/widgets', cloneUrl: `${api.url}/octo/widgets.git`, commit: sha, job: 'binaries' });
    // Signed with the key ci up made: its components take nothing else from nsqd.
    const seal = new MessageSeal(readMessageKey(state.messageKeyFile));
    for (const event of build.events) await seal.publish(state.nsqdHttp, EVENTS_TOPIC, event);
    const posted = () => api.to(`POST /repos/octo/widgets/statuses/${sha}`).find((r) => (r.body as { state?: string }).state === 'success');
    await waitFor(
      () => posted() !== undefined,
      () => `the success status; ci up's output:\n${run.output()}`,
      { seconds: 60 },
    );
    expect(posted()?.headers.authorization).toBe('token ghp_up');
    expect((posted()?.body as { target_url: string }).target_url).toMatch(/^https:\/\/ci\.example\.org\/builds\/\d+$/);

    // The patch parser: a pull request on the push topic is read from the same API, with the same token.
    const base = 'c'.repeat(40);
    const pull: BuildMessage = {
      kind: 'pull_request',
      delivery: randomUUID(),
      repo: 'octo/widgets',
      // (The build worker refuses to fetch from a loopback host, and builds nothing.)
      cloneUrl: `${api.url.replace(/^http:/, 'https:')}/octo/widgets.git`,
      ref: 'refs/pull/12/head',
      before: base,
      after: sha,
      pusher: 'octocat',
      receivedAt: Date.now(),
      pull: { number: 12, action: 'opened', baseRef: 'main', baseSha: base, headRepo: 'octo/widgets', fork: false, mergeable: null },
    };
    // No commits: to the bot the pull request has moved on, and it writes nothing.
    api.script('GET /repos/octo/widgets/pulls/12/commits', { status: 200, body: [] });
    // Before it, the same pull request as #13 without the seal: the bot never reads #13.
    await publishMessage(
      state.nsqdHttp,
      PUSH_TOPIC,
      JSON.stringify({ ...pull, delivery: randomUUID(), ref: 'refs/pull/13/head', pull: { ...pull.pull, number: 13 } }),
    );
    await seal.publish(state.nsqdHttp, PUSH_TOPIC, JSON.stringify(pull));
    const read = () => api.to('GET /repos/octo/widgets/pulls/12/commits');
    await waitFor(
      () => read().length > 0,
      () => `the patch parser's read; ci up's output:\n${run.output()}`,
      { seconds: 60 },
    );
    expect(at(read(), 0).headers.authorization).toBe('token ghp_up');
    await waitFor(
      async () => {
        const bot = await channelStats(state.nsqdHttp, PUSH_TOPIC, 'patch-parser');
        return bot !== undefined && bot.message_count === 2 && bot.depth === 0 && bot.in_flight_count === 0;
      },
      () => `the patch parser done with both messages; ci up's output:\n${run.output()}`,
      { seconds: 60 },
    );
    expect(api.to(/\/pulls\/13/)).toEqual([]);
    expect(run.output()).toMatch(/worker patch-parser \| .*message without the lxcts seal dropped/);

    process.kill(-(run.child.pid as number), 'SIGINT');
    expect(await run.exited).toBe(0);
  } finally {
    await api.close();
  }
}, 300_000);

test('the patch-parser channel without credentials, and unusable GitHub options, are refused before anything starts (exit 2)', async () => {
  const ci = sandbox('up-github-bad');
  const cases: Array<[string[], RegExp]> = [
    [['--channel', 'patch-parser'], /the patch-parser channel needs GitHub credentials/],
    [['--github-token-file', path.join(ci.data.root, 'missing')], /GitHub: ENOENT/],
    [['--github-app-id', '7'], /GitHub: a GitHub App needs both its id and its private key file/],
    [['--public-url', 'ftp://ci.example'], /--public-url: not an http\(s\) URL/],
    [['--allowed-host', 'evil/name'], /--allowed-host: /],
  ];
  for (const [flags, message] of cases) {
    const run = startUp(ci.data.root, ...flags);
    expect({ flags, code: await run.exited }).toEqual({ flags, code: 2 });
    expect(run.output()).toMatch(message);
    expect(run.output()).not.toMatch(/^nsqlookupd +\|/m);
  }
}, 120_000);
