/**
 * CPU, memory and block I/O stats over cgroup v1 or v2. The keys are chosen per file,
 * with fallbacks, never from a guess at the host's mode: hybrid hosts mix both (the v1
 * cpu controller there has a cpu.stat without usage_usec).
 */
import { isLxcError, LxcError } from './errors';
import {
  BlkioUsage,
  CpuStats,
  parseBlkioServiceBytes,
  parseBytes,
  parseCpuacctStat,
  parseCpuacctUsage,
  parseCpuStatV2,
  parseIoStat,
  parseMemoryLimit,
} from './stats-parsers';

/**
 * Reads cgroup files of the running container, one text per key in order, all at once
 * (cgroup-files.ts; keys it cannot map go through Container.getCgroupItem).
 */
export type CgroupReader = (keys: readonly string[]) => Promise<string[]>;

/**
 * The files' contents, one per key and in the order of `keys` (readStat calls `parse` only
 * once every key was read): the two typed positions are the most any source has.
 */
export type FileTexts = readonly string[] & { readonly 0: string; readonly 1: string };

export interface Source<T> {
  keys: readonly [string] | readonly [string, string];
  parse: (texts: FileTexts) => T | undefined;
}

/**
 * The first source whose files can all be read and parsed. A stopped container fails
 * as usual (LXC_NOT_RUNNING); a stat no source provides is LXC_STAT_UNAVAILABLE.
 */
export async function readStat<T>(read: CgroupReader, op: string, container: string, sources: Source<T>[]): Promise<T> {
  const tried: string[] = [];
  for (const source of sources) {
    let texts: string[];
    try {
      texts = await read(source.keys);
    } catch (err) {
      if (isLxcError(err) && err.code === 'LXC_CGROUP_FAILED') {
        tried.push(`${source.keys.join(' + ')}: cannot be read`);
        continue;
      }
      throw err;
    }
    const value = source.parse(texts as unknown as FileTexts);
    if (value !== undefined) return value;
    tried.push(`${source.keys.join(' + ')}: unexpected contents`);
  }
  throw new LxcError(`${op} of container "${container}" is not available from its cgroups`, {
    code: 'LXC_STAT_UNAVAILABLE',
    op,
    container,
    details: tried,
  });
}

export function cpuStats(read: CgroupReader, container: string, ticksPerSecond: number): Promise<CpuStats> {
  return readStat(read, 'cpuStats', container, [
    {
      keys: ['cpuacct.usage', 'cpuacct.stat'],
      parse: ([usage, stat]) => {
        const usageNs = parseCpuacctUsage(usage);
        const split = parseCpuacctStat(stat, ticksPerSecond);
        return usageNs === undefined || !split ? undefined : { usageNs, ...split };
      },
    },
    { keys: ['cpu.stat'], parse: ([stat]) => parseCpuStatV2(stat) },
  ]);
}

export function memoryUsage(read: CgroupReader, container: string): Promise<number> {
  return readStat(read, 'memoryUsage', container, [
    { keys: ['memory.usage_in_bytes'], parse: ([t]) => parseBytes(t) },
    { keys: ['memory.current'], parse: ([t]) => parseBytes(t) },
  ]);
}

const MEMORY_LIMIT_SOURCES: Array<Source<{ key: string; limit: number | null }>> = [
  { keys: ['memory.limit_in_bytes'], parse: ([t]) => wrapLimit('memory.limit_in_bytes', parseMemoryLimit(t)) },
  { keys: ['memory.max'], parse: ([t]) => wrapLimit('memory.max', parseMemoryLimit(t)) },
];

function wrapLimit(key: string, limit: number | null | undefined) {
  return limit === undefined ? undefined : { key, limit };
}

export async function memoryLimit(read: CgroupReader, container: string): Promise<number | null> {
  return (await readStat(read, 'memoryLimit', container, MEMORY_LIMIT_SOURCES)).limit;
}

/** Writes the limit to whichever file the limit was readable from: v1 or v2. */
export async function setMemoryLimit(
  read: CgroupReader,
  write: (key: string, value: string) => Promise<void>,
  container: string,
  bytes: number | null,
): Promise<void> {
  const { key } = await readStat(read, 'setMemoryLimit', container, MEMORY_LIMIT_SOURCES);
  const unlimited = key === 'memory.max' ? 'max' : '-1';
  await write(key, bytes === null ? unlimited : String(bytes));
}

export function blkioUsage(read: CgroupReader, container: string): Promise<BlkioUsage> {
  return readStat(read, 'blkioUsage', container, [
    { keys: ['blkio.throttle.io_service_bytes'], parse: ([t]) => parseBlkioServiceBytes(t) },
    { keys: ['blkio.io_service_bytes'], parse: ([t]) => parseBlkioServiceBytes(t) },
    { keys: ['io.stat'], parse: ([t]) => parseIoStat(t) },
  ]);
}
