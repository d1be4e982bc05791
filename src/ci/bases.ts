/**
 * Base containers that builds are cloned from, kept in the data directory's bases lxcpath.
 *
 * "host" needs no download: a small rootfs of its own (/etc with just what builds need)
 * with the host's /usr and library directories mounted read-only, so the host's git, make,
 * gcc, go and node are all there. Any other base is a full container made from an LXC
 * template (debootstrap for "debian"), isolated from the host's files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container } from '../lxc/container';
import { listContainers } from '../lxc/system';

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

/** Makes the "host" base (idempotent). */
export async function ensureHostBase(basesPath: string): Promise<void> {
  const dir = path.join(basesPath, HOST_BASE);
  if (fs.existsSync(path.join(dir, 'config'))) return;
  const partial = path.join(basesPath, `.${HOST_BASE}.partial-${process.pid}`);
  fs.rmSync(partial, { recursive: true, force: true });
  const mounts = hostRootfs(path.join(partial, 'rootfs'));
  fs.renameSync(partial, dir);
  const base = new Container(HOST_BASE, { lxcpath: basesPath });
  try {
    await base.clearConfigItem('lxc.net');
    const items: Array<[string, string]> = [
      ['lxc.uts.name', 'lxcts-build'],
      ['lxc.rootfs.path', `dir:${path.join(dir, 'rootfs')}`],
      ['lxc.net.0.type', 'empty'],
      ['lxc.autodev', '1'],
      ['lxc.tty.max', '0'],
      ['lxc.pty.max', '16'],
      ['lxc.mount.auto', 'proc:mixed sys:ro cgroup:mixed'],
      ['lxc.cap.drop', 'sys_module mac_admin mac_override sys_time'],
      ...mounts.map((m): [string, string] => ['lxc.mount.entry', m]),
    ];
    for (const [key, value] of items) await base.setConfigItem(key, value);
    await base.saveConfig();
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    await base.release();
  }
}

/** Makes a full base from an LXC template (e.g. debian, through debootstrap). */
export async function createTemplateBase(basesPath: string, name: string, template: string, packages: string[]): Promise<void> {
  const base = new Container(name, { lxcpath: basesPath });
  try {
    const args = packages.length > 0 && template === 'debian' ? ['--packages', packages.join(',')] : [];
    await base.create({ template, args });
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
