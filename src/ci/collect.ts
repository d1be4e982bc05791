/**
 * Copying a build's output out of its workspace without trusting any path in it.
 *
 * The workspace was written by a stranger's program running as root, and the collector
 * runs as root on the host: a path checked and then opened may by then be a link to
 * /etc/shadow. So nothing is checked and then used by path. Every directory on the way
 * (each path component) is opened with O_DIRECTORY|O_NOFOLLOW relative to the descriptor
 * of its parent, each file with O_NOFOLLOW, and what the descriptor is (fstat) decides;
 * the bytes are read from that same descriptor. Node has no openat(2): opening
 * `/proc/self/fd/<dir>/<name>` is the same thing, since the kernel resolves the fd link
 * to the directory the descriptor holds, wherever it has been moved since.
 *
 * Refused, with a note saying why (never an error: the rest is still published):
 * symbolic links, anything not a regular file or directory (devices, FIFOs, sockets),
 * and files with more than one hard link. A hard link's other names cannot be listed
 * without scanning the whole workspace, and one of them could be a host file linked in
 * by someone else: refusing every nlink > 1 is simple and cannot be fooled (copy instead
 * of linking in the build).
 *
 * Written files get mode 0755 when the owner could execute them, else 0644: no setuid,
 * setgid or sticky bit, no group or world write, whatever the build set.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK, O_NOCTTY } = fs.constants;
const OPEN_DIR = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
// O_NONBLOCK: a FIFO swapped in after the type check must not hang the collector.
const OPEN_FILE = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
const CHUNK = 1 << 20;
/** Each level holds a descriptor open: a build's 100,000 nested directories must not exhaust them. */
export const MAX_DEPTH = 64;

/** A path that was not published, and why (for the build log). */
export interface Refusal {
  path: string;
  reason: string;
}

export interface Collected {
  /** Files written, relative to the destination, with the SHA-256 of the bytes written. */
  files: Map<string, string>;
  refused: Refusal[];
}

/** The mode a published file gets. */
export function publishedMode(sourceMode: number): number {
  return sourceMode & 0o100 ? 0o755 : 0o644;
}

function at(dir: FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

/** The components of a relative path ('' and '.' have none); `..` is never accepted. */
function components(relative: string): string[] {
  const parts = relative.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..') || path.posix.isAbsolute(relative)) throw new Error(`not a path inside the workspace: ${JSON.stringify(relative)}`);
  return parts;
}

function why(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return 'a symbolic link: not published';
  if (code === 'ENOTDIR') return 'a path through something that is not a directory: not published';
  if (code === 'ENOENT') return 'no longer there';
  throw err;
}

/** Why `name` in `parent` could not be opened as a directory (O_DIRECTORY says ENOTDIR for a link too). */
async function whyNotDir(parent: FileHandle, name: string, err: unknown): Promise<string> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOTDIR' || code === 'ELOOP') {
    const stat = await fsp.lstat(at(parent, name)).catch(() => null);
    if (stat?.isSymbolicLink()) return 'a symbolic link: not published';
    if (stat) return 'not a directory';
  }
  return why(err);
}

/**
 * A directory of the build's output, opened without following links, from which files
 * are copied by descriptor. Close it when done.
 */
export class OutputReader {
  private constructor(
    private readonly root: FileHandle,
    private readonly rootPath: string,
  ) {}

  /** Opens `root` itself (a path the host owns, such as the build's workspace directory). */
  static async open(root: string): Promise<OutputReader> {
    return new OutputReader(await fsp.open(root, OPEN_DIR), root);
  }

  async close(): Promise<void> {
    await this.root.close();
  }

  /**
   * Opens the directory `relative` (to the root; '' is the root), one component at a time,
   * never through a link; a refusal when some component is a link or not a directory.
   */
  async openDir(relative: string): Promise<{ dir: FileHandle } | { refused: string }> {
    let dir = this.root;
    try {
      for (const part of components(relative)) {
        const parent = dir;
        const next = await fsp.open(at(parent, part), OPEN_DIR).catch(async (err: unknown) => {
          throw Object.assign(new Error(await whyNotDir(parent, part, err)), { refusal: true });
        });
        if (dir !== this.root) await dir.close();
        dir = next;
      }
      return { dir: dir === this.root ? await fsp.open(at(this.root, '.'), OPEN_DIR) : dir };
    } catch (err) {
      if (dir !== this.root) await dir.close();
      if ((err as { refusal?: boolean }).refusal) return { refused: (err as Error).message };
      throw err;
    }
  }

  /**
   * Copies the directory `relative` (its regular files, in their subdirectories) into
   * `destination`. Refused entries are noted, not copied; empty directories are not kept.
   * Returns a refusal when `relative` itself is not a directory reached without links.
   */
  async copyTree(relative: string, destination: string, into: Collected): Promise<string | null> {
    const opened = await this.openDir(relative);
    if ('refused' in opened) return opened.refused;
    try {
      await fsp.mkdir(destination, { recursive: true, mode: 0o755 });
      await walk(
        opened.dir,
        '',
        async (dir, entry, inside) => {
          const shown = path.posix.join(relative, inside);
          if (entry.isFile()) await copyEntry(dir, entry.name, inside, destination, into, shown);
          else into.refused.push({ path: shown, reason: entry.isSymbolicLink() ? 'a symbolic link: not published' : 'not a regular file: not published' });
        },
        into,
        relative,
      );
    } finally {
      await opened.dir.close();
    }
    return null;
  }

