import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { identify } from '../src/ci/git';
import { binRun } from './helpers/cli';
import { CiSandbox } from './helpers/ci-data';
import { TestBridge } from './helpers/bridge';
import { TestRepo } from './helpers/repo';
import { at, must } from './helpers/must';
import { waitFor } from './helpers/wait';

const ci = new CiSandbox('builder');
const repos = path.join(ci.data.root, 'repos');
afterAll(() => ci.cleanup());

describe('a C project with binaries and docs jobs', () => {
  let repo: TestRepo;
  let first: string;
  // A local repository is local/<directory name>-<hash of its real path>.
  const binaries = () => path.join(ci.data.binaries, identify(repo.dir).repo);
  const docs = () => path.join(ci.data.docs, identify(repo.dir).repo);

  beforeAll(() => {
    repo = TestRepo.create(path.join(repos, 'hello'));
    first = repo.git('rev-parse', 'HEAD');
  });

  test('builds in fresh containers and publishes binaries with checksums, commit and version', async () => {
    const results = await ci.builder().build({ source: repo.dir });
    expect(results.map((r) => [r.job, r.status, r.built])).toEqual([
      ['binaries', 'success', true],
      ['docs', 'success', true],
    ]);
    expect(results[0]?.artifacts).toEqual(['bin/hello']);
    const dir = path.join(binaries(), first);
    expect(execFileSync(path.join(dir, 'bin', 'hello'), { encoding: 'utf8' })).toBe('hello, world\n');
    expect(execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' })).toBe('bin/hello: OK\n');
    expect(fs.readFileSync(path.join(dir, 'commit'), 'utf8')).toBe(`${first}\n`);
    expect(fs.readFileSync(path.join(dir, 'version'), 'utf8')).toBe(`${first.slice(0, 7)}\n`);
    expect(fs.readlinkSync(path.join(binaries(), 'main'))).toBe(first);
    expect(fs.readFileSync(path.join(docs(), 'main', 'index.html'), 'utf8')).toContain(first.slice(0, 7));
    // The log has each step's command, duration and exit code.
    const log = fs.readFileSync(must(results[0]?.logPath, "the first job's log"), 'utf8');
    expect(log).toMatch(/^==> \[1\/2\] make build: exit 0 in \d+\.\d\d s$/m);
    expect(log).toContain(`hello ${first.slice(0, 7)}`);
    expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
    // liblxc's per-name lock files of the build containers go too (names are never reused).
    const locks = path.join('/run/lxc/lock', path.resolve(ci.data.containers));
    expect(fs.existsSync(locks) ? fs.readdirSync(locks) : []).toEqual([]);
  });

  test('the same commit is not built again unless forced', async () => {
    const again = await ci.builder().build({ source: repo.dir });
    expect(again.map((r) => [r.status, r.built])).toEqual([
      ['success', false],
      ['success', false],
    ]);
    const forced = await ci.builder().build({ source: repo.dir, job: 'docs', force: true });
    expect(forced.map((r) => [r.job, r.status, r.built])).toEqual([['docs', 'success', true]]);
  });

  test('a newer commit moves the branch pointers atomically; an older one never moves them back', async () => {
    const oldSite = fs.readlinkSync(path.join(docs(), 'main'));
    repo.write('hello.c', fs.readFileSync(path.join(repo.dir, 'hello.c'), 'utf8').replace('hello, world', 'hello, again'));
    const second = repo.commit('again');
    await ci.builder().build({ source: repo.dir });
    expect(fs.readlinkSync(path.join(binaries(), 'main'))).toBe(second);
    expect(execFileSync(path.join(binaries(), 'main', 'bin', 'hello'), { encoding: 'utf8' })).toBe('hello, again\n');
    expect(fs.readFileSync(path.join(docs(), 'main', 'index.html'), 'utf8')).toContain(second.slice(0, 7));
    expect(fs.existsSync(path.join(docs(), oldSite))).toBe(false);
    // Rebuilding the first commit does not regress the pointers.
    await ci.builder().build({ source: repo.dir, ref: first, force: true });
    await ci.builder().build({ source: repo.dir, ref: 'main', job: 'binaries', force: true });
    expect(fs.readlinkSync(path.join(binaries(), 'main'))).toBe(second);
    // Both commits' binaries stay at their stable place.
    expect(fs.existsSync(path.join(binaries(), first, 'bin', 'hello'))).toBe(true);
  });

  test('a file:// URL is the same repository as its path', async () => {
    const r = at(await ci.builder().build({ source: `file://${repo.dir}`, job: 'binaries' }), 0);
    expect(r.status).toBe('success');
    expect(ci.store.get(r.buildId)!.repo).toBe(identify(repo.dir).repo);
    expect(fs.existsSync(path.join(binaries(), 'main', 'bin', 'hello'))).toBe(true);
  });

  test('two builds of different commits run at once', async () => {
    const a = repo.commit('a');
    repo.git('checkout', '-q', '-b', 'other');
    const b = repo.commit('b');
    repo.git('checkout', '-q', 'main');
    const [ra, rb] = await Promise.all([
      ci.builder().build({ source: repo.dir, ref: a, job: 'binaries' }),
      ci.builder().build({ source: repo.dir, ref: b, job: 'binaries' }),
    ]);
    expect([ra[0]?.status, rb[0]?.status]).toEqual(['success', 'success']);
    expect(fs.existsSync(path.join(binaries(), a, 'bin', 'hello'))).toBe(true);
    expect(fs.existsSync(path.join(binaries(), b, 'bin', 'hello'))).toBe(true);
    expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
  });
});

test('two jobs of one commit publish their artifacts side by side, with one SHA256SUMS for both', async () => {
  const repo = TestRepo.create(
    path.join(repos, 'twojobs'),
    'jobs:\n  a:\n    steps: ["mkdir -p out && echo A > out/a"]\n    artifacts: [out/a]\n  b:\n    steps: ["mkdir -p out && echo B > out/b"]\n    artifacts: [out/b]\n',
  );
  const results = await Promise.all([ci.builder().build({ source: repo.dir, job: 'a' }), ci.builder().build({ source: repo.dir, job: 'b' })]);
  expect(results.flat().map((r) => r.status)).toEqual(['success', 'success']);
  const dir = path.join(ci.data.binaries, identify(repo.dir).repo, repo.git('rev-parse', 'HEAD'));
  expect(execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' })).toBe('out/a: OK\nout/b: OK\n');
});

describe('failures', () => {
  test("a missing base is the build's error, said as such, and nothing of the build is left (its checkout was made beside the clone)", async () => {
    const repo = TestRepo.create(path.join(repos, 'no-base'), 'base: lxcts-cioverhead-missing\njobs:\n  build:\n    steps: ["true"]\n');
    const result = at(await ci.builder().build({ source: repo.dir }), 0);
    expect(result.status).toBe('error');
    expect(result.message).toMatch(/there is no base "lxcts-cioverhead-missing"/);
    expect(fs.readdirSync(ci.data.containers).filter((n) => n.startsWith('lxcts-build-'))).toEqual([]);
    expect(fs.readdirSync(ci.data.workspaces)).toEqual([]);
  });

  const make = (name: string, file: string) => TestRepo.create(path.join(repos, name), file);

  test('a failing step fails the job with its exit code; later steps do not run', async () => {
    const repo = make('failing', 'jobs:\n  test:\n    steps: ["echo before", "exit 3", "echo never"]\n');
    const r = at(await ci.builder().build({ source: repo.dir }), 0);
    expect(r).toMatchObject({ status: 'failure', exitCode: 3, message: 'step 2 (exit 3) exited 3' });
    expect(fs.readFileSync(r.logPath!, 'utf8')).not.toContain('never');
    expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
  });

  test('steps read end-of-file from stdin, and a daemon left in the background does not hold the build', async () => {
    const repo = make('daemon', 'jobs:\n  t:\n    steps: ["read x || echo eof", "sleep 300 & echo started", "echo after"]\n');
    const started = Date.now();
    const r = at(await ci.builder().build({ source: repo.dir }), 0);
    expect(r.status).toBe('success');
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(fs.readFileSync(r.logPath!, 'utf8')).toMatch(/^eof$[\s\S]*^started$[\s\S]*^after$/m);
    expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
  });

  test('the wall-clock limit stops a step and says so', async () => {
    const repo = make('slow', 'jobs:\n  slow:\n    timeout: 2s\n    steps: ["sleep 60"]\n');
    const started = Date.now();
    const r = at(await ci.builder().build({ source: repo.dir }), 0);
    expect(r.status).toBe('failure');
    expect(r.message).toMatch(/wall-clock limit of 2 s/);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
  });

  test('a greedy step is killed by the memory limit, and the message says which limit', async () => {
    const repo = make('greedy', 'jobs:\n  greedy:\n    limits: { memory: 64M }\n    steps: ["head -c 400M /dev/zero | tail -c 300M > /dev/null"]\n');
    const r = at(await ci.builder().build({ source: repo.dir }), 0);
    expect(r.status).toBe('failure');
    expect(r.message).toMatch(/memory limit \(67108864 bytes\) exceeded/);
  });

  test('the pids limit is enforced', async () => {
    const repo = make('forky', 'jobs:\n  forky:\n    limits: { pids: 20 }\n    steps: ["for i in $(seq 40); do sleep 5 & done; wait"]\n');
    const r = at(await ci.builder().build({ source: repo.dir }), 0);
    expect(r.status).toBe('failure');
    expect(r.message).toMatch(/pids limit \(20\) reached/);
  });

  test('an invalid .lxcts.yml is refused with located messages', async () => {
    const repo = make('invalid', 'jobs:\n  a:\n    step: [make]\n');
    await expect(ci.builder().build({ source: repo.dir })).rejects.toThrow(/\.lxcts\.yml:3:5: jobs\.a: unknown key "step"/);
  });
});

describe('network', () => {
  const bridge = new TestBridge('ci');
  beforeAll(() => bridge.up());
  afterAll(() => bridge.down());

  test('builds have no network unless the job asks; with network: true they get an address from the bridge', async () => {
    // Only the lease: the host itself (ping included) is out of a build's reach (test/ci-network.test.ts).
    const leased = `busybox ip -4 -o addr show dev eth0 | grep -q 'inet ${bridge.subnet}\\\\.'`;
    const repo = TestRepo.create(
      path.join(repos, 'net'),
      `jobs:\n  offline:\n    steps: ["${leased}"]\n  online:\n    network: true\n    steps: ["${leased}"]\n`,
    );
    const results = await ci.builder({ bridge: bridge.name }).build({ source: repo.dir });
    expect(results.map((r) => [r.job, r.status])).toEqual([
      ['offline', 'failure'],
      ['online', 'success'],
    ]);
  });
});

test('a builder killed with SIGKILL mid-build leaves a container that the next start sweeps', async () => {
  const repo = TestRepo.create(path.join(repos, 'killed'), 'jobs:\n  long:\n    steps: ["sleep 60"]\n');
  const child = spawn(process.execPath, [binRun, 'ci', 'build', repo.dir], {
    env: { ...process.env, LXCTS_DATA_DIR: ci.data.root },
    stdio: 'ignore',
  });
  await waitFor(() => ci.leftovers().containers.length === 1 && ci.store.list({ status: 'running' }).length === 1, 'the build to start', {
    seconds: 30,
    everyMs: 100,
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const orphan = at(ci.store.list({ status: 'running' }), 0);
  expect(ci.leftovers().containers).toEqual([orphan.container]);

  const swept = await ci.builder().sweep();
  expect(swept.map((b) => [b.id, b.status, b.message])).toEqual([[orphan.id, 'error', 'builder died']]);
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
});
