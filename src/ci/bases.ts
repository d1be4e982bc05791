/**
 * Base containers that builds are cloned from, kept in the data directory's bases lxcpath.
 *
 * "host" needs no download: a small rootfs of its own (/etc with just what builds need)
 * with the host's /usr and library directories mounted read-only, so the host's git, make,
 * gcc, go and node are all there. Any other base is a full container made from an LXC
 * template (debootstrap for "debian"), isolated from the host's files.
 *
 * Both are unprivileged (their root is root's subordinate id range, see id-range.ts) and
 * hardened (hardening.ts); their containers inherit both through the overlay clone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container, listContainers } from '../index';
import { hardeningConfig, SECCOMP_FILE, writeSeccompProfile } from './hardening';
import { buildIdRange, IdRange, idmapConfig } from './id-range';

export const HOST_BASE = 'host';

/** Top-level host directories that hold programs and libraries. */
const PROGRAM_DIRS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

const ETC_FILES: Record<string, string> = {
  passwd: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
  group: 'root:x:0:\nnogroup:x:65534:\n',
  hosts: '127.0.0.1 localhost lxcts-build\n::1 localhost\n',
  'nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
  'resolv.conf': '',
  // busybox udhcpc calls this to configure the interface it got a lease for.
  'lxcts/udhcpc.script': [
    '#!/bin/sh',
    'case "$1" in',
    '  bound|renew)',
    '    busybox ip addr flush dev "$interface"',
    '    busybox ip addr add "$ip/${mask:-24}" dev "$interface"',
    '    [ -n "$router" ] && busybox ip route replace default via "${router%% *}" dev "$interface"',
    '    : > /etc/resolv.conf',
    '    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done',
    '    ;;',
    'esac',
    '',
  ].join('\n'),
};

function hostRootfs(rootfs: string): string[] {
  const mounts: string[] = [];
  for (const dir of ['dev', 'proc', 'sys', 'tmp', 'run', 'root', 'home', 'mnt', 'usr', 'workspace', 'var/tmp', 'etc/lxcts']) {
    fs.mkdirSync(path.join(rootfs, dir), { recursive: true });
  }
  fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  mounts.push('/usr usr none ro,bind 0 0');
  for (const dir of PROGRAM_DIRS) {
    const host = `/${dir}`;
    const stat = fs.lstatSync(host, { throwIfNoEntry: false });
    if (!stat) continue;
    if (stat.isSymbolicLink()) {
      // merged /usr: /bin -> usr/bin, and so on; the same link works inside.
      fs.symlinkSync(fs.readlinkSync(host), path.join(rootfs, dir));
    } else if (stat.isDirectory()) {
      fs.mkdirSync(path.join(rootfs, dir), { recursive: true });
      mounts.push(`${host} ${dir} none ro,bind 0 0`);
    }
  }
  for (const [file, text] of Object.entries(ETC_FILES)) fs.writeFileSync(path.join(rootfs, 'etc', file), text);
  fs.chmodSync(path.join(rootfs, 'etc/lxcts/udhcpc.script'), 0o755);
  if (fs.existsSync('/etc/ld.so.cache')) fs.copyFileSync('/etc/ld.so.cache', path.join(rootfs, 'etc/ld.so.cache'));
  // Compilers reach cc/c++ through /etc/alternatives; TLS clients need the CA bundle.
  for (const dir of ['etc/alternatives', 'etc/ssl']) {
    if (fs.existsSync(`/${dir}`)) mounts.push(`/${dir} ${dir} none ro,bind,optional,create=dir 0 0`);
  }
  return mounts;
}

/**
 * Written last into every base lxcts made: which format it has and which host ids its root
 * maps to. A base without it (made by an older lxcts, privileged) is never used as it is.
 */
const MARKER = 'lxcts-base.json';
const BASE_FORMAT = 2;

interface BaseMarker {
  format: number;
  uid: number;
  gid: number;
}

function readMarker(dir: string): BaseMarker | null {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(dir, MARKER), 'utf8')) as BaseMarker;
    return typeof marker.uid === 'number' && typeof marker.gid === 'number' ? marker : null;
  } catch {
    return null;
  }
}

