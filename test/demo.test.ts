/**
 * `npm run demo` (examples/demo.js) for real: `lxcts ci up`, the sample pushed through the
 * hook, both jobs built in containers, binaries checked against SHA256SUMS and the docs page
 * fetched; and afterwards nothing it made is left: no process, container, mount, temporary
 * directory or liblxc lock. Ctrl-C in the middle leaves nothing either.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { containersIn, destroyWithTools } from './helpers/lxc-tools';
import { must } from './helpers/must';
import { ROOT } from './helpers/root';
import { waitFor } from './helpers/wait';

const DEMO = path.join(ROOT, 'examples', 'demo.js');
// A home with no git config: the demo's commit must not need the user's identity.
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-demo-home-'));
const runs: Array<{ child: ChildProcess; output: () => string }> = [];

function startDemo(): { child: ChildProcess; output: () => string; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), NO_COLOR: '1' };
  for (const name of Object.keys(env)) if (name.startsWith('GIT_')) delete env[name];
  // A process group of its own, as a terminal gives a command: Ctrl-C goes to the whole group.
  const child = spawn(process.execPath, [DEMO], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  child.stdout?.on('data', (b: Buffer) => chunks.push(b.toString()));
  child.stderr?.on('data', (b: Buffer) => chunks.push(b.toString()));
  const run = { child, output: () => chunks.join('') };
  runs.push(run);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return { ...run, exit };
}

/** The temporary directory the demo says it made. */
const rootOf = (output: string) => /temporary directory: (\S+)/.exec(output)?.[1] ?? '';

/** Everything of the demo's still on this machine: processes naming its directory, mounts, monitors, the directory, liblxc's locks. */
function leftovers(root: string): string[] {
  expect(root).toMatch(/^\/.*lxcts-demo-/);
  const found: string[] = [];
  const processes = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(root));
  found.push(...processes.map((p) => `process ${p.trim()}`));
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(root));
  found.push(...mounts.map((m) => `mount ${m}`));
  if (fs.existsSync(root)) found.push(`directory ${root}`);
  if (fs.existsSync(path.join('/run/lxc/lock', root))) found.push(`liblxc locks /run/lxc/lock${root}`);
  return found;
}

/** Whatever a failed run left: removed with the tools, so that the next tests start clean. */
function sweep(root: string): void {
  if (!root.includes('lxcts-demo-')) return;
  for (const line of execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n')) {
    if (line.includes(root)) {
      try {
        process.kill(Number(line.trim().split(' ')[0]), 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  for (const lxcpath of [path.join(root, 'data', 'containers'), path.join(root, 'data', 'bases')]) {
    if (fs.existsSync(lxcpath)) for (const name of containersIn(lxcpath)) destroyWithTools(lxcpath, name);
  }
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mount = line.split(' ')[4] ?? '';
    if (mount.startsWith(`${root}/`)) execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
  }
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(path.join('/run/lxc/lock', root), { recursive: true, force: true });
}

afterAll(() => {
  for (const run of runs) {
    if (run.child.exitCode === null && run.child.signalCode === null && run.child.pid) {
      try {
        process.kill(-run.child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    sweep(rootOf(run.output()));
  }
  fs.rmSync(home, { recursive: true, force: true });
});

test('npm run demo builds the sample pushed through the hook, checks its binaries and docs, and leaves nothing behind', async () => {
  const demo = startDemo();
  const { code } = await demo.exit;
  const out = demo.output();
  // The output says what went wrong when it did.
  if (code !== 0) throw new Error(`the demo exited ${code}:\n${out}`);
  // Each step of the sample's jobs, live from the dashboard: the binary it built printed its version.
  expect(out).toMatch(/^ {4}binaries \| ==> \[1\/2\] make build$/m);
  expect(out).toMatch(/^ {4}binaries \| hello [0-9a-f]{7,}$/m);
  expect(out).toMatch(/^ {4}docs {5}\| ==> \[1\/1\] make docs: exit 0/m);
  expect(out).toMatch(/^ {4}binaries: success \(build \d+: `make build` exit 0/m);
  expect(out).toMatch(/^ {4}docs: success \(build \d+: `make docs` exit 0/m);
  // The published files, fetched from the server and checked.
  const binaries = /^ {4}binaries: (http:\/\/127\.0\.0\.1:\d+\/binaries\/local\/hello-ci-[0-9a-f]+\/main\/)$/m.exec(out)?.[1];
  expect(binaries).toBeDefined();
  expect(out).toMatch(/^ {6}bin\/hello: OK$/m);
  expect(out).toMatch(/^ {6}sha256sum -c SHA256SUMS: 1 file OK$/m);
  expect(out).toMatch(/^ {4}docs: {5}http:\/\/127\.0\.0\.1:\d+\/docs\/local\/hello-ci-[0-9a-f]+\/main\/\n {6}200 OK$/m);
  expect(out).toMatch(/^Dashboard: http:\/\/127\.0\.0\.1:\d+\/$/m);
  expect(out).toContain('pushed, built, served and checked');
  // ci up is stopped: its dashboard no longer answers.
  const dashboard = must(/^Dashboard: (\S+)$/m.exec(out)?.[1], 'the dashboard URL');
  await expect(fetch(dashboard)).rejects.toThrow();
  expect(leftovers(rootOf(out))).toEqual([]);
});

test('Ctrl-C while a build runs stops ci up, which cancels the build and destroys its container, and removes everything the demo made', async () => {
  const demo = startDemo();
  // Once the demo has pushed, a second push of our own, to another branch, with a step that
  // takes minutes: a build surely running when Ctrl-C comes (the sample's take a second).
  await waitFor(() => /^4\/5 /m.test(demo.output()) || demo.child.exitCode !== null, 'the demo pushed', { seconds: 180 });
  const out = demo.output();
  const bare = must(/^ {4}(\/\S+\/hello-ci\.git) \(the CI calls it \S+\)$/m.exec(out)?.[1], 'the bare repository');
  const dashboard = must(/the log live from the dashboard \((http:\/\/[^)]+?)\/?\)/.exec(out)?.[1], 'the dashboard');
  const clone = path.join(home, 'slow');
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t.invalid', ...args], { env: { ...process.env, HOME: home }, stdio: 'pipe' });
  git('clone', '--quiet', bare, clone);
  fs.writeFileSync(path.join(clone, '.lxcts.yml'), 'base: host\njobs:\n  binaries:\n    steps: ["sleep 600"]\n    timeout: 15m\n');
  git('-C', clone, 'commit', '--quiet', '-am', 'slow');
  git('-C', clone, 'push', '--quiet', 'origin', 'HEAD:refs/heads/slow');
  await waitFor(
    async () => {
      const response = await fetch(`${dashboard}/api/builds?branch=slow&status=running`).catch(() => null);
      return ((await response?.json()) as { builds: unknown[] } | undefined)?.builds.length === 1;
    },
    'the slow build running',
    { seconds: 180 },
  );
  process.kill(-must(demo.child.pid, 'the demo pid'), 'SIGINT');
  const { code } = await demo.exit;
  const all = demo.output();
  expect(all).toContain('Ctrl-C: stopping.');
  expect(all).toContain('Stopping lxcts ci up...');
  expect(code).toBe(130);
  // The running build's container (its monitor names the data directory), scratch mount and the rest.
  expect(leftovers(rootOf(all))).toEqual([]);
});
