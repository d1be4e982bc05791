/**
 * Publishing a successful build at stable places, as Docker's "master binaries" and
 * "master docs" were:
 *   binaries/<owner>/<repo>/<sha>/   the artifacts of every job of the commit, SHA256SUMS,
 *                                    commit, version (a link to .versions/<sha>-<build>)
 *   binaries/<owner>/<repo>/<branch> → <sha> of the newest successful build of the branch
 *   docs/<owner>/<repo>/<branch>     → the site of that build
 * Pointers are symlinks replaced with rename(2), so a reader sees the old build or the new
 * one, never a half-written one. Callers serialise publishing per repository (the builder
 * holds a lock), so two builds finishing at once cannot interleave.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { glob } from 'tinyglobby';

const execFileAsync = promisify(execFile);

export interface Published {
  /** Artifact paths, relative to the checkout. */
  artifacts: string[];
  binariesDir: string | null;
  docsDir: string | null;
}

/** A branch name as one path component (feature/x → feature-x). */
export function branchSlot(branch: string): string {
  return branch.replace(/[^A-Za-z0-9_.-]/g, '-');
}

const METADATA = ['SHA256SUMS', 'commit', 'version'];

/** Every file below `dir`, as paths relative to it. */
function listFiles(dir: string, prefix = ''): string[] {
  return fs.readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(prefix, entry.name);
    return entry.isDirectory() ? listFiles(dir, relative) : [relative];
  });
}

/** Whether `file` (relative to `root`) is a regular file (or directory) whose real path stays inside `root`. */
function isRegularFileInside(root: string, file: string, directory = false): boolean {
  const full = path.join(root, file);
  const stat = fs.lstatSync(full, { throwIfNoEntry: false });
  if (!stat || (directory ? !stat.isDirectory() : !stat.isFile())) return false;
  const real = fs.realpathSync(full);
  const realRoot = fs.realpathSync(root);
  return real === realRoot || real.startsWith(`${realRoot}${path.sep}`);
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Points `link` at `target` atomically (a new symlink renamed over the old one). */
function swapSymlink(link: string, target: string): void {
  const temporary = `${link}.new-${process.pid}-${Date.now()}`;
  fs.symlinkSync(target, temporary);
  fs.renameSync(temporary, link);
}

/**
 * Whether the branch pointer `link` may move to `commit`: when it points nowhere yet, or
 * at an ancestor of `commit`. An older commit finishing late never moves it back.
 */
async function mayAdvance(link: string, commit: string, mirror: string, commitOf: (target: string) => string | null): Promise<boolean> {
  let current: string | null;
  try {
    current = commitOf(fs.readlinkSync(link));
  } catch {
    return true;
  }
  if (!current || current === commit) return true;
  try {
    await execFileAsync('git', ['--git-dir', mirror, 'merge-base', '--is-ancestor', current, commit]);
    return true;
  } catch {
    return false;
  }
}

export interface PublishSpec {
  binariesRoot: string;
  docsRoot: string;
  repo: string;
  commit: string;
  version: string;
  branch: string | null;
  workspace: string;
  mirror: string;
  artifacts?: string[];
  docs?: string;
  buildId: number;
}

export async function publish(spec: PublishSpec): Promise<Published> {
  const result: Published = { artifacts: [], binariesDir: null, docsDir: null };
  if (spec.artifacts?.length) {
    // Only regular files inside the checkout: a build could link to any host file, and
    // the publisher runs as root on the host.
    const matches = await glob(spec.artifacts, { cwd: spec.workspace, onlyFiles: true, dot: false, followSymbolicLinks: false });
    const files = matches.filter((file) => isRegularFileInside(spec.workspace, file)).sort();
    const repoDir = path.join(spec.binariesRoot, spec.repo);
    const versions = path.join(repoDir, '.versions');
    const version = path.join(versions, `${spec.commit}-${spec.buildId}`);
    const link = path.join(repoDir, spec.commit);
    fs.mkdirSync(versions, { recursive: true });
    // <sha> is a symlink to a version directory, replaced in one rename. Other jobs of the
    // same commit may have published already: their files are kept, ours added.
    const current = fs.existsSync(link) ? fs.realpathSync(link) : null;
    if (current) fs.cpSync(current, version, { recursive: true });
    else fs.mkdirSync(version);
    for (const file of files) {
      fs.mkdirSync(path.dirname(path.join(version, file)), { recursive: true });
      fs.copyFileSync(path.join(spec.workspace, file), path.join(version, file));
      fs.chmodSync(path.join(version, file), fs.statSync(path.join(spec.workspace, file)).mode & 0o777);
    }
    const all = listFiles(version).filter((f) => !METADATA.includes(f)).sort();
    const sums = await Promise.all(all.map(async (file) => `${await sha256(path.join(version, file))}  ${file}\n`));
    fs.writeFileSync(path.join(version, 'SHA256SUMS'), sums.join(''));
    fs.writeFileSync(path.join(version, 'commit'), `${spec.commit}\n`);
    fs.writeFileSync(path.join(version, 'version'), `${spec.version}\n`);
    swapSymlink(link, path.join('.versions', path.basename(version)));
    if (current && current !== version) fs.rmSync(current, { recursive: true, force: true });
    result.artifacts = files;
    result.binariesDir = link;
    if (spec.branch) {
      const branchLink = path.join(repoDir, branchSlot(spec.branch));
      if (await mayAdvance(branchLink, spec.commit, spec.mirror, (target) => path.basename(target))) swapSymlink(branchLink, spec.commit);
    }
  }
  if (spec.docs) {
    const source = path.join(spec.workspace, spec.docs);
    const stat = fs.lstatSync(source, { throwIfNoEntry: false });
    if (!stat?.isDirectory() || !isRegularFileInside(spec.workspace, spec.docs, true)) {
      throw new Error(`the docs directory "${spec.docs}" was not produced (or is a link)`);
    }
    const repoDir = path.join(spec.docsRoot, spec.repo);
    const versions = path.join(repoDir, '.versions');
    const version = path.join(versions, `${spec.commit}-${spec.buildId}`);
    fs.mkdirSync(versions, { recursive: true });
    fs.cpSync(source, version, { recursive: true, filter: (from) => !fs.lstatSync(from).isSymbolicLink() });
    result.docsDir = version;
    if (spec.branch) {
      const link = path.join(repoDir, branchSlot(spec.branch));
      const commitOf = (target: string) => path.basename(target).split('-')[0] ?? null;
      if (await mayAdvance(link, spec.commit, spec.mirror, commitOf)) {
        const previous = fs.existsSync(link) ? fs.readlinkSync(link) : null;
        swapSymlink(link, path.join('.versions', path.basename(version)));
        // The old site goes once nothing points at it; open files stay readable until closed.
        if (previous && path.resolve(repoDir, previous) !== version) fs.rmSync(path.resolve(repoDir, previous), { recursive: true, force: true });
      }
    }
  }
  return result;
}