function isCurrent(marker: BaseMarker | null, range: IdRange): boolean {
  return marker !== null && marker.format === BASE_FORMAT && marker.uid === range.uid && marker.gid === range.gid;
}

function writeMarker(dir: string, range: IdRange): void {
  const marker: BaseMarker = { format: BASE_FORMAT, uid: range.uid, gid: range.gid };
  fs.writeFileSync(path.join(dir, MARKER), `${JSON.stringify(marker)}\n`);
}

/**
 * Gives a tree to a container's ids: host id n (below the range's size) becomes range
 * start + n, so root's files become the container root's. Symlinks are not followed.
 * chown clears setuid and setgid bits, so they are put back (file capabilities are lost).
 */
export async function shiftOwnership(root: string, range: IdRange): Promise<void> {
  const shift = async (file: string, stat: fs.Stats): Promise<void> => {
    const uid = stat.uid < range.count ? range.uid + stat.uid : stat.uid;
    const gid = stat.gid < range.count ? range.gid + stat.gid : stat.gid;
    if (uid !== stat.uid || gid !== stat.gid) {
      await fs.promises.lchown(file, uid, gid);
      if (!stat.isSymbolicLink() && (stat.mode & 0o6000) !== 0) await fs.promises.chmod(file, stat.mode & 0o7777);
    }
  };
  const walk = async (dir: string): Promise<void> => {
    const entries = await fs.promises.readdir(dir, { withFileTypes: true });
    await Promise.all(
      entries.map(async (entry) => {
        const file = path.join(dir, entry.name);
        await shift(file, await fs.promises.lstat(file));
        if (entry.isDirectory()) await walk(file);
      }),
    );
  };
  await shift(root, await fs.promises.lstat(root));
  await walk(root);
}

// Builds of one process ask for the host base at once: one of them makes it.
const making = new Map<string, Promise<void>>();

/**
 * Makes the "host" base, or makes it again when it is not current (an older lxcts made it
 * privileged, or root's id range changed). Throws IdRangeError when root has no range.
 */
export async function ensureHostBase(basesPath: string): Promise<void> {
  const range = buildIdRange();
  const dir = path.join(basesPath, HOST_BASE);
  if (isCurrent(readMarker(dir), range)) return;
  const pending = making.get(dir) ?? makeHostBase(basesPath, range).finally(() => making.delete(dir));
  making.set(dir, pending);
  await pending;
}

async function makeHostBase(basesPath: string, range: IdRange): Promise<void> {
  const dir = path.join(basesPath, HOST_BASE);
  // Made whole under another name, then renamed: another process never sees half a base.
  const partialName = `.${HOST_BASE}.partial-${process.pid}`;
  const partial = path.join(basesPath, partialName);
  fs.rmSync(partial, { recursive: true, force: true });
  try {
    const mounts = hostRootfs(path.join(partial, 'rootfs'));
    await shiftOwnership(path.join(partial, 'rootfs'), range);
    const base = new Container(partialName, { lxcpath: basesPath });
    try {
      await base.clearConfigItem('lxc.net');
      const items: Array<[string, string]> = [
        ['lxc.uts.name', 'lxcts-build'],
        ['lxc.rootfs.path', `dir:${path.join(dir, 'rootfs')}`],
        ...idmapConfig(range),
        ['lxc.net.0.type', 'empty'],
        ['lxc.autodev', '1'],
        ['lxc.tty.max', '0'],
        ['lxc.pty.max', '16'],
        ...hardeningConfig(path.join(dir, SECCOMP_FILE)),
        ...mounts.map((m): [string, string] => ['lxc.mount.entry', m]),
      ];
      for (const [key, value] of items) await base.setConfigItem(key, value);
      await base.saveConfig();
    } finally {
      await base.release();
    }
    keepRootOwned(partial);
    writeSeccompProfile(partial);
    writeMarker(partial, range);
    if (fs.existsSync(dir) && !isCurrent(readMarker(dir), range)) retire(basesPath, HOST_BASE);
    try {
      fs.renameSync(partial, dir);
    } catch (err) {
      // Another process made it meanwhile: use theirs if it is current.
      if (!isCurrent(readMarker(dir), range)) throw err;
    }
  } finally {
    fs.rmSync(partial, { recursive: true, force: true });
  }
}

