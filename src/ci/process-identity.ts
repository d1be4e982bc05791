/**
 * Which process runs a build, in a form that survives pid reuse: boot id, pid and the
 * process's start time. After a reboot or a crash, a recycled pid must not make a dead
 * builder's build look alive (it would block that commit forever).
 */
import * as fs from 'node:fs';

function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or null. */
function startTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export function currentProcessIdentity(): string {
  return `${bootId()}/${process.pid}/${startTime(process.pid)}`;
}

/** The identity of another process (a child to stop later), or null when `pid` is gone. */
export function processIdentity(pid: number): string | null {
  const start = startTime(pid);
  return start === null ? null : `${bootId()}/${pid}/${start}`;
}

export function isProcessAlive(identity: string | null): boolean {
  if (!identity) return false;
  const [boot, pid, start] = identity.split('/');
  return boot === bootId() && startTime(Number(pid)) === start;
}
