/**
 * Opening a path below a root directory so that nothing outside the root is ever opened,
 * whatever the tree holds and however it changes while we look.
 *
 * The tree is the publisher's (binaries/ and docs/ of the data directory): its own
 * symlinks (a branch pointer → a commit, a commit → `.versions/<sha>-<build>`) must be
 * followed, but a link that leads out of the root (absolute, or `..` past the root), or
 * one planted or swapped in by someone racing the server, must not be. So links are never
 * followed by the kernel: each component is opened with O_NOFOLLOW relative to the
 * descriptor of its parent (through `/proc/self/fd/<dir>/<name>`, Node having no
 * openat(2), as collect.ts does), a link is read with readlink and resolved here, against
 * the path walked so far, and the walk starts again from the root's descriptor with the
 * result. A link swapped in after the look is refused by O_NOFOLLOW (ELOOP) and looked at
 * again; what is served is read from the descriptor that was opened, so a swap after the
 * open changes nothing.
 *
 * Refused (null, never an error): a missing component, a link out of the root or an
 * absolute link, more than MAX_LINKS links, anything that is neither a directory nor a
 * regular file, and regular files with more than one hard link (published files are
 * always fresh copies; a hard link may be a host file's second name).
 */
import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_DIRECTORY } = fs.constants;
// O_NONBLOCK: a FIFO swapped in after the type check must not hang the server.
const OPEN = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

/** Links followed in one walk: the publisher's paths need two (branch → sha → version). */
export const MAX_LINKS = 8;

export interface Opened {
  handle: FileHandle;
  stat: fs.Stats;
}

function at(dir: FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

/**
 * Opens `components` (already split and checked: no '', '.', '..', '/' or NUL) below
 * `root`; the caller closes the handle. Null when refused.
 */
export async function openInside(root: string, components: readonly string[]): Promise<Opened | null> {
  // The callers' check (request-path.ts, upload-manifest.ts), again where it matters.
  if (components.some((name) => name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0'))) return null;
  // The root is the operator's own directory: the one path opened the ordinary way.
  const rootHandle = await fsp.open(root, O_RDONLY | O_DIRECTORY).catch(() => null);
  if (!rootHandle) return null;
  let current: FileHandle = rootHandle;
  const closeCurrent = async () => {
    if (current !== rootHandle) await current.close();
    current = rootHandle;
  };
  try {
    let walked: string[] = [];
    let queue = [...components];
    let links = 0;
    for (;;) {
      const name = queue.shift();
      if (name === undefined) {
        const handle = current === rootHandle ? await fsp.open(at(rootHandle, '.'), OPEN) : current;
        current = rootHandle;
        return { handle, stat: await handle.stat() };
      }
      const step = await openStep(current, name);
      if (step === null) return null;
      if ('link' in step) {
        if (++links > MAX_LINKS || path.posix.isAbsolute(step.link) || step.link.includes('\0')) return null;
        // Resolved against where the link is; a result that leaves the root is refused.
        const resolved = path.posix.normalize([...walked, step.link, ...queue].join('/'));
        if (resolved === '..' || resolved.startsWith('../')) return null;
        queue = resolved.split('/').filter((part) => part !== '' && part !== '.');
        walked = [];
        await closeCurrent();
        continue;
      }
      const { handle, stat } = step;
      await closeCurrent();
      current = handle;
      walked.push(name);
      if (stat.isFile() && (queue.length > 0 || stat.nlink > 1)) return null;
    }
  } finally {
    await closeCurrent();
    await rootHandle.close();
  }
}

/** One component: its link target, or it opened, or null when it is not to be served. */
async function openStep(dir: FileHandle, name: string): Promise<{ link: string } | Opened | null> {
  // Looked at first so that a device node or socket is never opened; the fstat decides.
  for (let tries = 0; tries < MAX_LINKS; tries++) {
    const first = await fsp.lstat(at(dir, name)).catch(() => null);
    if (!first) return null;
    if (first.isSymbolicLink()) {
      const link = await fsp.readlink(at(dir, name)).catch(() => null);
      if (link !== null) return { link };
      continue;
    }
    if (!first.isFile() && !first.isDirectory()) return null;
    let handle: FileHandle;
    try {
      handle = await fsp.open(at(dir, name), OPEN);
    } catch (err) {
      // Swapped for a link between the look and the open: look again.
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') continue;
      return null;
    }
    const stat = await handle.stat();
    if (stat.isFile() || stat.isDirectory()) return { handle, stat };
    await handle.close();
    return null;
  }
  return null;
}
