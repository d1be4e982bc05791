/**
 * Retention through `lxcts ci gc`, and against a publisher in another process: the sweep
 * takes the lock the publisher takes, so a version is never removed between its rename into
 * place and the pointer moving to it.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { publishMessage } from '../src/ci/nsq-api';
import { applyRetention } from '../src/ci/retention';
import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';
import { TestNsq } from './helpers/nsq';
import { buildRequest, CliProcesses } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { FixtureBuild, RetentionFixture } from './helpers/retention-fixture';
import { waitFor } from './helpers/wait';

let fx: RetentionFixture;
beforeEach(() => {
  fx = new RetentionFixture();
});
afterEach(() => fx.cleanup());

const gc = (...args: string[]) => lxcts('/nonexistent', ['ci', 'gc', ...args], { env: { LXCTS_DATA_DIR: fx.data.root } });

test('ci gc --dry-run --json lists what ci gc then removes, with why; the defaults keep 5 per branch for 30 days', async () => {
  const tags: FixtureBuild[] = [];
  for (let i = 0; i < 7; i++) tags.push(await fx.build({ branch: null, ageDays: 40 - i }));
  const dry = gc('--dry-run', '--json');
  expect(dry.status).toBe(0);
  const planned = dry.json() as { dryRun: boolean; removed: Array<{ kind: string; repo: string; path: string; why: string }> };
  expect(planned.dryRun).toBe(true);
  // The two oldest tag builds' binaries and docs; their logs stay (each is the newest build of its tag).
  expect(planned.removed.filter((r) => r.kind !== 'log').map((r) => r.path)).toEqual([
    path.relative(fx.data.root, tags[1]!.binaries),
    path.relative(fx.data.root, tags[0]!.binaries),
    path.relative(fx.data.root, tags[1]!.docs),
    path.relative(fx.data.root, tags[0]!.docs),
  ]);
  expect(planned.removed[0]?.why).toBe('builds of no branch: 6th newest, 39 days old, named by no pointer');
  expect(tags.every((t) => fx.exists(t).binaries)).toBe(true);

  const real = gc();
  expect(real.status).toBe(0);
  expect(real.stdout).toContain(
    `removed ${path.relative(fx.data.root, tags[0]!.binaries)} (builds of no branch: 7th newest, 40 days old, named by no pointer)`,
  );
  expect(real.stdout).toMatch(/^removed 2 binaries versions, 2 docs versions; \d+ kept$/m);
  expect(tags.map((t) => fx.exists(t).binaries)).toEqual([false, false, true, true, true, true, true]);
  expect(gc().stdout).toMatch(/^nothing to remove; \d+ kept$/m);
  expect(gc('--repo', '../etc').status).toBe(2);
});

test('a sweep racing a publisher in another process never removes what the branch pointer is about to name', async () => {
  const publisher = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'retention-publisher.js'), fx.data.root, fx.workspace, '300'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  publisher.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  publisher.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => publisher.once('exit', (code) => resolve(code)));
  let running = true;
  void exited.then(() => (running = false));
  try {
    let removed = 0;
    let sweeps = 0;
    // keep 0, 0 days: everything a pointer does not name goes, the moment it is seen.
    while (running) {
      removed += (await applyRetention({ data: fx.data, store: fx.store, policy: { keep: 0, days: 0 } })).removed.filter((r) => r.kind === 'binaries').length;
      sweeps += 1;
      // A pause between sweeps: the lock is not fair, and the publisher polls for it.
      await sleep(20);
    }
    expect({ code: await exited, output }).toEqual({ code: 0, output: 'published 300\n' });
    expect(sweeps).toBeGreaterThan(1);
    expect(removed).toBeGreaterThan(0); // the sweeps ran while versions were being published
    await applyRetention({ data: fx.data, store: fx.store, policy: { keep: 0, days: 0 } });
    expect(fs.readdirSync(path.join(fx.binariesRepo, '.versions'))).toHaveLength(1);
    expect(fs.readFileSync(path.join(fx.binariesRepo, 'main', 'bin', 'app'), 'utf8')).toBe('app\n');
    expect(fs.readFileSync(path.join(fx.docsRepo, 'main', 'index.html'), 'utf8')).toBe('<h1>hello</h1>\n');
  } finally {
    if (publisher.exitCode === null) publisher.kill('SIGKILL');
    await exited;
  }
}, 120_000);

describe('a worker', () => {
  const ci = new CiSandbox('retention-worker');
  const nsq = new TestNsq();
  const procs = new CliProcesses(ci.data.root);
  beforeAll(() => nsq.start());
  afterAll(async () => {
    await procs.killAll();
    await nsq.stop();
    ci.cleanup();
  });

  test('sweeps the repository it published, under its flags, and says so in its log and the build log', async () => {
    const repo = TestRepo.create(path.join(ci.data.root, 'repos', 'retained'));
    // Three old tag builds of the same repository, published earlier.
    const old = new RetentionFixture('test/retained', ci);
    try {
      const tags = [];
      for (let i = 0; i < 3; i++) tags.push(await old.build({ branch: null, ageDays: 40 - i }));
      const worker = procs.startWorker(
        ['--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp],
        'binaries',
        '--allow-local',
        path.join(ci.data.root, 'repos'),
        '--keep-versions',
        '1',
        '--expire-days',
        '30',
      );
      await publishMessage(nsq.nsqdHttp, 'lxcts.pushes', JSON.stringify(buildRequest(repo, repo.git('rev-parse', 'HEAD'))));
      const line = 'retention: removed 2 binaries versions, 2 docs versions of test/retained';
      await waitFor(
        () => procs.logOf(worker).includes(line),
        () => `the sweep; the worker's log:\n${procs.logOf(worker)}`,
        { seconds: 120, everyMs: 200 },
      );
      expect(tags.map((t) => old.exists(t).binaries)).toEqual([false, false, true]);
      // The worker logs the sweep before the builder writes it into the build's log and ends the build.
      await waitFor(() => ci.store.list({ repo: 'test/retained', status: 'success' }).length === 1, 'the build to end', { seconds: 60, everyMs: 100 });
      const [build] = ci.store.list({ repo: 'test/retained', status: 'success' });
      expect(build?.job).toBe('binaries');
      expect(fs.readFileSync(build!.logPath!, 'utf8')).toContain(`==> ${line}`);
      // Its own version is the branch's newest, named by the main pointer: kept.
      expect(fs.existsSync(path.join(old.binariesRepo, 'main', 'bin', 'hello'))).toBe(true);
    } finally {
      old.cleanup();
    }
  }, 180_000);
});
