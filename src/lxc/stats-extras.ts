/**
 * The memory and CPU stats go-lxc has beyond usage and limit: the soft memory limit,
 * kernel memory, memory plus swap, CPU time per CPU. Each reads the cgroup v1 file first
 * and the v2 one after (hybrid hosts mix them; see stats.ts); where only one cgroup
 * version has a stat, the other says so with LXC_STAT_UNAVAILABLE and the reason.
 */
import { isLxcError, LxcError } from './errors';
import { CgroupReader, readStat, Source } from './stats';
import { parseBytes, parseMemoryLimit } from './stats-parsers';

/** v1 cpuacct.usage_percpu: nanoseconds per CPU, space-separated, in CPU order. */
export function parsePerCpu(text: string): number[] | undefined {
  const fields = text.trim().split(/\s+/);
  if (fields.length === 0 || !fields.every((f) => /^\d+$/.test(f))) return undefined;
  return fields.map(Number);
}

/** One `key value` line of v2 memory.stat (e.g. `kernel`, in bytes). */
export function parseMemoryStatField(text: string, field: string): number | undefined {
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key === field) return parseBytes(value ?? '');
  }
  return undefined;
}

/** A sum of two byte counts or limits; null (no limit) when either is. */
function sumLimits(a: number | null | undefined, b: number | null | undefined): number | null | undefined {
  if (a === undefined || b === undefined) return undefined;
  return a === null || b === null ? null : a + b;
}

/** readStat, with why the stat may be missing from the cgroup version the host gave the container. */
async function stat<T>(read: CgroupReader, op: string, container: string, sources: Source<T>[], unavailableWhy?: string): Promise<T> {
  try {
    return await readStat(read, op, container, sources);
  } catch (err) {
    if (unavailableWhy !== undefined && isLxcError(err) && err.code === 'LXC_STAT_UNAVAILABLE') {
      throw new LxcError(`${err.message}: ${unavailableWhy}`, { code: err.code, op, container, details: err.details });
    }
    throw err;
  }
}

const SOFT_LIMIT_SOURCES: Array<Source<{ key: string; limit: number | null }>> = [
  { keys: ['memory.soft_limit_in_bytes'], parse: ([t]) => keyed('memory.soft_limit_in_bytes', parseMemoryLimit(t)) },
  // v2's counterpart: memory below memory.low is reclaimed last, as v1 reclaims down to the soft limit first.
  { keys: ['memory.low'], parse: ([t]) => keyed('memory.low', t.trim() === '0' ? null : parseMemoryLimit(t)) },
];

function keyed(key: string, limit: number | null | undefined) {
  return limit === undefined ? undefined : { key, limit };
}

/** v1 memory.soft_limit_in_bytes, v2 memory.low; null when none is set. */
export async function softMemoryLimit(read: CgroupReader, container: string): Promise<number | null> {
  return (await stat(read, 'softMemoryLimit', container, SOFT_LIMIT_SOURCES)).limit;
}

export async function setSoftMemoryLimit(
  read: CgroupReader,
  write: (key: string, value: string) => Promise<void>,
  container: string,
  bytes: number | null,
): Promise<void> {
  const { key } = await stat(read, 'setSoftMemoryLimit', container, SOFT_LIMIT_SOURCES);
  const none = key === 'memory.low' ? '0' : '-1';
  await write(key, bytes === null ? none : String(bytes));
}

/** v1 memory.kmem.usage_in_bytes, v2 memory.stat's `kernel` (Linux 5.18+). */
export function kernelMemoryUsage(read: CgroupReader, container: string): Promise<number> {
  return stat(read, 'kernelMemoryUsage', container, [
    { keys: ['memory.kmem.usage_in_bytes'], parse: ([t]) => parseBytes(t) },
    { keys: ['memory.stat'], parse: ([t]) => parseMemoryStatField(t, 'kernel') },
  ]);
}

