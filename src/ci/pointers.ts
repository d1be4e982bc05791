/**
 * Branch pointers: `<dir>/<encoded branch>` is a symlink to what the branch's newest
 * build published, swapped with rename(2) so a reader sees the old target or the new one.
 *
 * Beside each pointer, `.<encoded branch>.pointer` records which commit it points at and
 * when the build that set it was requested. A pointer moves to a commit when:
 *   - nothing points yet, or it already points at that commit (a rebuild);
 *   - otherwise never for a build requested before the one that set it: an older build
 *     finishing late does not move it back, whether or not either push was forced;
 *   - a forced push (`forced`) moves it to its head even when that head does not descend
 *     from the current commit (history was rewritten);
 *   - any other build only moves it forward, to a descendant of the current commit.
 * Callers serialise moves per repository (the builder holds a lock).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { isAncestor as gitIsAncestor } from './git';
import { encodePointerName } from './pointer-name';

export interface PointerRecord {
  commit: string;
  /** When the build that set the pointer was requested (ms since the epoch). */
  requestedAt: number;
  buildId: number;
}

export interface PointerMove {
  /** The directory holding the pointers (binaries/<owner>/<repo> or docs/<owner>/<repo>). */
  dir: string;
  branch: string;
  /** The symlink's target, relative to `dir`. */
  target: string;
  commit: string;
  requestedAt: number;
  buildId: number;
  forced: boolean;
  /** The repository's mirror, for the ancestry check. */
  mirror: string;
  /** The commit a pointer without a record points at (pointers made before records existed). */
  commitOfTarget: (target: string) => string | null;
  /** Whether `commit` descends from `ancestor`; git's answer in `mirror` when not given. */
  isAncestor?: (ancestor: string, commit: string) => Promise<boolean>;
}

export type PointerOutcome = { moved: true; previous: string | null } | { moved: false; why: string };

function recordPath(dir: string, name: string): string {
  return path.join(dir, `.${name}.pointer`);
}

/** Writes `file` whole or not at all. */
function replaceFile(file: string, text: string): void {
  const temporary = path.join(path.dirname(file), `.tmp-${randomBytes(8).toString('hex')}`);
  fs.writeFileSync(temporary, text, { mode: 0o644, flag: 'wx' });
  fs.renameSync(temporary, file);
}

/** Points `link` at `target` atomically (a new symlink renamed over the old one). */
export function swapSymlink(link: string, target: string): void {
  const temporary = path.join(path.dirname(link), `.tmp-${randomBytes(8).toString('hex')}`);
  fs.symlinkSync(target, temporary);
  fs.renameSync(temporary, link);
}

export function readPointerRecord(dir: string, branch: string): PointerRecord | null {
  try {
    const value = JSON.parse(fs.readFileSync(recordPath(dir, encodePointerName(branch)), 'utf8')) as Partial<PointerRecord>;
    if (typeof value.commit !== 'string' || typeof value.requestedAt !== 'number') return null;
    return { commit: value.commit, requestedAt: value.requestedAt, buildId: Number(value.buildId ?? 0) };
  } catch {
    return null;
  }
}

/** Through git.ts's hardened git; a pointer record that names no commit id is no ancestor. */
async function isAncestor(mirror: string, ancestor: string, commit: string): Promise<boolean> {
  return gitIsAncestor(mirror, ancestor, commit).catch(() => false);
}

/** Moves the branch pointer when the rules above allow it. */
export async function movePointer(move: PointerMove): Promise<PointerOutcome> {
  const name = encodePointerName(move.branch);
  const link = path.join(move.dir, name);
  let previous: string | null = null;
  try {
    previous = fs.readlinkSync(link);
  } catch {
    // No pointer yet.
  }
  if (previous !== null) {
    const record = readPointerRecord(move.dir, move.branch);
    const current = record?.commit ?? move.commitOfTarget(previous);
    if (record && move.requestedAt < record.requestedAt) {
      return { moved: false, why: `build ${record.buildId}, requested later, already set it to ${record.commit.slice(0, 12)}` };
    }
    const descends = move.isAncestor ?? ((ancestor: string, commit: string) => isAncestor(move.mirror, ancestor, commit));
    if (current && current !== move.commit && !move.forced && !(await descends(current, move.commit))) {
      return { moved: false, why: `${move.commit.slice(0, 12)} does not descend from ${current.slice(0, 12)} and the push was not forced` };
    }
  }
  // The record first: a crash between the two leaves a pointer that only a newer build moves.
  const record: PointerRecord = { commit: move.commit, requestedAt: move.requestedAt, buildId: move.buildId };
  replaceFile(recordPath(move.dir, name), `${JSON.stringify(record)}\n`);
  swapSymlink(link, move.target);
  return { moved: true, previous };
}
