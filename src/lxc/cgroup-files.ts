/**
 * A running container's cgroup files read straight from the kernel: found once per start of
 * the container, then each read is an open and a read on this thread, with no thread-pool
 * trip and no round trip to the container's monitor (liblxc's get_cgroup_item asks the
 * monitor for the cgroup's path on every read, and lxcts asked it whether the container
 * runs first: five socket round trips and a thread-pool trip per file).
 *
 * What keeps a read right:
 * - the directory is found from the init's own /proc/PID/cgroup, under the host's cgroup
 *   mounts, and only when it has the name liblxc gives a container's cgroup
 *   (`lxc.payload.NAME`, or `lxc.payload.NAME-N` when that was taken); any other layout
 *   (lxc.cgroup.dir.container, a cgroup namespace we do not see the root of) is read through
 *   liblxc as before;
 * - the init is held by a pidfd, and every read checks it before and after (native
 *   readCgroupFiles): once the init exits, what was read is thrown away and the directory is
 *   found again. A stopped container's cgroup may be gone or made again by the next start
 *   under the same name; a read taken while the init lived was of this start's cgroup.
 * Keys this cannot map go through liblxc, so a caller sees the same values and errors.
 */
import { closeSync, readFileSync } from 'node:fs';

import { isLxcError, LxcError } from './errors';
import { native } from './native';

/** Reads one key through liblxc (Container.getCgroupItem as a step). */
export type SlowRead = (key: string) => Promise<string>;

interface Hierarchy {
  /** Where it is mounted in this process's view. */
  mount: string;
  /** v1: its controllers; v2: the controllers its root offers. */
  controllers: Set<string>;
  v2: boolean;
}

/** The host's cgroup hierarchies mounted at their root, read once per process. */
let hierarchies: Hierarchy[] | undefined;

/** mountinfo's octal escapes (\040 for a space). */
const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

export function parseCgroupMounts(mountinfo: string, v2Controllers: (mount: string) => string): Hierarchy[] {
  const found: Hierarchy[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [fstype, , superOptions = ''] = right.split(' ');
    const root = fields[3];
    const mount = fields[4];
    // A mount of a subtree (a cgroup namespace's or a bind mount) would need its root
    // subtracted: not worth the risk; those keys go through liblxc.
    if (root !== '/' || !mount) continue;
    if (fstype === 'cgroup') {
      found.push({ mount: unescape(mount), controllers: new Set(superOptions.split(',')), v2: false });
    } else if (fstype === 'cgroup2') {
      const dir = unescape(mount);
      found.push({ mount: dir, controllers: new Set(v2Controllers(dir).split(/\s+/).filter(Boolean)), v2: true });
    }
  }
  return found;
}

function hostHierarchies(): Hierarchy[] {
  hierarchies ??= parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'), (dir) => {
    try {
      return readFileSync(`${dir}/cgroup.controllers`, 'utf8');
    } catch {
      return '';
    }
  });
  return hierarchies;
}

/**
 * The directory of `key` for a container whose init has `procCgroup` (/proc/PID/cgroup),
 * or undefined when it is not one liblxc's naming makes certain.
 */
export function cgroupDirFor(key: string, container: string, procCgroup: string, mounts: Hierarchy[]): string | undefined {
  const controller = key.slice(0, key.indexOf('.'));
  if (!controller || controller === 'cgroup') return undefined;
  // liblxc's choice: the v1 hierarchy with the controller, else the unified one if it has it.
  const v1 = mounts.find((h) => !h.v2 && h.controllers.has(controller));
  const hierarchy = v1 ?? mounts.find((h) => h.v2 && h.controllers.has(controller));
  if (!hierarchy) return undefined;
  for (const line of procCgroup.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const matches = hierarchy.v2 ? line.slice(0, first) === '0' && controllers === '' : controllers.split(',').includes(controller);
    if (!matches) continue;
    const cgroupPath = line.slice(second + 1);
    if (!cgroupPath.startsWith('/') || cgroupPath.split('/').includes('..')) return undefined;
    const parts = cgroupPath.split('/');
    const own = `lxc.payload.${container}`;
    const at = parts.findIndex((p) => p === own || (p.startsWith(`${own}-`) && /^\d+$/.test(p.slice(own.length + 1))));
    if (at < 0) return undefined;
    return `${hierarchy.mount}${parts.slice(0, at + 1).join('/')}`;
  }
  return undefined;
}

