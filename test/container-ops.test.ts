/**
 * Devices, interfaces and CRIU checkpoints against a real container (ported from go-lxc's
 * TestAddDeviceNode/TestRemoveDeviceNode, TestAttachInterface/TestDetachInterface and
 * TestCheckpoint/TestRestore, with the effect seen from inside the container). Interfaces
 * are a veth pair this file makes and removes; no real host interface is touched.
 * CRIU: where `criu check` fails on this machine, the checkpoint test is skipped with criu's
 * reason in its name, and the call must fail with LXC_CRIU_UNAVAILABLE naming that reason.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Container } from '../src';
import { onPath } from '../src/lxc/missing-tools';
import { fdCount } from './helpers/procfs';
import { failureOf, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('attachopts-ops');
let c: Container;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-attachopts-criu-'));
/** A veth pair of this file's own (this kernel has no dummy driver): at most 15 characters. */
const VETH = `aov${process.pid % 1_000_000}`;
const PEER = `aop${process.pid % 1_000_000}`;

function ip(...args: string[]) {
  return spawnSync('ip', args, { encoding: 'utf8' });
}

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('attachopts'));
  await c.start();
});
afterAll(async () => {
  ip('link', 'del', PEER); // takes its other end with it, wherever that is
  await sandbox.cleanup();
  fs.rmSync(scratch, { recursive: true, force: true });
});

async function sh(script: string): Promise<{ exitCode: number | null; stdout: string }> {
  const r = await c.exec(['/bin/sh', '-c', script]);
  return { exitCode: r.exitCode, stdout: r.stdout.toString().trim() };
}

describe('device nodes', () => {
  test('addDeviceNode makes a host device usable inside; removeDeviceNode takes it away', async () => {
    // /dev/cpu_dma_latency (10:259): not in a container's /dev, harmless, and reading it
    // needs the device cgroup to allow it.
    const node = '/dev/cpu_dma_latency';
    expect((await sh(`test -e ${node}`)).exitCode).toBe(1);
    await c.addDeviceNode(node);
    expect((await sh(`stat -c '%F %t,%T' ${node}`)).stdout).toBe('character special file a,103');
    expect((await sh(`head -c 4 ${node} | wc -c`)).stdout).toBe('4');
    await c.removeDeviceNode(node);
    expect((await sh(`test -e ${node}`)).exitCode).toBe(1);
  });

  test('a destination that is not the same device on the host fails with LXC_DEVICE_FAILED (liblxc stats it there)', async () => {
    expect((await failureOf(c.addDeviceNode('/dev/full', '/dev/attachopts-full'))).code).toBe('LXC_DEVICE_FAILED');
    expect((await sh('test -e /dev/attachopts-full')).exitCode).toBe(1);
  });

  test('a source that is not a device fails with LXC_DEVICE_FAILED naming it', async () => {
    const err = await failureOf(c.addDeviceNode('/etc/hostname', '/dev/attachopts-x'));
    expect(err.code).toBe('LXC_DEVICE_FAILED');
    expect(err.message).toContain('/etc/hostname');
  });

  test.each([
    ['a relative path', 'dev/full', undefined],
    ['a ".." part', '/dev/../etc/shadow', undefined],
    ['a newline', '/dev/full\nc 1:1 rwm', undefined],
    ['a NUL', '/dev/full\0', undefined],
    ['a destination with ".."', '/dev/full', '/../../etc/x'],
    ['a number', 7, undefined],
  ])('%s is refused before anything runs', async (_what, source, dest) => {
    const err = await failureOf(c.addDeviceNode(source as string, dest));
    expect(err.name).toBe('TypeError');
  });

  test('a stopped container: LXC_NOT_RUNNING', async () => {
    const stopped = await sandbox.busybox(sandbox.name('stopped'));
    expect((await failureOf(stopped.addDeviceNode('/dev/full'))).code).toBe('LXC_NOT_RUNNING');
    expect((await failureOf(stopped.attachInterface('lo'))).code).toBe('LXC_NOT_RUNNING');
  });
});

