/**
 * The stats read cgroup files straight from the kernel, found once per start
 * (src/lxc/cgroup-files.ts). These check that what is read is always this start's cgroup:
 * after a stop the reads fail as liblxc's do, after a freeze they still read, and after a
 * restart into a new cgroup (the old one kept busy, so liblxc names the new one
 * `lxc.payload.NAME-1`) they read the new one, never the old.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';

import { Container } from '../src';
import { failureOf, Sandbox } from './helpers/sandbox';
import { must } from './helpers/must';

const sandbox = new Sandbox('reads');
let c: Container;
const MB = 1024 * 1024;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('reads'));
});
afterAll(() => sandbox.cleanup());

/** The memory cgroup of the container's init, from the host's view. */
async function memoryCgroup(container: Container): Promise<string> {
  const pid = must(await container.initPid(), 'init pid');
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('memory'));
  return v1
    ? `/sys/fs/cgroup/memory${v1.split(':')[2]}`
    : `/sys/fs/cgroup${must(
        lines.find((l) => l.startsWith('0::')),
        'v2 line',
      ).slice(3)}`;
}

test('stats read right after start, freeze, unfreeze and stop, each read after each change', async () => {
  await c.start();
  expect(await c.state()).toBe('RUNNING');
  await c.exec(['/bin/sh', '-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done']);
  const busy = await c.cpuStats();
  expect(busy.usageNs).toBeGreaterThan(10_000_000);
  expect(await c.memoryUsage()).toBeGreaterThan(0);

  await c.freeze();
  expect(await c.state()).toBe('FROZEN');
  // A frozen container's cgroup is still there, and nothing in it runs.
  expect((await c.cpuStats()).usageNs).toBeGreaterThanOrEqual(busy.usageNs);
  expect(await c.memoryUsage()).toBeGreaterThan(0);
  await c.unfreeze();
  expect(await c.state()).toBe('RUNNING');
  expect(await c.memoryUsage()).toBeGreaterThan(0);

  await c.stop();
  expect(await c.state()).toBe('STOPPED');
  // The cgroup found for the last start is gone: never a stale value, never "unavailable".
  for (const call of [() => c.cpuStats(), () => c.memoryUsage(), () => c.memoryLimit()]) {
    expect((await failureOf(call())).code).toBe('LXC_NOT_RUNNING');
  }

  await c.start();
  expect(await c.state()).toBe('RUNNING');
  // A new start, a new cgroup: its counters start again below the busy loop's.
  expect((await c.cpuStats()).usageNs).toBeLessThan(busy.usageNs);
  await c.stop();
});

test('after a restart into a new cgroup (the old one still busy) the reads follow the new one', async () => {
  await c.start();
  expect(await c.memoryUsage()).toBeGreaterThan(0); // the first start's cgroup is found now
  const old = await memoryCgroup(c);
  // A host process in the old memory cgroup keeps the monitor from removing it at stop.
  const holder = spawn('sleep', ['120'], { stdio: 'ignore' });
  try {
    await once(holder, 'spawn');
    fs.writeFileSync(`${old}/cgroup.procs`, String(holder.pid));
    await c.stop();
    expect(fs.existsSync(old)).toBe(true);
    await c.start();
    const current = await memoryCgroup(c);
    expect(current).not.toBe(old);
    // Set through liblxc, which finds the new cgroup itself; read back through the fast path.
    await c.setMemoryLimit(96 * MB);
    expect(await c.memoryLimit()).toBe(96 * MB);
    expect(fs.readFileSync(`${old}/memory.limit_in_bytes`, 'utf8').trim()).not.toBe(String(96 * MB));
  } finally {
    holder.kill('SIGKILL');
    if (holder.exitCode === null && holder.signalCode === null) await once(holder, 'exit');
    await c.stop().catch(() => undefined);
    // The old cgroup is empty now: remove it (a cgroup directory goes with rmdir).
    try {
      fs.rmdirSync(old);
    } catch {
      // gone already, or not made: nothing to clean
    }
  }
});
