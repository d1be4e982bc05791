/** What /proc says about processes: who is whose parent, open descriptors, zombies. */
import * as fs from 'node:fs';

function statusField(pid: number, field: string): string | undefined {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return status.match(new RegExp(`^${field}:\\s*(.*)$`, 'm'))?.[1];
}

export function parentPid(pid: number): number {
  return Number(statusField(pid, 'PPid'));
}

/**
 * Minor faults of the children this process has reaped (cminflt in /proc/self/stat): a
 * child that liblxc forks from Node and reaps there adds to it; one forked by the resident
 * lxcts-lifecycle server is the server's to reap.
 */
export function reapedChildFaults(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[8]);
}

export function fdCount(pid: number = process.pid): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** True while the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    return !statusField(pid, 'State')?.startsWith('Z');
  } catch {
    return false;
  }
}

/** Children of `parent` that are zombies (exited, never reaped). */
export function zombieChildren(parent: number = process.pid): number[] {
  const zombies: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state === 'Z' && Number(ppid) === parent) zombies.push(Number(entry));
  }
  return zombies;
}

/** Pids (not ours) whose command line contains `text`. */
export function processesMatching(text: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
