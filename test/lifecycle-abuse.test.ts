/**
 * The lifecycle under abuse: hundreds of cycles, callers racing on one name, callers killed
 * midway. create, start, destroy and clone run in the lxcts-lifecycle helper under the
 * container's lock (addon/lifecycle_helper.cc); these tests hold it to what that promises.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container } from '../src';

import { alive, processesMatching, zombieChildren } from './helpers/procfs';
import { Sandbox } from './helpers/sandbox';
import { slowTemplate } from './helpers/slow-template';
import { at, must } from './helpers/must';

const sandbox = new Sandbox('abuse');
/** Where liblxc (and lxcts's lock) keep this lxcpath's lock files. */
const lockDir = path.join('/run/lxc/lock', sandbox.lxcpath);
const CHILD = path.join(__dirname, 'fixtures', 'lifecycle-child.js');
/**
 * The 500 cycles issue 13 asks for: over four minutes on a busy two-core machine (the
 * busybox template is most of it). LXCTS_LIFECYCLE_CYCLES=150 runs fewer while working on
 * this file; a value that is not a positive integer is refused, not run as zero cycles.
 */
const CYCLES = cycles(process.env.LXCTS_LIFECYCLE_CYCLES ?? '500');

function cycles(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`LXCTS_LIFECYCLE_CYCLES must be a positive integer, not ${JSON.stringify(value)}`);
  return n;
}
const ROUNDS = 25;
/** A template that marks that it runs, then waits (in a child) until it is killed. */
const slow = slowTemplate('abuse', 7);
const SLOW_TEMPLATE = slow.path;
/** A sleep only the slow template runs, to find its processes by. */
const TOKEN = slow.token;

afterAll(async () => {
  // Whatever a failing run left running: the code under test may be what is broken.
  for (const pid of [...processesMatching(TOKEN), ...processesMatching(sandbox.lxcpath)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  await sandbox.cleanup();
  fs.rmSync(lockDir, { recursive: true, force: true });
  slow.remove();
  // Empty cgroups a failing run left for this file's names (a busy one stays).
  for (const dir of cgroupDirsMatching(new RegExp(`^lxc\\.(monitor|payload)\\.[a-z]+-${process.pid}-`))) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // still in use, or gone
    }
  }
}, 60_000);

function outcome(call: Promise<unknown>): Promise<string> {
  return call.then(
    () => 'ok',
    (err: { code?: string }) => err.code ?? String(err),
  );
}

/**
 * Every cgroup hierarchy's root, and this process's own cgroup in it (where liblxc would
 * nest a container's cgroups if it did not use the root).
 */
function cgroupRoots(): string[] {
  const roots = new Set<string>();
  const own = new Map<string, string>();
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers = '', where = '/'] = line.split(':');
    for (const c of controllers === '' ? ['unified'] : controllers.replace(/^name=/, '').split(',')) own.set(c, where);
  }
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n')) {
    const [before = '', after = ''] = line.split(' - ');
    const [fstype, , options = ''] = after.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const mountPoint = must(before.split(' ')[4], `the mount point in ${line}`);
    roots.add(mountPoint);
    const controller = fstype === 'cgroup2' ? 'unified' : options.split(',').find((o) => own.has(o.replace(/^name=/, '')));
    const where = controller && own.get(controller.replace(/^name=/, ''));
    if (where && where !== '/') roots.add(path.join(mountPoint, where));
  }
  return [...roots];
}

function cgroupDirsMatching(pattern: RegExp): string[] {
  const found: string[] = [];
  for (const root of cgroupRoots()) {
    let entries: string[];
    try {
      entries = fs.readdirSync(root);
    } catch {
      continue;
    }
    for (const entry of entries) if (pattern.test(entry)) found.push(path.join(root, entry));
  }
  return found;
}

/** lxc.monitor.NAME and lxc.payload.NAME (and the -1, -2 … liblxc picks when those exist). */
function cgroupDirsOf(name: string): string[] {
  return cgroupDirsMatching(new RegExp(`^lxc\\.(monitor|payload)\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(-\\d+)?$`));
}

