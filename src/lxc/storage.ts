/**
 * Where a new rootfs is made: create()'s storage options (liblxc's bdev_specs), checked
 * before they reach the lifecycle helper, and what a backend needs from this machine, so
 * that a missing tool, pool or filesystem is named before liblxc fails with a log line.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile, statfs } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { LxcError } from './errors';
import { onPath } from './missing-tools';
import { native } from './native';
import { checkConfigPath, describe, expectOptions, expectOptionalStringWithoutNul } from './validate';

/** How create() makes the rootfs (go-lxc's BackendSpecs); each applies only to its backend. */
export interface StorageOptions {
  /** Filesystem made on a block backend (loop, lvm, rbd), e.g. "ext4", "xfs". Default: liblxc's, ext4. */
  fsType?: string;
  /** Size in bytes of a block backend's filesystem (loop, lvm, rbd). Default: liblxc's, 1 GiB. */
  fsSize?: number;
  /** "dir" backend: the rootfs directory. Default: LXCPATH/NAME/rootfs. */
  dir?: string;
  /** "zfs" backend: the dataset under which the container's is made. Default: lxc.bdev.zfs.root (lxc.conf). */
  zfs?: { root?: string };
  /** "lvm" backend. Defaults: lxc.bdev.lvm.vg and lxc.bdev.lvm.thin_pool (lxc.conf); the container's name for the volume. */
  lvm?: { vg?: string; lv?: string; thinPool?: string };
  /** "rbd" backend (Ceph). Defaults: lxc.bdev.rbd.pool; the container's name for the image. */
  rbd?: { name?: string; pool?: string };
}

/** LVM volume groups and volumes, Ceph pools and images: letters, digits, "+", "_", ".", "-" (not first). */
const VOLUME_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;
/** A ZFS dataset path: such names joined by "/" (":" would end the rootfs path's type prefix). */
const DATASET = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$/;
/** liblxc runs `mkfs -t FSTYPE`. */
const FS_TYPE = /^[a-z0-9]{1,32}$/;

function checkPattern(value: unknown, what: string, pattern: RegExp, rule: string): string | undefined {
  const text = expectOptionalStringWithoutNul(value, what);
  if (text === undefined) return undefined;
  if (!pattern.test(text) || text === '.' || text === '..') throw new TypeError(`Expected ${rule} for ${what} but received ${describe(text)}`);
  return text;
}

/** Bytes: a positive safe integer. */
export function checkBytes(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`Expected a positive integer number of bytes for ${what} but received ${describe(value)}`);
  }
  return value;
}

/** Checked storage options: `args` as the lifecycle helper takes them (KEY=VALUE, bdev_specs's names). */
export interface CheckedStorage {
  args: string[];
  fsType?: string;
  zfsRoot?: string;
  vg?: string;
}

export function checkStorage(value: unknown): CheckedStorage {
  const o = expectOptions<StorageOptions>(value, 'storage options');
  const zfs = expectOptions<NonNullable<StorageOptions['zfs']>>(o.zfs, 'storage.zfs');
  const lvm = expectOptions<NonNullable<StorageOptions['lvm']>>(o.lvm, 'storage.lvm');
  const rbd = expectOptions<NonNullable<StorageOptions['rbd']>>(o.rbd, 'storage.rbd');
  const volume = 'a name of letters, digits, "+", "_", "." and "-"';
  const fields: Array<[string, string | number | undefined]> = [
    ['fstype', checkPattern(o.fsType, 'storage.fsType', FS_TYPE, 'a filesystem type such as "ext4"')],
    ['fssize', checkBytes(o.fsSize, 'storage.fsSize')],
    ['dir', o.dir === undefined ? undefined : checkConfigPath(o.dir, 'storage.dir', 'a rootfs directory')],
    ['zfsroot', checkPattern(zfs.root, 'storage.zfs.root', DATASET, 'a ZFS dataset such as "tank/lxc"')],
    ['vg', checkPattern(lvm.vg, 'storage.lvm.vg', VOLUME_NAME, volume)],
    ['lv', checkPattern(lvm.lv, 'storage.lvm.lv', VOLUME_NAME, volume)],
    ['thinpool', checkPattern(lvm.thinPool, 'storage.lvm.thinPool', VOLUME_NAME, volume)],
    ['rbdname', checkPattern(rbd.name, 'storage.rbd.name', VOLUME_NAME, volume)],
    ['rbdpool', checkPattern(rbd.pool, 'storage.rbd.pool', VOLUME_NAME, volume)],
  ];
  const args = fields.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${String(v)}`);
  const given = (key: string) => fields.find(([k]) => k === key)?.[1] as string | undefined;
  return { args, fsType: given('fstype'), zfsRoot: given('zfsroot'), vg: given('vg') };
}

/** Tools liblxc runs for a backend, with the Debian package that has them. */
const BACKEND_TOOLS: Record<string, Array<[command: string, debianPackage: string]>> = {
  lvm: [['lvcreate', 'lvm2']],
  zfs: [['zfs', 'zfsutils-linux']],
  rbd: [['rbd', 'ceph-common']],
};
const MKFS_PACKAGES: Record<string, string> = { ext2: 'e2fsprogs', ext3: 'e2fsprogs', ext4: 'e2fsprogs', xfs: 'xfsprogs', btrfs: 'btrfs-progs' };
const BLOCK_BACKENDS = ['loop', 'lvm', 'rbd'];
const BTRFS_MAGIC = 0x9123683e;
const FS_NAMES: Record<number, string> = { 0xef53: 'ext4', 0x01021994: 'tmpfs', 0x58465342: 'xfs', 0x794c7630: 'overlayfs', 0x2fc12fc1: 'zfs' };

/** The programs liblxc runs for `backend`, each with the sentence that says it is missing. */
export function backendTools(backend: string, fsType?: string): Array<{ command: string; missing: string }> {
  const tools = (BACKEND_TOOLS[backend] ?? []).map(([command, pkg]) => ({
    command,
    missing: `the ${backend} backend needs \`${command}\`, which is not installed (Debian package ${pkg})`,
  }));
  if (!BLOCK_BACKENDS.includes(backend)) return tools;
  const type = fsType ?? 'ext4';
  const pkg = MKFS_PACKAGES[type];
  const command = `mkfs.${type}`;
  return [
    ...tools,
    {
      command,
      missing: `the ${backend} backend makes a ${type} filesystem with \`${command}\`, which is not installed${pkg ? ` (Debian package ${pkg})` : ''}`,
    },
  ];
}