/** The pid a pidfd refers to, from /proc/self/fdinfo (-1 or 0 once it is gone). */
function pidOf(pidfd: number): number {
  const match = /^Pid:\s*(-?\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${pidfd}`, 'utf8'));
  return match ? Number(match[1]) : -1;
}

interface Start {
  /** The init's pidfd, ours alone; -1 once closed. */
  pidfd: number;
  procCgroup: string;
  dirs: Map<string, string | undefined>;
}

/**
 * A CgroupFiles forgotten with its container (never released) closes its pidfd quietly: it
 * is lxcts's own descriptor, not one a caller was given to close.
 */
const forgotten = new FinalizationRegistry<{ pidfd: number }>((start) => closePidfd(start));

function closePidfd(start: { pidfd: number }): void {
  if (start.pidfd < 0) return;
  const fd = start.pidfd;
  start.pidfd = -1;
  try {
    closeSync(fd);
  } catch {
    // Already gone: nothing to free.
  }
}

export class CgroupFiles {
  #start: Start | undefined;
  #finding: Promise<Start> | undefined;

  /**
   * `initPidFd` and `slowRead` are the container's own calls; `inQueue` runs a read in the
   * container's queue, so that it still comes after the calls made before it (a stop).
   * `container` is its name.
   */
  constructor(
    private readonly container: string,
    private readonly initPidFd: () => Promise<number>,
    private readonly slowRead: SlowRead,
    private readonly inQueue: <T>(read: () => T) => Promise<T>,
  ) {}

  /**
   * The files of `keys`, in order; a file that cannot be read rejects with
   * LXC_CGROUP_FAILED, a stopped container with LXC_NOT_RUNNING, as through liblxc.
   */
  async read(keys: readonly string[]): Promise<string[]> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const start = this.#start ?? (await this.#find());
      const paths = keys.map((key) => this.#dir(start, key));
      if (paths.some((p) => p === undefined)) return this.#readSlowly(keys);
      const files = paths.map((dir, i) => `${dir}/${keys[i]}`);
      // Closed meanwhile (release(), or a racing read saw the init exit): find it again.
      const texts = await this.inQueue(() => (start.pidfd < 0 ? null : native().readCgroupFiles(start.pidfd, files)));
      if (texts === null) {
        // The init exited: this start's cgroup is no longer ours to read.
        this.#forget(start);
        continue;
      }
      return texts.map((text, i) => {
        if (text === null) throw this.#unreadable(keys[i]!);
        return text.replace(/\n+$/, '');
      });
    }
    // Restarting faster than it can be read: liblxc answers for this moment.
    return this.#readSlowly(keys);
  }

  /** Closes the pidfd held; the next read finds the cgroup again. */
  close(): void {
    if (this.#start) this.#forget(this.#start);
  }

  #dir(start: Start, key: string): string | undefined {
    if (!start.dirs.has(key)) start.dirs.set(key, cgroupDirFor(key, this.container, start.procCgroup, hostHierarchies()));
    return start.dirs.get(key);
  }

  async #readSlowly(keys: readonly string[]): Promise<string[]> {
    const texts: string[] = [];
    for (const key of keys) texts.push(await this.slowRead(key));
    return texts;
  }

  #unreadable(key: string): LxcError {
    return new LxcError(`cannot read cgroup item "${key}" of container "${this.container}"`, {
      code: 'LXC_CGROUP_FAILED',
      op: 'getCgroupItem',
      container: this.container,
    });
  }

  #forget(start: Start): void {
    if (this.#start === start) this.#start = undefined;
    forgotten.unregister(start);
    closePidfd(start);
  }

  /** One lookup at a time: reads racing the first one share it. */
  #find(): Promise<Start> {
    this.#finding ??= this.#lookUp().finally(() => (this.#finding = undefined));
    return this.#finding;
  }

  async #lookUp(): Promise<Start> {
    const pidfd = await this.initPidFd();
    const start: Start = { pidfd, procCgroup: '', dirs: new Map<string, string | undefined>() };
    try {
      const pid = pidOf(pidfd);
      start.procCgroup = pid > 0 ? readFileSync(`/proc/${pid}/cgroup`, 'utf8') : '';
      // The pid read above was this init's only if it still lives now.
      if (pid <= 0 || native().readCgroupFiles(pidfd, []) === null) throw notRunning(this.container);
      forgotten.register(this, start, start);
      this.#start = start;
      return start;
    } catch (err) {
      closePidfd(start);
      if (!isLxcError(err) && (err as NodeJS.ErrnoException).code === 'ENOENT') throw notRunning(this.container);
      throw err;
    }
  }
}

function notRunning(container: string): LxcError {
  return new LxcError(`container "${container}" is not running`, { code: 'LXC_NOT_RUNNING', op: 'getCgroupItem', container });
}
