/**
 * The fresh container a job runs in: an overlay snapshot clone of its base, with the
 * checkout bind-mounted at /workspace, limits set, and no network unless asked for.
 * It is unprivileged like its base: the checkout is handed to the container's root (the
 * first id of the base's range) rather than mounted idmapped, so whatever the build makes
 * there belongs to that unprivileged host uid, never to host root.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { Container, LxcError } from '../index';
import { baseIdRange } from './bases';
import { Job } from './build-file';
import { IdRange, letRangeSearch } from './id-range';
import { limitConfig, Limits } from './limits';

export const BUILD_CONTAINER_PREFIX = 'lxcts-build-';

export interface BuildContainerSpec {
  basesPath: string;
  containersPath: string;
  base: string;
  name: string;
  workspace: string;
  job: Job;
  limits: Limits;
  /** Where the overlay's upper directory goes (on the build's size-limited scratch filesystem). */
  upper: string;
  /** Bridge for jobs with `network: true`. */
  bridge: string;
  /** Host-side name of the veth of a `network: true` build, which the firewall rules key on. */
  hostInterface: string;
}

/** What the clone needs: it is made before (and beside) the checkout. */
export type BuildCloneSpec = Pick<BuildContainerSpec, 'basesPath' | 'containersPath' | 'base' | 'name' | 'workspace' | 'upper'>;

/**
 * The first half of a fresh build container, which needs no checkout: the overlay snapshot
 * clone of the base, its upper directory on the build's scratch filesystem. Not configured
 * nor started (`startBuildContainer`); the checkout is made meanwhile and handed to the
 * container's root (`handToContainerRoot`).
 */
export async function cloneBuildContainer(spec: BuildCloneSpec): Promise<Container> {
  const base = new Container(spec.base, { lxcpath: spec.basesPath });
  let container: Container;
  try {
    if (!(await base.defined())) {
      throw new LxcError(`there is no base "${spec.base}"; make it with: lxcts ci base create ${spec.base} --template debian`, {
        code: 'LXC_NOT_DEFINED',
        op: 'build',
        container: spec.base,
      });
    }
    letRangeSearch(
      [spec.basesPath, spec.containersPath, path.dirname(spec.workspace)],
      commonAncestor(spec.basesPath, spec.containersPath, path.dirname(spec.workspace)),
      baseIdRange(spec.basesPath, spec.base),
    );
    container = await base.clone(spec.name, { snapshot: true, backend: 'overlay', lxcpath: spec.containersPath });
  } finally {
    await base.release();
  }
  try {
    await moveUpper(container, spec.upper);
  } catch (err) {
    await container.release();
    throw err;
  }
  return container;
}

/**
 * Hands the checkout (made by host root, before the container runs) to the container's
 * root, the first id of the base's range, so steps can write it.
 */
export async function handToContainerRoot(basesPath: string, base: string, workspace: string): Promise<void> {
  await giveToContainerRoot(workspace, baseIdRange(basesPath, base));
}

/**
 * Points the clone's overlay upper directory at `upper`: liblxc's clone made it inside the
 * container's directory (delta0, with olwork beside it), where writes are limited by nothing.
 * liblxc mounts overlay:<lower>:<upper> with work directories beside <upper>, which must be
 * on the same filesystem, so all are made there, owned like the originals (an unprivileged
 * clone's are owned by its root).
 */
async function moveUpper(container: Container, upper: string): Promise<void> {
  // liblxc answers "<lower>:<upper>" here, without the "overlay:" it stores.
  const rootfs = await container.getConfigItem('lxc.rootfs.path');
  const [, lower, oldUpper] = /^(?:overlay(?:fs)?:)?(\/.+):(\/[^:]+)$/.exec(rootfs) ?? [];
  if (lower === undefined || oldUpper === undefined) throw new Error(`unexpected rootfs of an overlay clone: ${rootfs}`);
  // liblxc 5.0.2's ovl_mount also makes <upper>/../work, as the container's root in an
  // unprivileged container: made here too, or it is refused in the root-owned mount point.
  const upperStat = fs.statSync(oldUpper, { throwIfNoEntry: false });
  for (const [from, to] of [
    [oldUpper, upper],
    [path.join(path.dirname(oldUpper), 'olwork'), path.join(path.dirname(upper), 'olwork')],
    [path.join(path.dirname(oldUpper), 'work'), path.join(path.dirname(upper), 'work')],
  ] as const) {
    const stat = fs.statSync(from, { throwIfNoEntry: false }) ?? upperStat;
    fs.mkdirSync(to, { mode: stat ? stat.mode & 0o7777 : 0o755 });
    if (stat) fs.chownSync(to, stat.uid, stat.gid);
  }
  await container.setConfigItem('lxc.rootfs.path', `overlay:${lower}:${upper}`);
}

