/**
 * exec() and spawn() options that choose how the command is attached (go-lxc's
 * AttachOptions, python3-lxc's attach options): the namespaces it enters, its personality,
 * its supplementary groups, the variables it keeps, a fresh /proc and /sys, elevated
 * privileges. Checked here, carried in the request on both exec paths (the lxcts-attach
 * helper and the in-process fallback), checked again by the addon.
 */
import { describe, expectBoolean, expectStringArray } from './validate';

/** A namespace of the container a command can enter. */
export type AttachNamespace = 'mount' | 'uts' | 'ipc' | 'user' | 'pid' | 'net' | 'cgroup';

/** CLONE_NEW* of each namespace (linux/sched.h). */
const NAMESPACE_FLAGS: Readonly<Record<AttachNamespace, number>> = {
  mount: 0x00020000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  net: 0x40000000,
  cgroup: 0x02000000,
};

/** PER_LINUX and PER_LINUX32 (linux/personality.h). */
const PER_LINUX = 0x0000;
const PER_LINUX32 = 0x0008;

/**
 * Architecture names as `lxc.arch` and `linux32`/`setarch` take them, and the personality
 * each gives: a 32-bit name runs the command as `linux32` does (`uname -m` says i686 on
 * x86_64, armv7l or armv8l on arm64).
 */
const ARCH_PERSONALITIES: Readonly<Record<string, number>> = {
  linux32: PER_LINUX32,
  x86: PER_LINUX32,
  i386: PER_LINUX32,
  i486: PER_LINUX32,
  i586: PER_LINUX32,
  i686: PER_LINUX32,
  arm: PER_LINUX32,
  armel: PER_LINUX32,
  armhf: PER_LINUX32,
  armv7l: PER_LINUX32,
  linux64: PER_LINUX,
  x86_64: PER_LINUX,
  amd64: PER_LINUX,
  arm64: PER_LINUX,
  aarch64: PER_LINUX,
};

/** The attach options as exec() and spawn() take them (part of SpawnOptions). */
export interface AttachOptions {
  /**
   * The container's namespaces the command enters. Default: all of them. One left out is
   * this process's: e.g. without `net` the command sees the host's interfaces; without
   * `mount` it runs on the host's filesystem (see `remountSysProc`).
   */
  namespaces?: AttachNamespace[];
  /**
   * The architecture the command sees (its personality), as `lxc.arch` names it:
   * `linux32`, `i686`, `x86`... run it as `linux32` does; `linux64`, `x86_64`, `amd64`...
   * as a 64-bit process. Default: the container's own `lxc.arch`.
   */
  arch?: string;
  /**
   * Supplementary group ids of the command (ids inside the container). Default: none
   * (liblxc drops the caller's).
   */
  groups?: number[];
  /**
   * With `clearEnv` (the default): variables of this process's environment, read when the
   * call is made, that the command keeps (as `lxc-attach --keep-var`). `env` still wins.
   * Ignored with `clearEnv: false`, which keeps them all.
   */
  envToKeep?: string[];
  /**
   * Mount a /proc and /sys of the namespaces the command entered, for a command that does
   * not enter the container's mount namespace (in a mount namespace of its own, so the
   * host's stay as they are): /proc then lists the container's processes. No effect when
   * `mount` is entered. Default: false.
   */
  remountSysProc?: boolean;
  /**
   * Run the command without the container's confinement: it stays in this process's
   * cgroup, keeps the capabilities the container drops (`lxc.cap.drop`) and gets no LSM
   * profile (`lxc-attach --elevated-privileges`). This can leak privileges into the
   * container: use it for trusted commands only. Default: false.
   */
  elevatedPrivileges?: boolean;
}

/** What the addon takes for the options above (NativeAttachOptions). */
export interface NativeAttachExtras {
  /** CLONE_NEW* flags; -1: all of the container's. */
  namespaces: number;
  /** PER_LINUX or PER_LINUX32; -1: the container's lxc.arch. */
  personality: number;
  groups: number[];
  remountSysProc: boolean;
  elevatedPrivileges: boolean;
}

const NGROUPS_MAX = 65536;

function checkNamespaces(value: unknown): number {
  if (value === undefined) return -1;
  const names = expectStringArray(value, 'namespaces');
  if (names.length === 0) throw new TypeError('Expected at least one namespace in namespaces but received an empty array');
  let mask = 0;
  for (const name of names) {
    const flag = Object.hasOwn(NAMESPACE_FLAGS, name) ? NAMESPACE_FLAGS[name as AttachNamespace] : undefined;
    if (flag === undefined) {
      throw new TypeError(`Expected one of ${Object.keys(NAMESPACE_FLAGS).join(', ')} in namespaces but received ${JSON.stringify(name)}`);
    }
    mask |= flag;
  }
  return mask;
}

function checkArch(value: unknown): number {
  if (value === undefined) return -1;
  const personality = typeof value === 'string' && Object.hasOwn(ARCH_PERSONALITIES, value) ? ARCH_PERSONALITIES[value] : undefined;
  if (personality === undefined) {
    throw new TypeError(`Expected an architecture (${Object.keys(ARCH_PERSONALITIES).join(', ')}) for arch but received ${describe(value)}`);
  }
  return personality;
}

function checkGroups(value: unknown): number[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TypeError(`Expected an array of group ids for groups but received ${describe(value)}`);
  if (value.length > NGROUPS_MAX) throw new TypeError(`Expected at most ${NGROUPS_MAX} groups but received ${value.length}`);
  const groups: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const gid: unknown = value[i];
    if (typeof gid !== 'number' || !Number.isInteger(gid) || gid < 0 || gid > 0xfffffffe) {
      throw new TypeError(`Expected a group id from 0 to 4294967294 in groups but received ${describe(gid)} at index ${i}`);
    }
    groups.push(gid);
  }
  return groups;
}

/** The envToKeep names: real variable names only (a "=" would let one name set another variable). */
function checkEnvToKeep(value: unknown): string[] {
  const names = expectStringArray(value, 'envToKeep');
  for (const name of names) {
    if (name.length === 0 || name.includes('=')) throw new TypeError(`Invalid environment variable name ${JSON.stringify(name)} in envToKeep`);
  }
  return names;
}

/**
 * The variables of envToKeep as KEY=VALUE, from process.env as it is now (not as it was
 * when some helper was spawned). A name that is not set is left out, as liblxc does.
 */
export function keptEnvironment(options: Partial<AttachOptions>): string[] {
  const kept: string[] = [];
  for (const name of checkEnvToKeep(options.envToKeep)) {
    const value = process.env[name];
    if (value !== undefined && !value.includes('\0')) kept.push(`${name}=${value}`);
  }
  return kept;
}

export function checkAttachOptions(options: Partial<AttachOptions>): NativeAttachExtras {
  return {
    namespaces: checkNamespaces(options.namespaces),
    personality: checkArch(options.arch),
    groups: checkGroups(options.groups),
    remountSysProc: expectBoolean(options.remountSysProc, 'remountSysProc', false),
    elevatedPrivileges: expectBoolean(options.elevatedPrivileges, 'elevatedPrivileges', false),
  };
}