/** v1 memory.kmem.limit_in_bytes; cgroup v2 has no kernel memory limit. */
export function kernelMemoryLimit(read: CgroupReader, container: string): Promise<number | null> {
  return stat(
    read,
    'kernelMemoryLimit',
    container,
    [{ keys: ['memory.kmem.limit_in_bytes'], parse: ([t]) => parseMemoryLimit(t) }],
    'only cgroup v1 has a kernel memory limit (memory.kmem.limit_in_bytes); v2 counts kernel memory in memory.max',
  );
}

/** Memory plus swap in use, as go-lxc's MemorySwapUsage: v1 memory.memsw.usage_in_bytes, v2 memory.current + memory.swap.current. */
export function memorySwapUsage(read: CgroupReader, container: string): Promise<number> {
  return stat(
    read,
    'memorySwapUsage',
    container,
    [
      { keys: ['memory.memsw.usage_in_bytes'], parse: ([t]) => parseBytes(t) },
      { keys: ['memory.current', 'memory.swap.current'], parse: ([m, s]) => sumLimits(parseBytes(m), parseBytes(s)) ?? undefined },
    ],
    'swap accounting is off (cgroup v1 needs the kernel booted with swapaccount=1; v2 needs memory.swap.current)',
  );
}

/** The memory-plus-swap limit: v1 memory.memsw.limit_in_bytes, v2 memory.max + memory.swap.max; null when unlimited. */
export function memorySwapLimit(read: CgroupReader, container: string): Promise<number | null> {
  return stat(
    read,
    'memorySwapLimit',
    container,
    [
      { keys: ['memory.memsw.limit_in_bytes'], parse: ([t]) => parseMemoryLimit(t) },
      { keys: ['memory.max', 'memory.swap.max'], parse: ([m, s]) => sumLimits(parseMemoryLimit(m), parseMemoryLimit(s)) },
    ],
    'swap accounting is off (cgroup v1 needs the kernel booted with swapaccount=1; v2 needs memory.swap.max)',
  );
}

/**
 * Sets the memory-plus-swap limit (null: none). v1 writes memory.memsw.limit_in_bytes,
 * which the kernel keeps at or above memory.limit_in_bytes (lower: LXC_CGROUP_FAILED); v2
 * writes the swap part, memory.swap.max = bytes - memory.max, so memory.max must be set.
 */
export async function setMemorySwapLimit(
  read: CgroupReader,
  write: (key: string, value: string) => Promise<void>,
  container: string,
  bytes: number | null,
): Promise<void> {
  const op = 'setMemorySwapLimit';
  const target = await stat(
    read,
    op,
    container,
    [
      { keys: ['memory.memsw.limit_in_bytes'], parse: () => ({ key: 'memory.memsw.limit_in_bytes', memoryMax: null }) },
      { keys: ['memory.swap.max', 'memory.max'], parse: ([, m]) => keyed2('memory.swap.max', parseMemoryLimit(m)) },
    ],
    'swap accounting is off (cgroup v1 needs the kernel booted with swapaccount=1; v2 needs memory.swap.max)',
  );
  if (target.key === 'memory.memsw.limit_in_bytes') return write(target.key, bytes === null ? '-1' : String(bytes));
  if (bytes === null) return write(target.key, 'max');
  if (target.memoryMax === null || bytes < target.memoryMax) {
    throw new LxcError(
      `cannot limit memory plus swap of container "${container}" to ${bytes} bytes: on cgroup v2 it is memory.max plus memory.swap.max, and memory.max is ${target.memoryMax ?? 'unlimited'}`,
      { code: 'LXC_CGROUP_FAILED', op, container },
    );
  }
  return write(target.key, String(bytes - target.memoryMax));
}

function keyed2(key: string, memoryMax: number | null | undefined) {
  return memoryMax === undefined ? undefined : { key, memoryMax };
}

/** CPU time per CPU in nanoseconds, index = CPU number: v1 cpuacct.usage_percpu; v2 has no per-CPU counter. */
export function cpuTimePerCpu(read: CgroupReader, container: string): Promise<number[]> {
  return stat(
    read,
    'cpuTimePerCpu',
    container,
    [{ keys: ['cpuacct.usage_percpu'], parse: ([t]) => parsePerCpu(t) }],
    'only the cgroup v1 cpuacct controller counts CPU time per CPU (cpuacct.usage_percpu); v2 has no such file',
  );
}