describe('interfaces', () => {
  test('attachInterface moves a host interface in under a new name, ipAddresses filters its addresses by scope, detachInterface moves it back', async () => {
    expect(ip('link', 'add', VETH, 'type', 'veth', 'peer', 'name', PEER).status).toBe(0);
    await c.attachInterface(VETH, 'eth7');
    expect(ip('link', 'show', VETH).status).not.toBe(0);
    expect(await c.interfaces()).toContain('eth7');

    // Addresses by scope, on the interface just moved in (and lo).
    const setup = await sh(
      'ip link set lo up && ip link set eth7 up && ip addr add 10.77.0.2/24 dev eth7 && ' +
        'ip addr add 169.254.7.7/16 scope link dev eth7 && ip -6 addr add fe80::77/64 dev eth7',
    );
    expect(setup.exitCode).toBe(0);
    const global = await c.ipAddresses({ scope: 'global' });
    expect(global).toContain('10.77.0.2');
    expect(global).not.toContain('169.254.7.7');
    const link = await c.ipAddresses({ scope: 'link' });
    expect(link).toEqual(expect.arrayContaining(['169.254.7.7', 'fe80::77']));
    expect(link).not.toContain('10.77.0.2');
    expect(await c.ipAddresses({ scope: 'link', family: 'inet' })).toEqual(['169.254.7.7']);
    expect(await c.ipAddresses({ scope: 'host', family: 'inet' })).toEqual(['127.0.0.1']);
    expect(await c.ipAddresses({ scope: 'global', interface: 'lo' })).toEqual([]);
    // Without a scope, liblxc's read as before: IPv6 link-local is left out.
    expect(await c.ipAddresses()).not.toContain('fe80::77');

    await c.detachInterface('eth7', VETH);
    expect(ip('link', 'show', VETH).status).toBe(0);
    expect(await c.interfaces()).not.toContain('eth7');
  });

  test('calls through the container-op helper leave no descriptor and no child behind', async () => {
    expect((await sh('ip link set lo up')).exitCode).toBe(0);
    // One call first, so that whatever Node opens once (the child_process machinery) is open.
    await failureOf(c.attachInterface('aonone0'));
    const before = fdCount();
    for (let i = 0; i < 20; i++) {
      expect((await failureOf(c.attachInterface('aonone0'))).code).toBe('LXC_NETWORK_FAILED');
      expect(await c.ipAddresses({ scope: 'host', family: 'inet' })).toEqual(['127.0.0.1']);
    }
    expect(fdCount()).toBeLessThanOrEqual(before);
    const children = spawnSync('pgrep', ['-P', String(process.pid), '-f', 'lxcts-container-op'], { encoding: 'utf8' });
    expect(children.stdout.trim()).toBe('');
  });

  test.each(['universe', 'site', 0, 'GLOBAL'])('the address scope %j is refused', async (scope) => {
    expect((await failureOf(c.ipAddresses({ scope: scope as never }))).name).toBe('TypeError');
  });

  test('an interface the host does not have: LXC_NETWORK_FAILED', async () => {
    expect((await failureOf(c.attachInterface('aonone0'))).code).toBe('LXC_NETWORK_FAILED');
  });

  test.each(['', 'a'.repeat(16), '../eth0', 'eth0 up', '.', '-x', 'eth\0'])('the interface name %j is refused', async (name) => {
    expect((await failureOf(c.attachInterface(name))).name).toBe('TypeError');
    expect((await failureOf(c.detachInterface('eth0', name))).name).toBe('TypeError');
  });
});

