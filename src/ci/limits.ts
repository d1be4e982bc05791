/**
 * Memory and pids limits for build containers, as config keys for this host's cgroup
 * layout (chosen per controller: hybrid hosts mix v1 and v2), and the cgroup counters that
 * tell afterwards whether a failed step hit one.
 */
import * as fs from 'node:fs';

import { Container } from '../lxc/container';

export interface Limits {
  memory?: number;
  pids?: number;
}

function onV1(controller: string): boolean {
  return fs.existsSync(`/sys/fs/cgroup/${controller}/cgroup.procs`);
}

/** Config items that impose the limits on a container about to start. */
export function limitConfig(limits: Limits | undefined): Array<[string, string]> {
  const items: Array<[string, string]> = [];
  if (limits?.memory) {
    if (onV1('memory')) items.push(['lxc.cgroup.memory.limit_in_bytes', String(limits.memory)]);
    else items.push(['lxc.cgroup2.memory.max', String(limits.memory)], ['lxc.cgroup2.memory.swap.max', '0']);
  }
  if (limits?.pids) {
    items.push([onV1('pids') ? 'lxc.cgroup.pids.max' : 'lxc.cgroup2.pids.max', String(limits.pids)]);
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

/** Which limit, if any, a running container has run into: for the failure message. */
export async function limitHit(container: Container, limits: Limits | undefined): Promise<string | null> {
  if (limits?.memory) {
    const kills = (await counter(container, 'memory.oom_control', 'oom_kill')) + (await counter(container, 'memory.events', 'oom_kill'));
    if (kills > 0) return `memory limit (${limits.memory} bytes) exceeded`;
  }
  if (limits?.pids && (await counter(container, 'pids.events', 'max')) > 0) {
    return `pids limit (${limits.pids}) reached`;
  }
  return null;
}
