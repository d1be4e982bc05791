/**
 * Limits on every build, tried from inside real builds: the defaults hold for a job that
 * sets none, a job cannot ask past the operator's ceilings, and filling disk, memory,
 * the process table or the log is stopped with a message naming the limit.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container } from '../src';
import { Builder, JobResult } from '../src/ci/builder';
import { DEFAULT_LIMITS } from '../src/ci/limits';
import { binRun } from './helpers/cli';
import { CiSandbox } from './helpers/ci-data';
import { TestRepo } from './helpers/repo';
import { at, must } from './helpers/must';
import { waitFor } from './helpers/wait';

const ci = new CiSandbox('limits');
const repos = path.join(ci.data.root, 'repos');
afterAll(() => ci.cleanup());

const MiB = 1024 ** 2;
const make = (name: string, file: string) => TestRepo.create(path.join(repos, name), file);

/** Mounts, loop devices and images a build left in the data directory: none, between builds. */
function scratchLeftovers(): { mounts: string[]; loops: string[]; files: string[] } {
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p?.startsWith(`${ci.data.root}/`) === true);
  const loops = fs
    .readdirSync('/sys/block')
    .filter((d) => d.startsWith('loop'))
    .filter((d) => {
      try {
        return fs.readFileSync(`/sys/block/${d}/loop/backing_file`, 'utf8').startsWith(`${ci.data.root}/`);
      } catch {
        return false;
      }
    });
  return { mounts, loops, files: fs.readdirSync(ci.data.workspaces) };
}

const clean = { mounts: [], loops: [], files: [] };

/**
 * Builds `repo` and reads cgroup items of its container from the host while its first
 * step runs (a step may not see its own cgroup files, depending on the base's mounts).
 */
async function buildReadingCgroup(builder: Builder, repo: TestRepo, keys: string[]): Promise<{ result: JobResult; values: string[] }> {
  let reading: Promise<string[]> | undefined;
  const results = await builder.build({
    source: repo.dir,
    onEvent: (event) => {
      if (event.type !== 'step-started' || event.step !== 1 || reading) return;
      const container = new Container(event.build.container!, { lxcpath: ci.data.containers });
      reading = Promise.all(keys.map((k) => container.getCgroupItem(k).then((v) => v.trim()))).finally(() => container.release());
    },
  });
  return { result: at(results, 0), values: await must(reading, 'the cgroup reading of step 1') };
}

test('a job that sets no limits gets the defaults: memory, pids, CPU, disk', async () => {
  const repo = make(
    'defaults',
    [
      'jobs:',
      '  show:',
      '    steps:',
      '      - sleep 1',
      // overlayfs reports its upper directory's filesystem: the container's / is limited too.
      '      - echo "disk $(df -B1 --output=size /workspace | tail -n 1) $(df -B1 --output=size / | tail -n 1)"',
      '',
    ].join('\n'),
  );
  const { result: r, values } = await buildReadingCgroup(ci.builder(), repo, ['memory.limit_in_bytes', 'pids.max', 'cpu.cfs_quota_us', 'cpu.cfs_period_us']);
  expect(r.status).toBe('success');
  expect(values).toEqual([String(DEFAULT_LIMITS.memory), String(DEFAULT_LIMITS.pids), String(DEFAULT_LIMITS.cpus * 100_000), '100000']);
  const log = fs.readFileSync(r.logPath!, 'utf8');
  // The workspace is on a filesystem of the disk limit's size (ext4's own metadata aside).
  const [workspaceSize, rootSize] = /^disk (\d+) (\d+)$/m.exec(log)!.slice(1).map(Number);
  for (const size of [workspaceSize, rootSize]) {
    expect(size).toBeLessThanOrEqual(DEFAULT_LIMITS.disk);
    expect(size).toBeGreaterThan(DEFAULT_LIMITS.disk * 0.9);
  }
  expect(scratchLeftovers()).toEqual(clean);
});