  /**
   * Copies every regular file below the directories `bases` (relative to the root; ''
   * is the root) whose relative path `matches`, to the same path under `destination`.
   * A link or special file that matches is refused with a note; a directory that is a
   * link is never entered; a base that is missing or a link matches nothing.
   */
  async copyMatching(bases: string[], matches: (relative: string) => boolean, destination: string, into: Collected): Promise<void> {
    for (const base of outermost(bases)) {
      const opened = await this.openDir(base);
      if ('refused' in opened) continue;
      try {
        await walk(
          opened.dir,
          base,
          async (dir, entry, relative) => {
            if (!matches(relative)) return;
            if (entry.isFile()) await copyEntry(dir, entry.name, relative, destination, into);
            else into.refused.push({ path: relative, reason: entry.isSymbolicLink() ? 'a symbolic link: not published' : 'not a regular file: not published' });
            // Globs do not match below hidden directories (.git): not walked either.
          },
          into,
          '',
          0,
          (name) => !name.startsWith('.'),
        );
      } finally {
        await opened.dir.close();
      }
    }
  }

  toString(): string {
    return this.rootPath;
  }
}

/** Drops the bases that lie inside another one (each directory is walked once). */
function outermost(bases: string[]): string[] {
  const normal = [...new Set(bases.map((b) => components(b).join('/')))].sort();
  return normal.filter((b) => !normal.some((other) => other !== b && (other === '' || b.startsWith(`${other}/`))));
}

/**
 * Calls `visit` for every entry below `dir` that is not a directory, entering
 * subdirectories by descriptor and never through a link.
 */
async function walk(
  dir: FileHandle,
  prefix: string,
  visit: (dir: FileHandle, entry: fs.Dirent, relative: string) => Promise<void>,
  into: Collected,
  shownPrefix = '',
  depth = 0,
  enter: (name: string) => boolean = () => true,
): Promise<void> {
  if (depth >= MAX_DEPTH) {
    into.refused.push({ path: path.posix.join(shownPrefix, prefix), reason: `more than ${MAX_DEPTH} directories deep: not published` });
    return;
  }
  const entries = await fsp.readdir(`/proc/self/fd/${dir.fd}`, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (!entry.isDirectory()) {
      await visit(dir, entry, relative);
      continue;
    }
    if (!enter(entry.name)) continue;
    let sub: FileHandle;
    try {
      sub = await fsp.open(at(dir, entry.name), OPEN_DIR);
    } catch (err) {
      into.refused.push({ path: path.posix.join(shownPrefix, relative), reason: await whyNotDir(dir, entry.name, err) });
      continue;
    }
    try {
      await walk(sub, relative, visit, into, shownPrefix, depth + 1, enter);
    } finally {
      await sub.close();
    }
  }
}

/** Copies `name` in `dir` to `destination/relative`, deciding on the opened descriptor alone. */
async function copyEntry(dir: FileHandle, name: string, relative: string, destination: string, into: Collected, shown = relative): Promise<void> {
  // A quick look first so that a device node is never opened; the fstat below decides.
  const first = await fsp.lstat(at(dir, name)).catch(() => null);
  if (!first) return void into.refused.push({ path: shown, reason: 'no longer there' });
  if (first.isSymbolicLink()) return void into.refused.push({ path: shown, reason: 'a symbolic link: not published' });
  if (!first.isFile()) return void into.refused.push({ path: shown, reason: 'not a regular file: not published' });
  let source: FileHandle;
  try {
    source = await fsp.open(at(dir, name), OPEN_FILE);
  } catch (err) {
    return void into.refused.push({ path: shown, reason: why(err) });
  }
  try {
    const stat = await source.stat();
    if (!stat.isFile()) return void into.refused.push({ path: shown, reason: 'not a regular file: not published' });
    if (stat.nlink > 1) {
      return void into.refused.push({ path: shown, reason: `has ${stat.nlink} hard links (one may be outside the workspace): not published` });
    }
    const target = path.join(destination, relative);
    await fsp.mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
    // An earlier job's file of the same name is replaced by this job's.
    await fsp.rm(target, { force: true });
    into.files.set(relative, await copyFromDescriptor(source, target, publishedMode(stat.mode)));
  } finally {
    await source.close();
  }
}

/** Copies the bytes of `source` to a new file `target`; returns their SHA-256. */
async function copyFromDescriptor(source: FileHandle, target: string, mode: number): Promise<string> {
  const out = await fsp.open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(CHUNK);
  try {
    for (;;) {
      const { bytesRead } = await source.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      let written = 0;
      while (written < bytesRead) written += (await out.write(chunk, written, bytesRead - written)).bytesWritten;
    }
    // The umask may have taken bits away; never more than 0755.
    await out.chmod(mode);
  } finally {
    await out.close();
  }
  return hash.digest('hex');
}