/** Lock files of this lxcpath that some process holds a lock on (flock or fcntl). */
function heldLocks(): string[] {
  if (!fs.existsSync(lockDir)) return [];
  const locks = fs.readFileSync('/proc/locks', 'utf8');
  return fs.readdirSync(lockDir).filter((file) => {
    const st = fs.statSync(path.join(lockDir, file));
    const major = (st.dev >> 8) & 0xfff;
    const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
    const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino} `;
    return locks.includes(id);
  });
}

function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(dir));
}

/** Polls `check` until it returns true or `ms` pass; liblxc's monitors exit a moment after stop(). */
async function settled(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** What `names` may have left: each test answers for its own containers only. */
async function expectNothingLeftOf(names: string[]): Promise<void> {
  const leftovers = () => ({
    cgroups: names.flatMap(cgroupDirsOf),
    // Monitors ("[lxc monitor] LXCPATH NAME"), templates, rsync, lxcts-lifecycle helpers.
    processes: names.flatMap((n) => [
      ...processesMatching(`${sandbox.lxcpath} ${n}`),
      ...processesMatching(path.join(sandbox.lxcpath, n)),
      ...processesMatching(`lxcts-lifecycle`).filter((pid) => commandLine(pid).includes(` ${n} `)),
    ]),
    mounts: names.flatMap((n) => mountsUnder(path.join(sandbox.lxcpath, n))),
    locks: heldLocks().filter((file) => names.some((n) => file === `.${n}`)),
    containers: sandbox.leftovers().filter((n) => names.includes(n)),
    zombies: zombieChildren(),
  });
  await settled(() => Object.values(leftovers()).every((list) => list.length === 0));
  expect(leftovers()).toEqual({ cgroups: [], processes: [], mounts: [], locks: [], containers: [], zombies: [] });
}

async function withContainer<T>(name: string, fn: (c: Container) => Promise<T>): Promise<T> {
  const c = new Container(name, { lxcpath: sandbox.lxcpath });
  try {
    return await fn(c);
  } finally {
    await c.release();
  }
}

function createBusybox(name: string): Promise<void> {
  return withContainer(name, async (c) => {
    await c.clearConfigItem('lxc.net');
    await c.setConfigItem('lxc.net.0.type', 'empty');
    await c.create({ template: 'busybox' });
  });
}

test(
  `${CYCLES} create/start/stop/destroy cycles leave no cgroup, mount, process or lock behind, and this process stays in its cgroups`,
  async () => {
    const own = fs.readFileSync('/proc/self/cgroup', 'utf8');
    const names = [0, 1, 2, 3].map(() => sandbox.name('cy'));
    const moved: string[] = [];
    await Promise.all(
      names.map(async (name, k) => {
        for (let i = k; i < CYCLES; i += names.length) {
          await createBusybox(name);
          await withContainer(name, async (c) => {
            await c.start();
            // Checked while the container runs: liblxc moved its caller into the monitor's
            // cgroup during start().
            const now = fs.readFileSync('/proc/self/cgroup', 'utf8');
            if (now !== own) moved.push(now);
            await c.stop();
            await c.destroy();
          });
        }
      }),
    );
    expect(moved).toEqual([]);
    expect(fs.readFileSync('/proc/self/cgroup', 'utf8')).toBe(own);
    await expectNothingLeftOf(names);
  },
  CYCLES * 2_000,
);

test("a started container's monitor is a small process, not a copy of this one, and exits with the container", async () => {
  const name = sandbox.name('mon');
  await createBusybox(name);
  await withContainer(name, async (c) => {
    await c.start();
    const monitors = processesMatching(`[lxc monitor] ${sandbox.lxcpath} ${name}`);
    expect(monitors).toHaveLength(1);
    // liblxc forks the monitor from its caller without exec: from Node, a copy of Node.
    const monitor = at(monitors, 0);
    expect(path.basename(fs.readlinkSync(`/proc/${monitor}/exe`))).toBe('lxcts-lifecycle');
    await c.stop();
    await settled(() => !alive(monitor));
    expect(alive(monitor)).toBe(false);
    await c.destroy();
  });
  await expectNothingLeftOf([name]);
});

test('a stop() right after each start() leaves no monitor cgroups behind', async () => {
  const name = sandbox.name('ss');
  await createBusybox(name);
  await withContainer(name, async (c) => {
    // The monitor removes lxc.monitor.NAME as it exits; the start's process must be out of
    // them by then (MonitorCgroups::Leave), or they stay, one per hierarchy and cycle.
    for (let i = 0; i < 5; i++) {
      await c.start();
      await c.stop();
    }
    await c.destroy();
  });
  await expectNothingLeftOf([name]);
}, 60_000);

test('a start that fails after liblxc made the monitor cgroups (a bridge that does not exist) leaves none behind', async () => {
  const name = sandbox.name('sf');
  await createBusybox(name);
  await withContainer(name, async (c) => {
    await c.clearConfigItem('lxc.net');
    await c.setConfigItem('lxc.net.0.type', 'veth');
    await c.setConfigItem('lxc.net.0.link', 'lxctsnobr2');
    await c.saveConfig();
    for (let i = 0; i < 3; i++) expect(await outcome(c.start())).toBe('LXC_START_FAILED');
    await c.destroy();
  });
  await expectNothingLeftOf([name]);
}, 60_000);

describe('races between two objects on one name end with one answer each', () => {
  test('two destroy() calls: one succeeds, the other fails with LXC_NOT_DEFINED', async () => {
    const name = sandbox.name('rd');
    const seen: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await createBusybox(name);
      const [a, b] = [sandbox.container(name), sandbox.container(name)];
      seen.push((await Promise.all([outcome(a.destroy()), outcome(b.destroy())])).sort().join(' '));
      await Promise.all([a.release(), b.release()]);
    }
    expect(seen).toEqual(Array(ROUNDS).fill('LXC_NOT_DEFINED ok'));
    expect(fs.existsSync(path.join(sandbox.lxcpath, name))).toBe(false);
  }, 120_000);

  test('two start() calls: one starts the container, the other fails with LXC_ALREADY_RUNNING', async () => {
    const name = sandbox.name('rs');
    await createBusybox(name);
    const seen: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b] = [sandbox.container(name), sandbox.container(name)];
      const answers = (await Promise.all([outcome(a.start()), outcome(b.start())])).sort().join(' ');
      seen.push(`${answers} → ${await a.state()}`);
      await a.stop();
      await Promise.all([a.release(), b.release()]);
    }
    expect(seen).toEqual(Array(ROUNDS).fill('LXC_ALREADY_RUNNING ok → RUNNING'));
    await withContainer(name, (c) => c.destroy());
    await expectNothingLeftOf([name]);
  }, 120_000);

  test('create() racing destroy(): the answers and what is left match one order or the other', async () => {
    const name = sandbox.name('rc');
    const config = path.join(sandbox.lxcpath, name, 'config');
    const seen: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b] = [sandbox.container(name), sandbox.container(name)];
      await a.clearConfigItem('lxc.net');
      await a.setConfigItem('lxc.net.0.type', 'empty');
      const answers = await Promise.all([outcome(a.create({ template: 'busybox' })), outcome(b.destroy())]);
      const defined = fs.existsSync(config);
      seen.push(`${answers.join(' ')} → ${defined ? 'defined' : 'gone'}`);
      await Promise.all([a.release(), b.release()]);
      if (defined) await withContainer(name, (c) => c.destroy());
    }
    // destroy first: nothing to destroy, then the create stands; create first: both succeed
    // and nothing is left. Never both "ok" with a container left, never a failed create.
    const orders = new Set(['ok LXC_NOT_DEFINED → defined', 'ok ok → gone']);
    expect(seen.filter((s) => !orders.has(s))).toEqual([]);
  }, 120_000);
});

describe('a caller killed with SIGKILL midway', () => {
  /**
   * Runs lifecycle-child.js; resolves once `ready` holds with the child still running, or
   * `ready` milliseconds after the child made its call.
   */
  async function childUntil(args: string[], ready: (() => boolean) | number): Promise<ChildProcess> {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let gone = false;
    child.once('exit', () => (gone = true));
    if (typeof ready === 'number') {
      await settled(() => gone || stdout.includes('calling'), 30_000);
      await new Promise((resolve) => setTimeout(resolve, ready));
      return child;
    }
    await settled(() => gone || ready(), 30_000);
    if (gone || !ready()) {
      child.kill('SIGKILL');
      throw new Error(`the child never got there: ${stderr}`);
    }
    return child;
  }

  async function killed(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  test('during create(), the template dies with it, and destroy() then removes the half-made container', async () => {
    const name = sandbox.name('kd');
    const dir = path.join(sandbox.lxcpath, name);
    const child = await childUntil(['create', sandbox.lxcpath, name, SLOW_TEMPLATE], () => fs.existsSync(path.join(dir, 'template-running')));
    await killed(child);
    await settled(() => processesMatching(TOKEN).length === 0 && processesMatching(dir).length === 0);
    expect({ template: processesMatching(TOKEN), others: processesMatching(dir) }).toEqual({ template: [], others: [] });
    expect(fs.existsSync(path.join(dir, 'partial'))).toBe(true);

    await withContainer(name, (c) => c.destroy());
    expect(fs.existsSync(dir)).toBe(false);
    await expectNothingLeftOf([name]);
  }, 60_000);

  test('during create(), the template dies with it, and the next create() makes a usable container', async () => {
    const name = sandbox.name('kc');
    const dir = path.join(sandbox.lxcpath, name);
    const child = await childUntil(['create', sandbox.lxcpath, name, SLOW_TEMPLATE], () => fs.existsSync(path.join(dir, 'template-running')));
    await killed(child);
    await settled(() => processesMatching(TOKEN).length === 0);
    expect(processesMatching(TOKEN)).toEqual([]);

    await createBusybox(name);
    await withContainer(name, async (c) => {
      await c.start();
      expect((await c.exec(['/bin/true'])).exitCode).toBe(0);
      await c.stop();
      await c.destroy();
    });
    await expectNothingLeftOf([name]);
  }, 60_000);

  test('when the lxcts-lifecycle helper itself is killed during create(), the call fails and its template dies too', async () => {
    const name = sandbox.name('kh');
    const dir = path.join(sandbox.lxcpath, name);
    const c = sandbox.container(name);
    await c.clearConfigItem('lxc.net');
    await c.setConfigItem('lxc.net.0.type', 'empty');
    const creating = outcome(c.create({ template: SLOW_TEMPLATE }));
    await settled(() => fs.existsSync(path.join(dir, 'template-running')), 30_000);
    const helpers = processesMatching('lxcts-lifecycle').filter((pid) => commandLine(pid).includes(` create ${name} `));
    expect(helpers).toHaveLength(1);
    process.kill(at(helpers, 0), 'SIGKILL');
    expect(await creating).toBe('LXC_CREATE_FAILED');
    await settled(() => processesMatching(TOKEN).length === 0, 2_000);
    expect(processesMatching(TOKEN)).toEqual([]);

    await createBusybox(name);
    await withContainer(name, (again) => again.destroy());
    await expectNothingLeftOf([name]);
  }, 60_000);

  test('during a copy clone(), rsync dies with it, and the next clone() to that name makes a full copy', async () => {
    const source = sandbox.name('ks');
    const target = sandbox.name('kt');
    const targetDir = path.join(sandbox.lxcpath, target);
    await createBusybox(source);
    // Enough for rsync to take seconds.
    const big = path.join(sandbox.lxcpath, source, 'rootfs', 'big');
    execFileSync('fallocate', ['-l', '1G', big]);
    const rsyncs = () => processesMatching(targetDir).filter((pid) => readComm(pid) === 'rsync');
    const child = await childUntil(['clone', sandbox.lxcpath, source, target], () => rsyncs().length > 0);
    await killed(child);
    // Far sooner than rsync would finish copying the rest of a gigabyte.
    await settled(() => processesMatching(targetDir).length === 0, 2_000);
    expect(processesMatching(targetDir)).toEqual([]);

    const copy = await withContainer(source, (c) => c.clone(target));
    try {
      expect(fs.statSync(path.join(targetDir, 'rootfs', 'big')).size).toBe(1024 * 1024 * 1024);
      expect(fs.existsSync(path.join(targetDir, 'partial'))).toBe(false);
      await copy.start();
      expect((await copy.exec(['/bin/true'])).exitCode).toBe(0);
      await copy.stop();
      await copy.destroy();
    } finally {
      await copy.release();
    }
    await withContainer(source, (c) => c.destroy());
    await expectNothingLeftOf([source, target]);
  }, 120_000);

  test('during start(), the container ends up running or stopped, never half-started, and leaves no cgroup', async () => {
    const name = sandbox.name('kst');
    await createBusybox(name);
    const states: string[] = [];
    // A start takes some tens of milliseconds: killed right away, and later each round.
    for (const delay of [0, 5, 10, 15, 20, 30, 40]) {
      const child = await childUntil(['start', sandbox.lxcpath, name], delay);
      await killed(child);
      await settled(() => processesMatching(`lxcts-lifecycle`).every((pid) => !commandLine(pid).includes(` ${name} `)));
      await withContainer(name, async (c) => {
        const state = await c.state();
        states.push(state);
        if (state === 'RUNNING') {
          expect((await c.exec(['/bin/true'])).exitCode).toBe(0);
          await c.stop();
        }
      });
    }
    expect(states.filter((s) => s !== 'RUNNING' && s !== 'STOPPED')).toEqual([]);
    await withContainer(name, (c) => c.destroy());
    await expectNothingLeftOf([name]);
  }, 120_000);
});

function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

function readComm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}