test('filling the disk fails the step naming the limit; writes to / and /workspace share it; the host loses at most the limit', async () => {
  const limit = 64 * MiB;
  const repo = make(
    'filldisk',
    [
      'jobs:',
      '  fill:',
      '    limits: { disk: 64M }',
      '    steps:',
      // The container's own files count too: they live in the overlay upper, on the same filesystem.
      '      - dd if=/dev/zero of=/root/first bs=1M count=40 status=none',
      '      - dd if=/dev/zero of=/workspace/second bs=1M count=400 status=none',
      '      - echo never',
      '',
    ].join('\n'),
  );
  const free = () => {
    const s = fs.statfsSync(ci.data.root);
    return s.bavail * s.bsize;
  };
  const before = free();
  let lowest = before;
  const sampler = setInterval(() => (lowest = Math.min(lowest, free())), 20);
  let results;
  try {
    results = await ci.builder().build({ source: repo.dir });
  } finally {
    clearInterval(sampler);
  }
  const r = at(results, 0);
  expect(r.status).toBe('failure');
  expect(r.message).toMatch(/^step 2 \(dd .*\) exited 1: disk limit \(67108864 bytes, 64 MiB\) reached/);
  const log = fs.readFileSync(r.logPath!, 'utf8');
  expect(log).toMatch(/No space left on device/);
  expect(log).not.toMatch(/^never$/m);
  // Other programs write to this filesystem too: allow them a little, far below the 400 MiB asked.
  expect(before - lowest).toBeLessThan(limit + 32 * MiB);
  expect(scratchLeftovers()).toEqual(clean);
  // With the message (it says why a container or workspace could not be removed) and what
  // a container's directory still holds: this failed once in a full run, and not alone.
  const left = ci.leftovers();
  const inside = left.containers.map((name) => `${name}: ${fs.readdirSync(path.join(ci.data.containers, name)).join(' ')}`);
  expect({ leftovers: left, inside, message: r.message }).toEqual({
    leftovers: { containers: [], workspaces: [] },
    inside: [],
    message: r.message?.replace(/; (container|workspace) not removed.*$/, ''),
  });
});

test('running out of files (inodes) on the scratch filesystem is the disk limit too', async () => {
  const repo = make(
    'manyfiles',
    'jobs:\n  files:\n    limits: { disk: 16M }\n    steps: ["mkdir /workspace/d && cd /workspace/d && i=0 && while [ $i -lt 100000 ]; do : > f$i || exit 1; i=$((i+1)); done"]\n',
  );
  const r = at(await ci.builder().build({ source: repo.dir }), 0);
  expect(r.status).toBe('failure');
  expect(r.message).toMatch(/exited \d+: disk limit \(16777216 bytes, 16 MiB\) reached/);
  expect(scratchLeftovers()).toEqual(clean);
});

test("a checkout bigger than the disk limit fails the build as the user's mistake, naming the limit", async () => {
  const repo = make('bigrepo', 'jobs:\n  small:\n    limits: { disk: 16M }\n    steps: ["echo never"]\n');
  repo.write('blob.bin', '');
  fs.writeFileSync(path.join(repo.dir, 'blob.bin'), crypto.randomBytes(24 * MiB));
  repo.commit('too big');
  const r = at(await ci.builder().build({ source: repo.dir }), 0);
  expect(r.status).toBe('failure');
  expect(r.message).toMatch(/^disk limit \(16777216 bytes, 16 MiB\) reached: the checkout does not fit \(.*No space left on device/);
  expect(fs.readFileSync(r.logPath!, 'utf8')).not.toMatch(/^never$/m);
  expect(scratchLeftovers()).toEqual(clean);
});

test('a fork bomb under the default limits is stopped at the pids limit, and the host carries on', async () => {
  const repo = make('forkbomb', 'jobs:\n  bomb:\n    timeout: 60s\n    steps: ["f() { f | f & }; f; sleep 3; exit 3"]\n');
  const r = at(await ci.builder().build({ source: repo.dir }), 0);
  expect(r.status).toBe('failure');
  expect(r.message).toMatch(new RegExp(`pids limit \\(${DEFAULT_LIMITS.pids}\\) reached`));
  // The host can still start processes, and nothing of the build is left.
  expect(execFileSync('echo', ['alive'], { encoding: 'utf8' })).toBe('alive\n');
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
  expect(scratchLeftovers()).toEqual(clean);
});

test('filling memory under the default limit fails the step naming the limit', async () => {
  // tail keeps its last 2.5 GiB in memory: over the 2 GiB default.
  const repo = make('fillmemory', 'jobs:\n  greedy:\n    steps: ["head -c 3G /dev/zero | tail -c 2500M > /dev/null"]\n');
  const r = at(await ci.builder().build({ source: repo.dir }), 0);
  expect(r.status).toBe('failure');
  expect(r.message).toMatch(new RegExp(`memory limit \\(${DEFAULT_LIMITS.memory} bytes\\) exceeded`));
});

test("a job asking past the operator's ceilings fails at once, naming each limit and its ceiling", async () => {
  const repo = make('greedyask', 'jobs:\n  big:\n    timeout: 5h\n    limits: { memory: 4G, disk: 8G, cpus: 1 }\n    steps: ["echo never"]\n');
  const r = at(await ci.builder({ ceilings: { memory: 1024 ** 3, disk: 16 * 1024 ** 3 } }).build({ source: repo.dir }), 0);
  expect(r.status).toBe('failure');
  expect(r.message).toBe(
    "limits.memory asks for 4 GiB, above this worker's ceiling of 1 GiB (--max-memory); " +
      "timeout asks for 18000 s, above this worker's ceiling of 10800 s (--max-timeout)",
  );
  expect(fs.readFileSync(r.logPath!, 'utf8')).not.toMatch(/^never$/m);
  expect(ci.store.get(r.buildId)!.status).toBe('failure');
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });

  // The same through the CLI's flags, as an operator sets them.
  const cli = spawn(process.execPath, [binRun, 'ci', 'build', repo.dir, '--force', '--max-memory', '8G', '--max-timeout', '4h'], {
    env: { ...process.env, LXCTS_DATA_DIR: ci.data.root },
  });
  let out = '';
  cli.stdout.on('data', (c: Buffer) => (out += c.toString()));
  cli.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise((resolve) => cli.once('exit', resolve));
  expect(code).toBe(1);
  expect(out).toContain("big: failure (timeout asks for 18000 s, above this worker's ceiling of 14400 s (--max-timeout))");
  expect(out).not.toMatch(/memory/);
});

