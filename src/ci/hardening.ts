/**
 * What confines a build container beyond its user namespace, written once into each base's
 * config (clones inherit it, so a build pays nothing for it): a seccomp deny list, no new
 * privileges, a device cgroup with only the standard character devices, read-only /sys,
 * capabilities a build has no use for dropped, and AppArmor where the kernel has it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where a base keeps its seccomp profile (next to its config). */
export const SECCOMP_FILE = 'lxcts.seccomp';

const CLONE_NEWUSER = 0x10000000;
const MS_REMOUNT = 0x20;
const EPERM = 1;
const ENOSYS = 38;

/**
 * LXC's seccomp v2 syntax (liblxc 5.0): a deny list, rules for every architecture the host
 * runs ([all]: x86_64, i386 and x32 on amd64). Masked arguments are `[index,value,op,mask]`.
 */
export const SECCOMP_PROFILE = [
  '2',
  'denylist',
  // LXC's default deny list (/usr/share/lxc/config/common.seccomp).
  'reject_force_umount',
  '[all]',
  ...['kexec_load', 'open_by_handle_at', 'init_module', 'finit_module', 'delete_module'].map((s) => `${s} errno ${EPERM}`),
  // What no build needs and the kernel's least reviewed interfaces expose.
  ...[
    'kexec_file_load',
    'bpf',
    'perf_event_open',
    'userfaultfd',
    'io_uring_setup',
    'io_uring_enter',
    'io_uring_register',
    'keyctl',
    'add_key',
    'request_key',
  ].map((s) => `${s} errno ${EPERM}`),
  // No nested user namespaces: they would hand a step a full capability set again.
  `unshare errno ${EPERM} [0,${hex(CLONE_NEWUSER)},SCMP_CMP_MASKED_EQ,${hex(CLONE_NEWUSER)}]`,
  `clone errno ${EPERM} [0,${hex(CLONE_NEWUSER)},SCMP_CMP_MASKED_EQ,${hex(CLONE_NEWUSER)}]`,
  // liblxc makes the container's mounts inside its user namespace, so the kernel does not
  // lock them: without this the read-only host /usr could be remounted read-write (its files
  // would still belong to host root, but read-only must mean read-only).
  `mount errno ${EPERM} [3,${hex(MS_REMOUNT)},SCMP_CMP_MASKED_EQ,${hex(MS_REMOUNT)}]`,
  `mount_setattr errno ${EPERM}`,
  // clone3 passes its flags in a struct seccomp cannot read: refuse it as unknown, and
  // glibc (and Go, Rust) fall back to clone, where the rule above applies.
  `clone3 errno ${ENOSYS}`,
  '',
].join('\n');

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** The standard character devices (null, zero, full, tty, console, ptmx, random, urandom, pts, fuse). */
const ALLOWED_DEVICES = ['c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 136:* rwm', 'c 10:229 rwm'];

/**
 * Capabilities a build never needs, even inside its namespace. net_admin and net_raw stay:
 * udhcpc configures eth0 for jobs with `network: true`.
 */
export const DROPPED_CAPABILITIES = [
  'audit_control',
  'audit_read',
  'block_suspend',
  'mac_admin',
  'mac_override',
  'mknod',
  'setfcap',
  'sys_boot',
  'sys_module',
  'sys_rawio',
  'sys_time',
  'syslog',
  'wake_alarm',
];

function devicesOnV1(): boolean {
  return fs.existsSync('/sys/fs/cgroup/devices/cgroup.procs');
}

export function kernelHasAppArmor(): boolean {
  try {
    return fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    return false;
  }
}

/** Writes the seccomp profile into a base's directory; returns its path. */
export function writeSeccompProfile(baseDir: string): string {
  const profile = path.join(baseDir, SECCOMP_FILE);
  fs.writeFileSync(profile, SECCOMP_PROFILE, { mode: 0o644 });
  return profile;
}

/**
 * The config items that harden a base whose seccomp profile is at `profile`, in order. Keys that accumulate are first set empty, which clears them and, in
 * the saved config, comes after any lxc.include: a template's own settings cannot widen them.
 */
export function hardeningConfig(profile: string): Array<[string, string]> {
  const devices = devicesOnV1() ? 'lxc.cgroup.devices' : 'lxc.cgroup2.devices';
  const cleared = ['lxc.cap.drop', 'lxc.cap.keep', 'lxc.mount.auto', `${devices}.deny`, `${devices}.allow`];
  return [
    ...cleared.map((key): [string, string] => [key, '']),
    ['lxc.seccomp.profile', profile],
    ['lxc.no_new_privs', '1'],
    [`${devices}.deny`, 'a'],
    ...ALLOWED_DEVICES.map((d): [string, string] => [`${devices}.allow`, d]),
    // Without :force, liblxc skips the cgroup mount for a container with its own user namespace.
    ['lxc.mount.auto', 'proc:mixed sys:ro cgroup:mixed:force'],
    ['lxc.cap.drop', DROPPED_CAPABILITIES.join(' ')],
    // "generated" is liblxc's own profile for the container; without AppArmor in the kernel
    // any profile but unconfined makes the start fail.
    ['lxc.apparmor.profile', kernelHasAppArmor() ? 'generated' : 'unconfined'],
  ];
}
