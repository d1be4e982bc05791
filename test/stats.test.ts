import { Container } from '../src';
import { failureOf, Sandbox } from './helpers/sandbox';
import { must } from './helpers/must';

const sandbox = new Sandbox('stats');
let c: Container;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('stats'));
  await c.start();
});
afterAll(() => sandbox.cleanup());

test('CPU usage grows after a busy loop inside the container', async () => {
  const before = await c.cpuStats();
  await c.exec(['/bin/sh', '-c', 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done']);
  const after = await c.cpuStats();
  expect(after.usageNs).toBeGreaterThan(before.usageNs + 10_000_000);
  expect(after.userNs + after.systemNs).toBeGreaterThan(before.userNs + before.systemNs);
});

test('memory usage is a positive byte count and a memory limit can be set, read back and removed', async () => {
  expect(await c.memoryUsage()).toBeGreaterThan(0);
  expect(await c.memoryLimit()).toBeNull();
  await c.setMemoryLimit(256 * 1024 * 1024);
  expect(await c.memoryLimit()).toBe(256 * 1024 * 1024);
  await c.setMemoryLimit(null);
  expect(await c.memoryLimit()).toBeNull();
  expect(await failureOf(c.setMemoryLimit(-5))).toBeInstanceOf(TypeError);
});

test('block I/O usage is reported in bytes', async () => {
  const io = await c.blkioUsage();
  expect(Number.isInteger(io.readBytes)).toBe(true);
  expect(Number.isInteger(io.writeBytes)).toBe(true);
});

test('interface stats count the loopback traffic of a ping inside the container', async () => {
  const before = await c.interfaceStats();
  expect(before.lo).toBeDefined();
  // busybox's init leaves lo down in a container without a network device.
  const ping = await c.exec(['/bin/sh', '-c', 'ip link set lo up && ping -c 2 -W 1 127.0.0.1']);
  expect(ping.exitCode).toBe(0);
  const after = await c.interfaceStats();
  expect(must(after.lo, 'lo after the ping').rxBytes).toBeGreaterThan(must(before.lo, 'lo before the ping').rxBytes);
});

test('stats of a stopped container fail with LXC_NOT_RUNNING, never a silent 0', async () => {
  const stopped = await sandbox.busybox(sandbox.name('stopped'));
  for (const call of [() => stopped.cpuStats(), () => stopped.memoryUsage(), () => stopped.blkioUsage(), () => stopped.interfaceStats()]) {
    expect((await failureOf(call())).code).toBe('LXC_NOT_RUNNING');
  }
});
