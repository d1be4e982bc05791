/**
 * Publishing a successful build at stable places, as Docker's "master binaries" and
 * "master docs" were:
 *   binaries/<owner>/<repo>/<sha>/   the artifacts, SHA256SUMS, commit, version
 *   binaries/<owner>/<repo>/<branch> → <sha> of the newest successful build of the branch
 *   docs/<owner>/<repo>/<branch>     → the site of that build
 * Pointers are symlinks replaced with rename(2), so a reader sees the old build or the new
 * one, never a half-written one.
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
    const staging = path.join(repoDir, `.${spec.commit}.partial-${spec.buildId}`);
    fs.mkdirSync(staging, { recursive: true });
    const sums: string[] = [];
    for (const file of files) {
      fs.mkdirSync(path.dirname(path.join(staging, file)), { recursive: true });
      fs.copyFileSync(path.join(spec.workspace, file), path.join(staging, file));
      fs.chmodSync(path.join(staging, file), fs.statSync(path.join(spec.workspace, file)).mode & 0o777);
      sums.push(`${await sha256(path.join(staging, file))}  ${file}`);
    }
    fs.writeFileSync(path.join(staging, 'SHA256SUMS'), sums.map((l) => `${l}\n`).join(''));
    fs.writeFileSync(path.join(staging, 'commit'), `${spec.commit}\n`);
    fs.writeFileSync(path.join(staging, 'version'), `${spec.version}\n`);
    const finalDir = path.join(repoDir, spec.commit);
    // A forced rebuild of the same commit replaces the earlier copy.
    if (fs.existsSync(finalDir)) fs.renameSync(finalDir, `${staging}.old`);
    fs.renameSync(staging, finalDir);
    fs.rmSync(`${staging}.old`, { recursive: true, force: true });
    result.artifacts = files;
    result.binariesDir = finalDir;
    if (spec.branch) {
      const link = path.join(repoDir, branchSlot(spec.branch));
      if (await mayAdvance(link, spec.commit, spec.mirror, (target) => path.basename(target))) swapSymlink(link, spec.commit);
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
