/**
 * Sources: a bare mirror per repository, fetched incrementally before each build, and a
 * checkout of the commit per build. Local paths and git URLs both work.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export class GitError extends Error {
  readonly code = 'GIT_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'GitError';
  }
}

async function git(args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync('git', args, { cwd, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new GitError(`git ${args[0]} failed: ${(e.stderr || e.message).trim().split('\n').slice(-3).join(' ')}`);
  }
}

export interface Source {
  /** owner/name: "local/<dir>" for a local path, otherwise taken from the URL. */
  repo: string;
  cloneUrl: string;
}

export function identify(source: string): Source {
  const looksLikeUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(source) || /^[^/]+@[^/:]+:/.test(source);
  if (!looksLikeUrl) {
    const dir = path.resolve(source);
    return { repo: `local/${path.basename(dir).replace(/\.git$/, '')}`, cloneUrl: dir };
  }
  const parts = source.replace(/\.git\/?$/, '').split(/[/:]/).filter(Boolean);
  const [owner, name] = parts.slice(-2);
  return { repo: `${owner}/${name}`, cloneUrl: source };
}

// Fetches into one mirror must not overlap (git's ref locks would fail one of them).
const mirrorLocks = new Map<string, Promise<unknown>>();

/** Creates or updates the bare mirror of `source`; returns its path. */
export async function fetchMirror(mirrors: string, source: Source): Promise<string> {
  const id = createHash('sha256').update(source.cloneUrl).digest('hex').slice(0, 12);
  const dir = path.join(mirrors, `${source.repo.replace(/[^A-Za-z0-9_.-]/g, '_')}-${id}.git`);
  const previous = mirrorLocks.get(dir) ?? Promise.resolve();
  const update = previous.catch(() => undefined).then(async () => {
    if (fs.existsSync(path.join(dir, 'HEAD'))) {
      await git(['--git-dir', dir, 'remote', 'update', '--prune']);
    } else {
      const partial = `${dir}.partial-${process.pid}`;
      fs.rmSync(partial, { recursive: true, force: true });
      await git(['clone', '--quiet', '--mirror', source.cloneUrl, partial]);
      try {
        fs.renameSync(partial, dir);
      } catch (err) {
        // Another process made the mirror meanwhile: use theirs.
        fs.rmSync(partial, { recursive: true, force: true });
        if (!fs.existsSync(path.join(dir, 'HEAD'))) throw err;
      }
    }
  });
  mirrorLocks.set(dir, update);
  await update;
  return dir;
}

export interface Revision {
  commit: string;
  /** The full ref built, e.g. refs/heads/main, or null for a bare commit id. */
  ref: string | null;
  /** Branch name when the ref is a branch. */
  branch: string | null;
}

/** Resolves a branch, tag, full ref or commit id (default: the repository's HEAD). */
export async function resolveRevision(mirror: string, ref?: string): Promise<Revision> {
  let full: string | null;
  if (ref === undefined) full = await git(['--git-dir', mirror, 'symbolic-ref', 'HEAD']);
  else if (/^[0-9a-f]{7,40}$/i.test(ref)) full = null;
  else if (ref.startsWith('refs/')) full = ref;
  else {
    const heads = await git(['--git-dir', mirror, 'for-each-ref', '--format=%(refname)', `refs/heads/${ref}`, `refs/tags/${ref}`]);
    full = heads.split('\n').find(Boolean) ?? null;
    if (!full) throw new GitError(`no branch or tag named "${ref}"`);
  }
  const commit = await git(['--git-dir', mirror, 'rev-parse', '--verify', `${full ?? ref}^{commit}`]);
  const branch = full?.startsWith('refs/heads/') ? full.slice('refs/heads/'.length) : null;
  return { commit, ref: full, branch };
}

/**
 * Checks `commit` out into `workspace` (a new directory), with its own .git. No hard
 * links: the workspace is writable by the build, and a hard-linked object would let it
 * rewrite the mirror that later builds check out from.
 */
export async function checkout(mirror: string, commit: string, workspace: string): Promise<void> {
  await git(['clone', '--quiet', '--no-checkout', '--no-hardlinks', mirror, workspace]);
  await git(['checkout', '--quiet', '--detach', commit], workspace);
}

/** `git describe`, for the version file next to the binaries. */
export async function describeCommit(mirror: string, commit: string): Promise<string> {
  return git(['--git-dir', mirror, 'describe', '--tags', '--always', commit]);
}

export async function readFileAt(mirror: string, commit: string, file: string): Promise<string | null> {
  try {
    return await git(['--git-dir', mirror, 'show', `${commit}:${file}`]);
  } catch {
    return null;
  }
}