/** The first of backendTools() not on the PATH, looked up synchronously (for tests deciding what to skip). */
export function missingBackendTool(backend: string, fsType?: string): string | undefined {
  return backendTools(backend, fsType).find((tool) => !onPath(tool.command))?.missing;
}

/** onPath() without blocking the event loop. */
async function onPathAsync(command: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const found = await access(path.join(dir, command), constants.X_OK).then(
      () => true,
      () => false,
    );
    if (found) return true;
  }
  return false;
}

/**
 * What this machine lacks for `backend` under `lxcpath`, as a sentence, or undefined when
 * nothing is known to be missing (liblxc may still fail, and says why in the error's details).
 */
export async function backendProblem(backend: string, lxcpath: string, storage: Partial<CheckedStorage> = {}): Promise<string | undefined> {
  for (const tool of backendTools(backend, storage.fsType)) {
    if (!(await onPathAsync(tool.command))) return tool.missing;
  }
  const succeeds = (command: string, args: string[]) =>
    promisify(execFile)(command, args).then(
      () => true,
      () => false,
    );
  if (backend === 'lvm') {
    const devices = await readFile('/proc/devices', 'utf8').catch(() => '');
    if (!/^\s*\d+ device-mapper$/m.test(devices)) return "the lvm backend needs the kernel's device-mapper, which this kernel does not have";
    const vg = storage.vg ?? (await native().globalConfigItem('lxc.bdev.lvm.vg')) ?? 'lxc';
    if (!(await succeeds('vgs', ['--', vg]))) return `the lvm backend needs the volume group "${vg}" (storage.lvm.vg or lxc.bdev.lvm.vg), which does not exist`;
  }
  if (backend === 'btrfs') {
    const type = await statfs(lxcpath).then(
      (s) => s.type,
      () => undefined,
    );
    if (type !== undefined && type !== BTRFS_MAGIC) {
      const name = FS_NAMES[type] ?? `filesystem type 0x${type.toString(16)}`;
      return `the btrfs backend needs the lxcpath on a btrfs filesystem, and ${lxcpath} is on ${name}`;
    }
  }
  if (backend === 'zfs') {
    const root = storage.zfsRoot ?? (await native().globalConfigItem('lxc.bdev.zfs.root')) ?? 'lxc';
    if (!(await succeeds('zfs', ['list', '-H', '-o', 'name', '--', root])))
      return `the zfs backend needs the ZFS dataset "${root}" (storage.zfs.root or lxc.bdev.zfs.root), which does not exist`;
  }
  return undefined;
}

/** Fails with LXC_BACKEND_UNAVAILABLE, naming what is missing, before liblxc is asked. */
export async function requireBackend(
  backend: string | null,
  lxcpath: string,
  op: string,
  container: string,
  storage: Partial<CheckedStorage> = {},
): Promise<void> {
  if (backend === null) return;
  const problem = await backendProblem(backend, lxcpath, storage);
  if (problem) throw new LxcError(`cannot ${op} ${JSON.stringify(container)}: ${problem}`, { code: 'LXC_BACKEND_UNAVAILABLE', op, container });
}
