/**
 * The host uids and gids a build container's root and users map to: root's subordinate
 * ranges in /etc/subuid and /etc/subgid. liblxc hands the maps to the setuid newuidmap and
 * newgidmap helpers, which refuse ranges root was not given there, and listing the range
 * there keeps useradd from giving it to a login user.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Ids mapped into a build container: 0 (root) to 65535 (nobody and nogroup included). */
export const BUILD_ID_COUNT = 65536;

export interface IdRange {
  /** Host uid of the container's root. */
  uid: number;
  /** Host gid of the container's root. */
  gid: number;
  count: number;
}

export class IdRangeError extends Error {
  readonly code = 'CI_NO_ID_RANGE';
  constructor(message: string) {
    super(message);
    this.name = 'IdRangeError';
  }
}

const FIX = 'run scripts/setup-host.sh as root, or add the line root:100000:65536 to both /etc/subuid and /etc/subgid';

/** Root's first range of at least BUILD_ID_COUNT ids in a subid file (`name:start:count` lines). */
function rootRange(file: string): number {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new IdRangeError(`build containers are unprivileged and need a range of ${BUILD_ID_COUNT} ids for root in ${file}, which cannot be read; ${FIX}`);
  }
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if ((owner === 'root' || owner === '0') && /^\d+$/.test(start ?? '') && /^\d+$/.test(count ?? '') && Number(count) >= BUILD_ID_COUNT && Number(start) > 0) {
      return Number(start);
    }
  }
  throw new IdRangeError(`build containers are unprivileged and need a range of ${BUILD_ID_COUNT} ids for root in ${file}, which has none; ${FIX}`);
}

/** Root's build id range; throws IdRangeError naming the fix when the host has none. */
export function buildIdRange(files = { subuid: '/etc/subuid', subgid: '/etc/subgid' }): IdRange {
  return { uid: rootRange(files.subuid), gid: rootRange(files.subgid), count: BUILD_ID_COUNT };
}

/** The lxc.idmap entries that make a container's root the range's first id. */
export function idmapConfig(range: IdRange): Array<[string, string]> {
  return [
    ['lxc.idmap', `u 0 ${range.uid} ${range.count}`],
    ['lxc.idmap', `g 0 ${range.gid} ${range.count}`],
  ];
}

export class SearchPermissionError extends Error {
  readonly code = 'CI_NO_SEARCH_PERMISSION';
  constructor(message: string) {
    super(message);
    this.name = 'SearchPermissionError';
  }
}

function searchable(stat: fs.Stats, range: IdRange): boolean {
  return (stat.mode & 0o001) !== 0 || (stat.gid === range.gid && (stat.mode & 0o010) !== 0) || (stat.uid === range.uid && (stat.mode & 0o100) !== 0);
}

/**
 * liblxc sets up a container's rootfs and mounts as the container's root, so every
 * directory above a base's rootfs, a clone and a workspace must let the range's root pass
 * (search, not read). Directories of lxcts's own (`owned` and below) that do not are given
 * to the range's group with search permission only (0700 becomes 0710): no other host user
 * gets in. Directories above them are the operator's: their fix is named, not made.
 */
export function letRangeSearch(dirs: string[], owned: string, range: IdRange): void {
  const top = path.resolve(owned);
  // A system directory (/, /var) is never taken for lxcts's own, whatever the paths share.
  const mayChange = top.split(path.sep).filter(Boolean).length >= 2;
  const seen = new Set<string>();
  for (const start of dirs) {
    for (let dir = path.resolve(start); !seen.has(dir); dir = path.dirname(dir)) {
      seen.add(dir);
      const stat = fs.statSync(dir);
      if (!searchable(stat, range)) {
        const ours = mayChange && (dir === top || dir.startsWith(`${top}${path.sep}`));
        if (!ours || stat.uid !== 0 || (stat.mode & 0o070) !== 0) {
          throw new SearchPermissionError(
            `build containers run as uid ${range.uid} and gid ${range.gid} on the host and cannot pass through ${dir}; allow it with: chmod o+x ${dir}`,
          );
        }
        fs.chownSync(dir, 0, range.gid);
        fs.chmodSync(dir, (stat.mode & 0o7777) | 0o010);
      }
      if (dir === path.dirname(dir)) break;
    }
  }
}