test('a ceiling flag that is not a size, a number or a duration is a usage error (exit 2) naming the flag', () => {
  for (const [flag, value, expected] of [
    ['--max-disk', 'lots', '--max-disk expects a size such as 512M, 8G or 1T, got "lots"'],
    ['--max-cpus', '0', '--max-cpus expects a number of CPUs such as 2 or 0.5, got "0"'],
    ['--max-timeout', '5', '--max-timeout expects a duration such as 90m or 3h, got "5"'],
  ] as const) {
    const run = spawnSync(process.execPath, [binRun, 'ci', 'build', repos, flag, value], {
      env: { ...process.env, LXCTS_DATA_DIR: ci.data.root },
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(expected);
  }
});

test('a ceiling below a default lowers the default: a job that sets no timeout is stopped at the ceiling', async () => {
  const repo = make('capped', 'jobs:\n  slow:\n    steps: ["sleep 60"]\n');
  const started = Date.now();
  const { result: r, values } = await buildReadingCgroup(ci.builder({ ceilings: { timeout: 3000, pids: 100 } }), repo, ['pids.max']);
  expect(r.status).toBe('failure');
  expect(r.message).toMatch(/wall-clock limit of 3 s/);
  expect(values).toEqual(['100']);
  expect(Date.now() - started).toBeLessThan(30_000);
});

test('a log past its limit is truncated and says by how much; the build goes on', async () => {
  const repo = make('chatty', 'jobs:\n  chatty:\n    limits: { log: 64K }\n    steps: ["head -c 1048576 /dev/zero | tr \'\\\\0\' x", "echo after"]\n');
  const r = at(await ci.builder().build({ source: repo.dir }), 0);
  expect(r.status).toBe('success');
  const log = fs.readFileSync(r.logPath!, 'utf8');
  expect(fs.statSync(r.logPath!).size).toBeLessThan(64 * 1024 + 4096);
  expect(log).toContain('==> log limit of 64 KiB reached: further output is not kept (the build goes on)');
  // 1 MiB of x and "after\n" went out; 64 KiB of it was kept.
  expect(log).toContain(`==> log truncated: ${1024 * 1024 + 6 - 64 * 1024} bytes of output past the 64 KiB limit were dropped`);
  expect(log).toMatch(/^==> \[2\/2\] echo after: exit 0/m);
  expect(log).toMatch(/^==> chatty: success$/m);
});

test('a builder killed mid-build leaves a mounted scratch filesystem that the next start sweeps', async () => {
  const repo = make('killed', 'jobs:\n  long:\n    steps: ["sleep 60"]\n');
  const child = spawn(process.execPath, [binRun, 'ci', 'build', repo.dir], { env: { ...process.env, LXCTS_DATA_DIR: ci.data.root }, stdio: 'ignore' });
  await waitFor(
    () => ci.store.list({ status: 'running' }).length === 1 && scratchLeftovers().mounts.length === 1 && ci.leftovers().containers.length === 1,
    'the build to start',
    { seconds: 30, everyMs: 100 },
  ).catch((err) => {
    throw new Error(`${err}: ${JSON.stringify([ci.store.list({ status: 'running' }), scratchLeftovers(), ci.leftovers()])}`);
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  expect(scratchLeftovers().loops).toHaveLength(1);

  await ci.builder().sweep();
  expect(scratchLeftovers()).toEqual(clean);
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
});
