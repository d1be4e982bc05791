import { native } from './native';
import { checkLxcpath, expectOptions } from './validate';

export type ListWhich = 'all' | 'active' | 'defined';

export interface ListOptions {
  /** Directory to list. Default: liblxc's lxcpath. */
  lxcpath?: string;
  /** "defined": has a config; "active": running (or otherwise has a monitor); "all": either. Default: "all". */
  which?: ListWhich;
}

/** Names of the containers in an lxcpath, sorted. */
export async function listContainers(options: ListOptions = {}): Promise<string[]> {
  const o = expectOptions<ListOptions>(options, 'list options');
  const which = o.which ?? 'all';
  if (which !== 'all' && which !== 'active' && which !== 'defined') {
    throw new TypeError(`Expected one of all, active, defined for which but received "${String(which)}"`);
  }
  const names = await native().listContainers(checkLxcpath(o.lxcpath) ?? null, which);
  return names.sort();
}

/** The version of the liblxc this process runs against, e.g. "5.0.2". */
export function lxcVersion(): string {
  return native().version();
}

/** liblxc's default lxcpath (lxc.lxcpath in lxc.conf; /var/lib/lxc for root). */
export function defaultLxcpath(): Promise<string> {
  return native().defaultLxcpath();
}

/** Whether liblxc accepts `key` as a config key. */
export function isConfigKey(key: string): boolean {
  // C would read the key up to a NUL and judge only that part.
  return typeof key === 'string' && !key.includes('\0') && native().configItemSupported(key);
}