/** Configures the clone (workspace mount, network, limits) and starts it. */
export async function startBuildContainer(container: Container, spec: BuildContainerSpec): Promise<void> {
  await container.clearConfigItem('lxc.net');
  const network: Array<[string, string]> = spec.job.network
    ? [
        ['lxc.net.0.type', 'veth'],
        ['lxc.net.0.link', spec.bridge],
        ['lxc.net.0.flags', 'up'],
        ['lxc.net.0.name', 'eth0'],
        ['lxc.net.0.veth.pair', spec.hostInterface],
      ]
    : [['lxc.net.0.type', 'empty']];
  for (const [key, value] of [
    ['lxc.mount.entry', `${spec.workspace} workspace none rw,bind,create=dir 0 0`] as [string, string],
    ...network,
    ...limitConfig(spec.limits),
  ]) {
    await container.setConfigItem(key, value);
  }
  await container.saveConfig();
  // sleep is init: steps run beside it through exec, and stop ends them all.
  await container.start({ args: ['/bin/sleep', 'infinity'] });
  if (spec.job.network) {
    const lease = await container.exec(['busybox', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '10', '-T', '1', '-s', '/etc/lxcts/udhcpc.script'], {
      timeout: 30,
    });
    if (lease.exitCode !== 0) throw new Error(`no address from the DHCP server on bridge ${spec.bridge}: ${lease.stderr.toString().trim()}`);
  }
}

const execFileAsync = promisify(execFile);

/** Entries chowned in this process before the rest goes to chown -R (about 5 ms of the event loop). */
const INLINE_CHOWN_ENTRIES = 2000;

/**
 * Gives the checkout to the container's root. A small checkout (a trivial build's) is walked here with
 * lchown: a few hundred microseconds, where forking this process for chown costs
 * milliseconds. A big one goes to chown -hR in a child process: ten times faster than a
 * walk through libuv's pool (68 ms against 680 ms for 10,000 files), and it does not hold
 * the event loop. Either way symlinks from the repository are changed, never followed.
 */
async function giveToContainerRoot(workspace: string, range: IdRange): Promise<void> {
  if (chownSmallTree(workspace, range, INLINE_CHOWN_ENTRIES)) return;
  await execFileAsync('chown', ['-hR', `${range.uid}:${range.gid}`, '--', workspace]);
}

/** lchowns `root` and everything below it, unless it holds more than `budget` entries (then false, part done). */
function chownSmallTree(root: string, range: IdRange, budget: number): boolean {
  const dirs = [root];
  fs.lchownSync(root, range.uid, range.gid);
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (--budget < 0) return false;
      const full = path.join(dir, entry.name);
      fs.lchownSync(full, range.uid, range.gid);
      // A Dirent's type is the entry's own (lstat's): a symlink to a directory is not walked.
      if (entry.isDirectory()) dirs.push(full);
    }
  }
  return true;
}

/** The deepest directory the paths share: the data directory, in the builder's layout. */
function commonAncestor(...dirs: string[]): string {
  const [first = [], ...rest] = dirs.map((d) => path.resolve(d).split(path.sep));
  let n = 0;
  while (n < first.length && rest.every((s) => s[n] === first[n])) n++;
  return first.slice(0, n).join(path.sep) || path.sep;
}

/** Stops and destroys a build container, whatever state it is in. */
export async function destroyBuildContainer(name: string, containersPath: string): Promise<void> {
  const container = new Container(name, { lxcpath: containersPath });
  try {
    if (await container.running()) await container.stop();
    if (await container.defined()) await container.destroy({ withSnapshots: true });
  } finally {
    await container.release();
  }
  // liblxc keeps a lock file per container name (for root: /run/lxc/lock/<lxcpath>/.<name>)
  // and never removes it; build names are never reused, so a worker would pile up one
  // file per build in /run.
  fs.rmSync(path.join('/run/lxc/lock', path.resolve(containersPath), `.${name}`), { force: true });
}