/**
 * liblxc gives the directory of a container with an id map to the mapped root. A base's
 * directory holds its config: owned by the range, a process that got out of a build as
 * that uid could swap the config for a privileged one. Only its rootfs needs the range.
 */
function keepRootOwned(dir: string): void {
  fs.chownSync(dir, 0, 0);
  fs.chmodSync(dir, 0o755);
}

/**
 * Moves an outdated host base out of the way and removes it. It has only its own small
 * rootfs (the host's directories are mounted, never copied), so removing the directory is
 * enough; clones of it are build containers, which the builder's sweep destroys.
 */
function retire(basesPath: string, name: string): void {
  const old = path.join(basesPath, `.${name}.old-${process.pid}-${Date.now()}`);
  try {
    fs.renameSync(path.join(basesPath, name), old);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return;
  }
  fs.rmSync(old, { recursive: true, force: true });
}

export class BaseNotReadyError extends Error {
  readonly code = 'CI_BASE_NOT_READY';
  constructor(message: string) {
    super(message);
    this.name = 'BaseNotReadyError';
  }
}

/**
 * The id range a base's containers run in; refuses a base that would run builds
 * privileged (made by an older lxcts) or whose range root no longer owns.
 */
export function baseIdRange(basesPath: string, name: string): IdRange {
  const range = buildIdRange();
  const marker = readMarker(path.join(basesPath, name));
  if (isCurrent(marker, range)) return range;
  const again = name === HOST_BASE ? `lxcts ci base create ${HOST_BASE}` : `lxcts ci base delete ${name} && lxcts ci base create ${name} --template <template>`;
  const why =
    marker === null
      ? 'was made by an older lxcts and would run builds privileged'
      : `maps its root to uid ${marker.uid} and gid ${marker.gid}, but root's range in /etc/subuid and /etc/subgid now starts at ${range.uid} and ${range.gid}`;
  throw new BaseNotReadyError(`base "${name}" ${why}; make it again: ${again}`);
}

/**
 * Makes a full base from an LXC template (e.g. debian, through debootstrap), then makes it
 * unprivileged like the host base: the templates build their rootfs as host root (debian's
 * refuses to run in a user namespace), so its ownership is shifted into the build range
 * afterwards, and the same id map and hardening are added to its config.
 */
export async function createTemplateBase(basesPath: string, name: string, template: string, packages: string[]): Promise<void> {
  const range = buildIdRange();
  const dir = path.join(basesPath, name);
  const base = new Container(name, { lxcpath: basesPath });
  try {
    const args = packages.length > 0 && template === 'debian' ? ['--packages', packages.join(',')] : [];
    await base.create({ template, args });
    try {
      const rootfs = (await base.getConfigItem('lxc.rootfs.path')).replace(/^dir:/, '');
      await shiftOwnership(rootfs, range);
      const items: Array<[string, string]> = [
        ...idmapConfig(range),
        // As LXC's userns.conf: a container in a user namespace cannot move its tty bind mounts.
        ['lxc.tty.dir', ''],
        ...hardeningConfig(writeSeccompProfile(dir)),
      ];
      for (const [key, value] of items) await base.setConfigItem(key, value);
      await base.saveConfig();
      keepRootOwned(dir);
      writeMarker(dir, range);
    } catch (err) {
      await base.destroy().catch(() => undefined);
      throw err;
    }
  } finally {
    await base.release();
  }
}

export async function listBases(basesPath: string): Promise<string[]> {
  return listContainers({ lxcpath: basesPath, which: 'defined' });
}

export async function deleteBase(basesPath: string, name: string): Promise<void> {
  const base = new Container(name, { lxcpath: basesPath });
  try {
    await base.destroy({ withSnapshots: true });
  } finally {
    await base.release();
  }
}
