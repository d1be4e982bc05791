/** liblxc itself: its global config (lxc.conf), its version, its API extensions. */
import { LxcError } from './errors';
import { native } from './native';
import { describe, expectString } from './validate';

/** The keys liblxc's lxc_get_global_config_item() knows (LXC 5.0's initutils.c). */
export const GLOBAL_CONFIG_KEYS = [
  'lxc.lxcpath',
  'lxc.default_config',
  'lxc.bdev.lvm.vg',
  'lxc.bdev.lvm.thin_pool',
  'lxc.bdev.zfs.root',
  'lxc.bdev.rbd.pool',
  'lxc.cgroup.use',
  'lxc.cgroup.pattern',
] as const;

export type GlobalConfigKey = (typeof GLOBAL_CONFIG_KEYS)[number];

/**
 * A value of liblxc's global config (lxc.conf, or liblxc's default), e.g. "lxc.lxcpath" or
 * "lxc.bdev.zfs.root"; null when the key has no value. Another key fails with
 * LXC_INVALID_CONFIG_KEY.
 */
export async function globalConfigItem(key: GlobalConfigKey): Promise<string | null> {
  const k = expectString(key, 'the global config key');
  if (!(GLOBAL_CONFIG_KEYS as readonly string[]).includes(k)) {
    throw new LxcError(`unknown global config key ${JSON.stringify(k)} (known: ${GLOBAL_CONFIG_KEYS.join(', ')})`, {
      code: 'LXC_INVALID_CONFIG_KEY',
      op: 'globalConfigItem',
    });
  }
  return native().globalConfigItem(k);
}

function versionPart(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`Expected a non-negative integer for the ${what} version but received ${describe(value)}`);
  }
  return value;
}

/** [major, minor, micro] of a liblxc version string ("5.0.2", "6.0.0~git2024", "4.0"). */
export function parseLxcVersion(version: string): [number, number, number] {
  const [major = 0, minor = 0, micro = 0] = (/^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(version) ?? []).slice(1).map((p) => Number(p ?? 0));
  return [major, minor, micro];
}

/** Whether the liblxc this process runs against is at least major.minor.micro (go-lxc's VersionAtLeast). */
export function lxcVersionAtLeast(major: number, minor = 0, micro = 0): boolean {
  const wanted: [number, number, number] = [versionPart(major, 'major'), versionPart(minor, 'minor'), versionPart(micro, 'micro')];
  return versionAtLeast(native().version(), ...wanted);
}

/**
 * Whether a liblxc version string is at least major.minor.micro. A development build
 * ("5.0.0-devel", "6.0.0~git...") counts as its numbers, as go-lxc's RuntimeLiblxcVersionAtLeast does.
 */
export function versionAtLeast(version: string, major: number, minor: number, micro: number): boolean {
  const wanted = [major, minor, micro];
  const first = parseLxcVersion(version)
    .map((part, i) => part - (wanted[i] ?? 0))
    .find((difference) => difference !== 0);
  return (first ?? 0) >= 0;
}

/** Whether liblxc has the named API extension, e.g. "pidfd" (init_pidfd works) or "idmapped_mounts_v2" (liblxc's api_extensions.h). */
export function hasApiExtension(name: string): boolean {
  const n = expectString(name, 'the API extension name');
  // C would read the name up to a NUL and judge only that part.
  return !n.includes('\0') && native().hasApiExtension(n);
}