describe('stats extras (this host: cgroup v1 memory and cpuacct)', () => {
  test('the soft memory limit can be set, read back and removed', async () => {
    expect(await c.softMemoryLimit()).toBeNull();
    await c.setSoftMemoryLimit(64 * 1024 * 1024);
    expect(await c.softMemoryLimit()).toBe(64 * 1024 * 1024);
    await c.setSoftMemoryLimit(null);
    expect(await c.softMemoryLimit()).toBeNull();
    expect((await failureOf(c.setSoftMemoryLimit(0))).name).toBe('TypeError');
  });

  test('kernel memory and memory+swap: usage counts, limits unlimited', async () => {
    expect(await c.kernelMemoryUsage()).toBeGreaterThan(0);
    expect(await c.kernelMemoryLimit()).toBeNull();
    const usage = await c.memoryUsage();
    expect(await c.memorySwapUsage()).toBeGreaterThanOrEqual(usage);
    expect(await c.memorySwapLimit()).toBeNull();
  });

  test('the memory+swap limit can be set above the memory limit, read back and removed (go-lxc TestSetMemorySwapLimit)', async () => {
    const MiB = 1024 * 1024;
    await c.setMemoryLimit(256 * MiB);
    try {
      await c.setMemorySwapLimit(512 * MiB);
      expect(await c.memorySwapLimit()).toBe(512 * MiB);
      // Below the memory limit: the kernel refuses it.
      expect((await failureOf(c.setMemorySwapLimit(128 * MiB))).code).toBe('LXC_CGROUP_FAILED');
      await c.setMemorySwapLimit(null);
      expect(await c.memorySwapLimit()).toBeNull();
    } finally {
      await c.setMemorySwapLimit(null);
      await c.setMemoryLimit(null);
    }
  });

  test('CPU time per CPU: one entry per CPU of the host, and they add up to cpuStats().usageNs', async () => {
    await c.exec(['/bin/sh', '-c', 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done']);
    const perCpu = await c.cpuTimePerCpu();
    const total = (await c.cpuStats()).usageNs;
    expect(perCpu).toHaveLength(os.cpus().length);
    const sum = perCpu.reduce((a, b) => a + b, 0);
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThanOrEqual(total);
  });

  test('a stopped container: LXC_NOT_RUNNING, not 0', async () => {
    const stopped = await sandbox.busybox(sandbox.name('stopped'));
    for (const call of [() => stopped.cpuTimePerCpu(), () => stopped.kernelMemoryUsage(), () => stopped.softMemoryLimit()]) {
      expect((await failureOf(call())).code).toBe('LXC_NOT_RUNNING');
    }
  });
});

/** Why CRIU cannot checkpoint on this machine, from `criu check`; undefined when it can. */
function criuProblem(): string | undefined {
  if (!onPath('criu')) return 'criu is not installed (scripts/setup-host.sh installs it)';
  const check = spawnSync('criu', ['check'], { encoding: 'utf8', timeout: 60_000 });
  if (check.status === 0) return undefined;
  const lines = `${check.stdout}\n${check.stderr}`.split('\n').filter((l) => /error/i.test(l));
  return `\`criu check\` fails: ${(lines[0] ?? `status ${check.status}`).trim()}`;
}

describe('CRIU', () => {
  const problem = criuProblem();

  (problem === undefined ? test : test.skip)(
    `checkpoint stops a running busybox container into a directory and restore brings it back${problem ? ` (skipped: ${problem})` : ''}`,
    async () => {
      const dir = path.join(scratch, 'images');
      await c.exec(['/bin/sh', '-c', 'echo before > /tmp/marker']);
      await c.checkpoint(dir, { stop: true });
      expect(await c.state()).toBe('STOPPED');
      await c.restore(dir);
      expect(await c.state()).toBe('RUNNING');
      expect((await sh('cat /tmp/marker')).stdout).toBe('before');
    },
    120_000,
  );

  (problem !== undefined && onPath('criu') ? test : test.skip)(
    "where criu cannot work, checkpoint fails with LXC_CRIU_UNAVAILABLE and criu check's reason",
    async () => {
      const err = await failureOf(c.checkpoint(path.join(scratch, 'broken')));
      expect(err.code).toBe('LXC_CRIU_UNAVAILABLE');
      expect(err.message).toContain('criu check');
      expect(err.message).toContain(problem!.replace(/^`criu check` fails: /, ''));
      expect(await c.state()).toBe('RUNNING');
      const migrate = await failureOf(c.migrate('feature-check', { directory: path.join(scratch, 'broken'), featuresToCheck: ['mem-track'] }));
      expect(migrate.code).toBe('LXC_CRIU_UNAVAILABLE');
    },
    120_000,
  );

  test('with criu not on the PATH, checkpoint, restore and migrate fail naming criu and the package', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent-attachopts';
    try {
      for (const call of [
        () => c.checkpoint(path.join(scratch, 'x')),
        () => c.restore(path.join(scratch, 'x')),
        () => c.migrate('dump', { directory: path.join(scratch, 'x') }),
      ]) {
        const err = await failureOf(call());
        expect(err.code).toBe('LXC_CRIU_UNAVAILABLE');
        expect(err.message).toContain('`criu` is not installed');
        expect(err.message).toContain('apt-get install criu');
      }
    } finally {
      process.env.PATH = saved;
    }
  });

  test.each([
    ['a relative directory', () => c.checkpoint('images')],
    ['a ".." directory', () => c.checkpoint('/tmp/../etc')],
    ['an unknown migrate command', () => c.migrate('rm' as never, { directory: '/tmp/x' })],
    ['an absolute predumpDir', () => c.migrate('dump', { directory: '/tmp/x', predumpDir: '/etc' })],
    ['a predumpDir with ".."', () => c.migrate('dump', { directory: '/tmp/x', predumpDir: '../x' })],
    ['a page server address that is an option', () => c.migrate('dump', { directory: '/tmp/x', pageServer: { address: '--exec', port: 1 } })],
    ['a page server port out of range', () => c.migrate('dump', { directory: '/tmp/x', pageServer: { address: '10.0.0.1', port: 70000 } })],
    ['an unknown feature', () => c.migrate('feature-check', { directory: '/tmp/x', featuresToCheck: ['all' as never] })],
    ['a negative ghost limit', () => c.migrate('dump', { directory: '/tmp/x', ghostLimit: -1 })],
  ])('%s is refused before anything runs', async (_what, call) => {
    expect((await failureOf(call())).name).toBe('TypeError');
  });
});
