/**
 * What a build may use: every job gets the defaults below, may ask for more in its
 * `limits:` (and `timeout:`), and never gets more than the ceilings the worker's operator
 * set (`--max-memory` and friends). Also: the config keys that impose the cgroup limits on
 * this host's layout (chosen per controller: hybrid hosts mix v1 and v2), and the counters
 * that tell afterwards whether a failed step ran into one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

import type { Container } from '../index';

export interface Limits {
  /** Bytes of memory (no swap on top). */
  memory: number;
  /** Processes and threads at once. */
  pids: number;
  /** CPU time as a number of cores (1.5 = one and a half cores' worth per period). */
  cpus: number;
  /** Bytes the build may write: the workspace and the container's own changes together. */
  disk: number;
  /** Bytes of build output kept in the log; the rest is dropped (the build goes on). */
  log: number;
  /** Wall clock for all the job's steps, in ms. */
  timeout: number;
}

export type LimitName = keyof Limits;

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** What a job gets when it does not ask: the one place these numbers live. */
export const DEFAULT_LIMITS: Readonly<Limits> = {
  memory: 2 * GiB,
  pids: 1024,
  cpus: 2,
  disk: 4 * GiB,
  log: 16 * MiB,
  timeout: 30 * 60_000,
};

/** The most a job may ask for unless the operator says otherwise. */
export const DEFAULT_CEILINGS: Readonly<Limits> = {
  memory: 8 * GiB,
  pids: 4096,
  cpus: os.availableParallelism(),
  disk: 32 * GiB,
  log: 64 * MiB,
  timeout: 3 * 3_600_000,
};

/** The build file key and the worker flag of each limit, for messages. */
const WHERE: Record<LimitName, { key: string; flag: string }> = {
  memory: { key: 'limits.memory', flag: '--max-memory' },
  pids: { key: 'limits.pids', flag: '--max-pids' },
  cpus: { key: 'limits.cpus', flag: '--max-cpus' },
  disk: { key: 'limits.disk', flag: '--max-disk' },
  log: { key: 'limits.log', flag: '--max-log' },
  timeout: { key: 'timeout', flag: '--max-timeout' },
};

/** A job asked for more than the operator allows: the user's mistake, a failed build. */
export class LimitAboveCeilingError extends Error {
  readonly code = 'LIMIT_ABOVE_CEILING';

  constructor(readonly limits: Array<{ name: LimitName; asked: number; ceiling: number }>) {
    super(
      limits
        .map(
          ({ name, asked, ceiling }) =>
            `${WHERE[name].key} asks for ${formatLimit(name, asked)}, above this worker's ceiling of ${formatLimit(name, ceiling)} (${WHERE[name].flag})`,
        )
        .join('; '),
    );
    this.name = 'LimitAboveCeilingError';
  }
}

/** The checkout alone does not fit in the job's disk limit: the user's mistake too. */
export class CheckoutTooBigError extends Error {
  readonly code = 'DISK_LIMIT';

  constructor(bytes: number, cause: Error) {
    super(`disk limit (${bytes} bytes, ${formatBytes(bytes)}) reached: the checkout does not fit (${cause.message.split('\n')[0]})`);
    this.name = 'CheckoutTooBigError';
  }
}

/**
 * The limits a job runs with: what it asked for, else the default (lowered to the ceiling
 * when the operator set a ceiling below it); a request above a ceiling is refused.
 */
export function resolveLimits(asked: Partial<Limits>, ceilings: Partial<Limits> = {}): Limits {
  const ceiling = { ...DEFAULT_CEILINGS, ...definedOnly(ceilings) };
  const over: Array<{ name: LimitName; asked: number; ceiling: number }> = [];
  const result = {} as Limits;
  for (const name of Object.keys(DEFAULT_LIMITS) as LimitName[]) {
    const value = asked[name];
    if (value === undefined) {
      result[name] = Math.min(DEFAULT_LIMITS[name], ceiling[name]);
    } else if (value > ceiling[name]) {
      over.push({ name, asked: value, ceiling: ceiling[name] });
    } else {
      result[name] = value;
    }
  }
  if (over.length > 0) throw new LimitAboveCeilingError(over);
  return result;
}

function definedOnly(values: Partial<Limits>): Partial<Limits> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: MiB, g: GiB, t: 1024 * GiB };
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export const SIZE_PATTERN = /^(\d+)\s*(?:([kmgt])i?b?)?$/i;
export const DURATION_PATTERN = /^(\d+)(ms|s|m|h)$/;

