/**
 * @tier unit
 * The stats go-lxc has beyond usage and limit: their parsers, and which cgroup file each
 * reads on v1 and on v2 through the CgroupReader seam (this host is v1 only, so v2 and a
 * missing swap accounting are given by a reader over a table of files). A stat the
 * cgroup version does not have fails with LXC_STAT_UNAVAILABLE saying why.
 */
import { LxcError } from '../../src/lxc/errors';
import { CgroupReader } from '../../src/lxc/stats';
import {
  cpuTimePerCpu,
  kernelMemoryLimit,
  kernelMemoryUsage,
  memorySwapLimit,
  memorySwapUsage,
  parseMemoryStatField,
  parsePerCpu,
  setMemorySwapLimit,
  setSoftMemoryLimit,
  softMemoryLimit,
} from '../../src/lxc/stats-extras';
import { failureOf } from '../helpers/failure';

/** A reader over a table of cgroup files; any other key fails as liblxc does (LXC_CGROUP_FAILED). */
function files(table: Record<string, string>): CgroupReader {
  return async (keys) =>
    keys.map((key) => {
      if (!Object.hasOwn(table, key)) throw new LxcError(`cannot read ${key}`, { code: 'LXC_CGROUP_FAILED', op: 'getCgroupItem', container: 'c' });
      return table[key] ?? '';
    });
}

const UNLIMITED_V1 = '9223372036854771712\n';

const v2 = files({
  'memory.current': '1000\n',
  'memory.swap.current': '24\n',
  'memory.max': '4096\n',
  'memory.swap.max': 'max\n',
  'memory.low': '0\n',
  'memory.stat': 'anon 100\nfile 200\nkernel 3456\nkernel_stack 16384\n',
  'cpu.stat': 'usage_usec 10\nuser_usec 5\nsystem_usec 5\n',
});

test('parsePerCpu reads cpuacct.usage_percpu; anything else is not a reading', () => {
  expect(parsePerCpu('123 0 456 \n')).toEqual([123, 0, 456]);
  expect(parsePerCpu('')).toBeUndefined();
  expect(parsePerCpu('1 x 2')).toBeUndefined();
});

test('parseMemoryStatField finds one key, not a key it is the prefix of', () => {
  expect(parseMemoryStatField('kernel_stack 5\nkernel 7\n', 'kernel')).toBe(7);
  expect(parseMemoryStatField('kernel_stack 5\n', 'kernel')).toBeUndefined();
});

test('cgroup v1: each stat from its v1 file', async () => {
  const v1 = files({
    'memory.soft_limit_in_bytes': '67108864\n',
    'memory.kmem.usage_in_bytes': '2048\n',
    'memory.kmem.limit_in_bytes': UNLIMITED_V1,
    'memory.memsw.usage_in_bytes': '5000\n',
    'memory.memsw.limit_in_bytes': '8192\n',
    'cpuacct.usage_percpu': '10 20\n',
  });
  expect(await softMemoryLimit(v1, 'c')).toBe(67108864);
  expect(await kernelMemoryUsage(v1, 'c')).toBe(2048);
  expect(await kernelMemoryLimit(v1, 'c')).toBeNull();
  expect(await memorySwapUsage(v1, 'c')).toBe(5000);
  expect(await memorySwapLimit(v1, 'c')).toBe(8192);
  expect(await cpuTimePerCpu(v1, 'c')).toEqual([10, 20]);
});

test('cgroup v2: soft limit is memory.low, kernel memory from memory.stat, memory+swap summed', async () => {
  expect(await softMemoryLimit(v2, 'c')).toBeNull();
  expect(await kernelMemoryUsage(v2, 'c')).toBe(3456);
  expect(await memorySwapUsage(v2, 'c')).toBe(1024);
  expect(await memorySwapLimit(v2, 'c')).toBeNull(); // swap.max is "max"
  const limited = files({ 'memory.max': '4096\n', 'memory.swap.max': '1024\n' });
  expect(await memorySwapLimit(limited, 'c')).toBe(5120);
});

test('cgroup v2: kernel memory limit and per-CPU time are LXC_STAT_UNAVAILABLE, saying why', async () => {
  const kmem = await failureOf(kernelMemoryLimit(v2, 'c'));
  expect(kmem.code).toBe('LXC_STAT_UNAVAILABLE');
  expect(kmem.message).toContain('only cgroup v1 has a kernel memory limit');
  const perCpu = await failureOf(cpuTimePerCpu(v2, 'c'));
  expect(perCpu.code).toBe('LXC_STAT_UNAVAILABLE');
  expect(perCpu.message).toContain('cpuacct.usage_percpu');
});

test('without swap accounting: memory+swap is LXC_STAT_UNAVAILABLE naming swapaccount=1', async () => {
  const noSwap = files({ 'memory.usage_in_bytes': '1000\n', 'memory.limit_in_bytes': UNLIMITED_V1 });
  for (const call of [memorySwapUsage, memorySwapLimit]) {
    const err = await failureOf(call(noSwap, 'c'));
    expect(err.code).toBe('LXC_STAT_UNAVAILABLE');
    expect(err.message).toContain('swapaccount=1');
  }
});

test('setSoftMemoryLimit writes the file it read, and its "none" value', async () => {
  const writes: string[] = [];
  const write = (key: string, value: string) => {
    writes.push(`${key}=${value}`);
    return Promise.resolve();
  };
  await setSoftMemoryLimit(files({ 'memory.soft_limit_in_bytes': UNLIMITED_V1 }), write, 'c', 1024);
  await setSoftMemoryLimit(files({ 'memory.soft_limit_in_bytes': '1024' }), write, 'c', null);
  await setSoftMemoryLimit(v2, write, 'c', 2048);
  await setSoftMemoryLimit(v2, write, 'c', null);
  expect(writes).toEqual(['memory.soft_limit_in_bytes=1024', 'memory.soft_limit_in_bytes=-1', 'memory.low=2048', 'memory.low=0']);
});

test('setMemorySwapLimit: v1 writes memsw; v2 writes the swap part over memory.max, and refuses without a memory limit', async () => {
  const writes: string[] = [];
  const write = (key: string, value: string) => {
    writes.push(`${key}=${value}`);
    return Promise.resolve();
  };
  const v1 = files({ 'memory.memsw.limit_in_bytes': UNLIMITED_V1 });
  await setMemorySwapLimit(v1, write, 'c', 8192);
  await setMemorySwapLimit(v1, write, 'c', null);
  await setMemorySwapLimit(v2, write, 'c', 6144); // memory.max is 4096
  await setMemorySwapLimit(v2, write, 'c', null);
  expect(writes).toEqual(['memory.memsw.limit_in_bytes=8192', 'memory.memsw.limit_in_bytes=-1', 'memory.swap.max=2048', 'memory.swap.max=max']);
  const unlimited = files({ 'memory.swap.max': 'max\n', 'memory.max': 'max\n' });
  expect((await failureOf(setMemorySwapLimit(unlimited, write, 'c', 8192))).code).toBe('LXC_CGROUP_FAILED');
  expect((await failureOf(setMemorySwapLimit(v2, write, 'c', 1024))).code).toBe('LXC_CGROUP_FAILED');
  expect(writes).toHaveLength(4);
});
