/**
 * A build's disk limit: a size-limited scratch filesystem that holds the build's workspace
 * and its container's overlay upper (and work) directory, so whatever a build writes, in
 * /workspace or anywhere in its root filesystem, counts against one limit.
 *
 * The kernel here has no project quotas, so the limit is a sparse ext4 image of exactly the
 * limit's size, loop-mounted: the host's free space falls by at most that size, and a write
 * past it fails with ENOSPC inside the build. A tmpfs would be faster but its pages count
 * against the build's memory limit.
 *
 * Layout (under the data directory's workspaces/, never inside the container's directory:
 * lxc-destroy fails on a container directory that is a mount point):
 *   workspaces/<id>.img          the image
 *   workspaces/<id>/             its mount point
 *   workspaces/<id>/workspace    the checkout, bind-mounted at /workspace
 *   workspaces/<id>/delta0       the overlay upper directory
 *   workspaces/<id>/olwork       the overlay work directory (liblxc puts it beside the upper)
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class ScratchDisk {
  private constructor(
    /** The mount point. */
    readonly dir: string,
    readonly image: string,
    readonly bytes: number,
  ) {}

  get workspace(): string {
    return path.join(this.dir, 'workspace');
  }

  /** The overlay upper directory; liblxc derives the work directory (olwork) beside it. */
  get upper(): string {
    return path.join(this.dir, 'delta0');
  }

  /**
   * Makes and mounts a scratch filesystem of `bytes` at `<parent>/<name>`. On failure
   * nothing is left behind.
   */
  static async create(parent: string, name: string, bytes: number): Promise<ScratchDisk> {
    const disk = new ScratchDisk(path.join(parent, name), path.join(parent, `${name}.img`), bytes);
    try {
      fs.mkdirSync(disk.dir, { mode: 0o700 });
      const handle = fs.openSync(disk.image, 'wx', 0o600);
      try {
        fs.ftruncateSync(handle, bytes); // sparse: costs nothing until written
      } finally {
        fs.closeSync(handle);
      }
      // No journal (nothing here must survive a crash), no reserved blocks (the build gets
      // the whole limit), lazy inode tables (mkfs does not write them all now).
      await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-O', '^has_journal', '-E', 'nodiscard,lazy_itable_init=1', '-L', 'lxcts-scratch', disk.image]);
      // `loop` attaches a loop device that the kernel detaches again at unmount (autoclear).
      await run('mount', ['-t', 'ext4', '-o', 'loop,nosuid,nodev,noatime', disk.image, disk.dir]);
      fs.rmSync(path.join(disk.dir, 'lost+found'), { recursive: true, force: true });
    } catch (err) {
      await removeScratch(disk.dir, disk.image).catch(() => undefined);
      throw new Error(`could not make the build's ${bytes}-byte scratch filesystem: ${messageOf(err)}`);
    }
    return disk;
  }

  /** Unmounts, detaches and deletes everything. Safe to call again. */
  async remove(): Promise<void> {
    await removeScratch(this.dir, this.image);
  }
}

function messageOf(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr?.trim() || e.message || String(err)).split('\n')[0] ?? '';
}

/** Mount points at or below `dir`, deepest first (from this process's mount table). */
function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map(unescapeMountPath)
    .filter((p) => p === dir || p.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

async function unmount(point: string): Promise<void> {
  try {
    await run('umount', [point]);
  } catch {
    // Still busy (a process of a dying container): detach it now, the kernel frees it
    // (and its loop device) when the last user goes.
    await run('umount', ['--lazy', point]);
  }
}

/** Loop devices whose backing file is `image` (a mount that failed half-way leaves one). */
function loopsOf(image: string): string[] {
  const devices: string[] = [];
  for (const name of fs.existsSync('/sys/block') ? fs.readdirSync('/sys/block') : []) {
    if (!name.startsWith('loop')) continue;
    try {
      const backing = fs.readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim();
      if (backing === image || backing === `${image} (deleted)`) devices.push(`/dev/${name}`);
    } catch {
      // not attached
    }
  }
  return devices;
}

async function removeScratch(dir: string, image: string): Promise<void> {
  for (const point of mountsUnder(dir)) await unmount(point);
  for (const device of loopsOf(image)) await run('losetup', ['-d', device]).catch(() => undefined);
  // Only once nothing is mounted: removing through a mount would empty the build's files
  // from under a process still using them, and then fail on the mount point anyway.
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(image, { force: true });
}

/**
 * Removes the scratch filesystems a killed builder left under `parent` (the data
 * directory's workspaces): every mount below it, the loop devices of its images, the
 * images and directories, except those named in `keep` (builds still running).
 */
export async function sweepScratch(parent: string, keep: Set<string> = new Set()): Promise<string[]> {
  const names = new Set<string>();
  for (const entry of fs.existsSync(parent) ? fs.readdirSync(parent) : []) names.add(entry.replace(/\.img$/, ''));
  for (const point of mountsUnder(parent)) {
    const top = path.relative(parent, point).split(path.sep)[0];
    if (top) names.add(top);
  }
  const removed: string[] = [];
  for (const name of names) {
    if (keep.has(name)) continue;
    await removeScratch(path.join(parent, name), path.join(parent, `${name}.img`));
    removed.push(name);
  }
  return removed;
}
