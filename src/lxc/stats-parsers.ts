/**
 * Parsers for the cgroup and procfs files behind the stats API, for cgroup v1 and v2.
 * Pure functions: unit-tested with both versions' file contents. A parser returns
 * undefined when the text is not what it expects, so the caller can try the next source.
 */

export interface CpuStats {
  /** Total CPU time used, in nanoseconds. */
  usageNs: number;
  userNs: number;
  systemNs: number;
}

export interface BlkioUsage {
  readBytes: number;
  writeBytes: number;
}

export interface InterfaceStats {
  rxBytes: number;
  txBytes: number;
}

/** `key value` lines (cpu.stat, cpuacct.stat, memory.stat) into a map. */
export function parseKeyValueLines(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value, extra] = line.trim().split(/\s+/);
    if (key && value !== undefined && extra === undefined && /^\d+$/.test(value)) values.set(key, Number(value));
  }
  return values;
}

/** v1 cpuacct.usage: nanoseconds. */
export function parseCpuacctUsage(text: string): number | undefined {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

/** v1 cpuacct.stat: `user` and `system` in USER_HZ ticks. */
export function parseCpuacctStat(text: string, ticksPerSecond: number): Pick<CpuStats, 'userNs' | 'systemNs'> | undefined {
  const values = parseKeyValueLines(text);
  const user = values.get('user');
  const system = values.get('system');
  if (user === undefined || system === undefined || !(ticksPerSecond > 0)) return undefined;
  const nsPerTick = 1e9 / ticksPerSecond;
  return { userNs: user * nsPerTick, systemNs: system * nsPerTick };
}

/**
 * v2 cpu.stat: microseconds. On hybrid hosts the v1 cpu controller also has a cpu.stat,
 * with throttling counters only: no usage_usec, so undefined.
 */
export function parseCpuStatV2(text: string): CpuStats | undefined {
  const values = parseKeyValueLines(text);
  const usage = values.get('usage_usec');
  const user = values.get('user_usec');
  const system = values.get('system_usec');
  if (usage === undefined || user === undefined || system === undefined) return undefined;
  return { usageNs: usage * 1000, userNs: user * 1000, systemNs: system * 1000 };
}

/** A byte count: v1 memory.usage_in_bytes, v2 memory.current. */
export function parseBytes(text: string): number | undefined {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

// v1 reports "no limit" as PAGE_COUNTER_MAX pages, rounded to the page size: just under
// 2^63 on 64-bit kernels. Anything at or above 2^62 is no real limit.
const V1_UNLIMITED = 2n ** 62n;

/** v1 memory.limit_in_bytes or v2 memory.max; null when unlimited. */
export function parseMemoryLimit(text: string): number | null | undefined {
  const t = text.trim();
  if (t === 'max') return null;
  if (!/^\d+$/.test(t)) return undefined;
  return BigInt(t) >= V1_UNLIMITED ? null : Number(t);
}

/** v1 blkio.throttle.io_service_bytes (or blkio.io_service_bytes): `MAJ:MIN Op bytes` lines. */
export function parseBlkioServiceBytes(text: string): BlkioUsage | undefined {
  let readBytes = 0;
  let writeBytes = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    const [device, op, bytes] = line.trim().split(/\s+/);
    if (!device || device === 'Total' || !/^\d+:\d+$/.test(device) || !/^\d+$/.test(bytes ?? '')) continue;
    seen = true;
    if (op === 'Read') readBytes += Number(bytes);
    if (op === 'Write') writeBytes += Number(bytes);
  }
  // An idle container has an empty file or just "Total 0": that is zero, not unknown.
  if (!seen && !/^(Total \d+\s*)?$/.test(text.trim())) return undefined;
  return { readBytes, writeBytes };
}

/** v2 io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N ...` lines. */
export function parseIoStat(text: string): BlkioUsage {
  let readBytes = 0;
  let writeBytes = 0;
  for (const line of text.split('\n')) {
    for (const field of line.trim().split(/\s+/).slice(1)) {
      const [key, value = ''] = field.split('=');
      if (key === 'rbytes' && /^\d+$/.test(value)) readBytes += Number(value);
      if (key === 'wbytes' && /^\d+$/.test(value)) writeBytes += Number(value);
    }
  }
  return { readBytes, writeBytes };
}

/** /proc/<pid>/net/dev: per interface, bytes received and sent (as seen inside the container). */
export function parseNetDev(text: string): Record<string, InterfaceStats> {
  const stats: Record<string, InterfaceStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    const [rxBytes, , , , , , , , txBytes] = fields;
    if (name && fields.length >= 16 && rxBytes !== undefined && txBytes !== undefined) stats[name] = { rxBytes, txBytes };
  }
  return stats;
}
