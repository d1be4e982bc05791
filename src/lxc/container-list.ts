/** The list functions that return Container objects (go-lxc's Containers, python3-lxc's as_object). */
import { Container } from './container';
import { listContainers, ListOptions } from './system';
import { checkLxcpath, checkName, expectOptions } from './validate';

function acceptedName(name: string): boolean {
  try {
    checkName(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * The containers of an lxcpath, as Container objects sorted by name: one per name that
 * listContainers() gives for the same options, except names lxcts refuses (a directory
 * named with a space, say; listContainers() still shows them). Each object holds a liblxc
 * handle once used: release() the ones you are done with.
 */
export async function containers(options: ListOptions = {}): Promise<Container[]> {
  const lxcpath = checkLxcpath(expectOptions<ListOptions>(options, 'list options').lxcpath);
  const names = await listContainers(options);
  return names.filter(acceptedName).map((name) => new Container(name, { lxcpath }));
}