/** "512M", "1G", "4GiB", "100k" or plain bytes; binary units. Null when not a size. */
export function parseSize(text: string): number | null {
  const [, digits, unit = ''] = SIZE_PATTERN.exec(text.trim()) ?? [];
  const factor = SIZE_UNITS[unit.toLowerCase()];
  return digits !== undefined && factor !== undefined ? Number(digits) * factor : null;
}

/** "90s", "20m", "1h", "500ms", in ms. Null when not a duration. */
export function parseDuration(text: string): number | null {
  const [, digits, unit = ''] = DURATION_PATTERN.exec(text.trim()) ?? [];
  const factor = DURATION_UNITS[unit];
  return digits !== undefined && factor !== undefined ? Number(digits) * factor : null;
}

export function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ['TiB', 1024 * GiB],
    ['GiB', GiB],
    ['MiB', MiB],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size && bytes % (size / 1024) === 0) return `${+(bytes / size).toFixed(2)} ${unit}`;
  }
  return `${bytes} bytes`;
}

function formatLimit(name: LimitName, value: number): string {
  switch (name) {
    case 'memory':
    case 'disk':
    case 'log':
      return formatBytes(value);
    case 'timeout':
      return `${value / 1000} s`;
    case 'cpus':
      return `${value} CPUs`;
    case 'pids':
      return `${value} processes`;
  }
}

function onV1(controller: string): boolean {
  return fs.existsSync(`/sys/fs/cgroup/${controller}/cgroup.procs`);
}

/** The CFS period the CPU quota is counted in (the kernel's default). */
const CPU_PERIOD_US = 100_000;

/** Config items that impose the cgroup limits on a container about to start. */
export function limitConfig(limits: Pick<Limits, 'memory' | 'pids' | 'cpus'>): Array<[string, string]> {
  const items: Array<[string, string]> = [];
  if (onV1('memory')) {
    items.push(['lxc.cgroup.memory.limit_in_bytes', String(limits.memory)]);
    // With swap on the host, memory+swap gets the same bound: no swapping past the limit.
    if (fs.existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes')) items.push(['lxc.cgroup.memory.memsw.limit_in_bytes', String(limits.memory)]);
  } else {
    items.push(['lxc.cgroup2.memory.max', String(limits.memory)], ['lxc.cgroup2.memory.swap.max', '0']);
  }
  items.push([onV1('pids') ? 'lxc.cgroup.pids.max' : 'lxc.cgroup2.pids.max', String(limits.pids)]);
  const quota = Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US));
  if (onV1('cpu')) {
    items.push(['lxc.cgroup.cpu.cfs_period_us', String(CPU_PERIOD_US)], ['lxc.cgroup.cpu.cfs_quota_us', String(quota)]);
  } else {
    items.push(['lxc.cgroup2.cpu.max', `${quota} ${CPU_PERIOD_US}`]);
  }
  return items;
}

async function counter(container: Container, key: string, field: string): Promise<number> {
  try {
    const text = await container.getCgroupItem(key);
    const match = new RegExp(`^${field} (\\d+)$`, 'm').exec(text);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** A filesystem counts as full when less than this is left (ext4 keeps a little aside). */
const FULL_BELOW = 1 * MiB;

/** Whether the scratch filesystem a build writes to is (nearly) full, of bytes or of files. */
export function diskFull(scratchDir: string): boolean {
  try {
    const stats = fs.statfsSync(scratchDir);
    return stats.bavail * stats.bsize < FULL_BELOW || stats.ffree === 0;
  } catch {
    return false;
  }
}

/**
 * Which limit, if any, a running container has run into: for the failure message.
 * `scratchDir` is the mount point of its size-limited scratch filesystem.
 */
export async function limitHit(container: Container, limits: Limits, scratchDir?: string): Promise<string | null> {
  const kills = (await counter(container, 'memory.oom_control', 'oom_kill')) + (await counter(container, 'memory.events', 'oom_kill'));
  if (kills > 0) return `memory limit (${limits.memory} bytes) exceeded`;
  if ((await counter(container, 'pids.events', 'max')) > 0) return `pids limit (${limits.pids}) reached`;
  if (scratchDir && diskFull(scratchDir))
    return `disk limit (${limits.disk} bytes, ${formatBytes(limits.disk)}) reached: no space left for the workspace and the container's files`;
  return null;
}
