/**
 * The only module that runs git. Sources: a bare mirror per repository and clone URL,
 * fetched incrementally before each build, and a checkout of the commit per build; and the
 * settings `ci hook install` keeps in a hooked repository's config (readConfigValue,
 * writeConfigValue).
 *
 * Every git call goes through git() below, which fixes what a hostile URL or ref could
 * otherwise choose: only the https, ssh and git transports (file only for a local source
 * the policy allowed, and for our own mirrors), no redirects, no prompts, no system or
 * global config (credential helpers, hooks, url rewrites), no hooks in mirrors and
 * checkouts. URLs and refs always come after `--` or `--end-of-options`.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { CheckedSource, checkCloneUrl, parseCloneUrl, SourcePolicy } from './clone-url';
import { CommitInfo, MAX_PERSON, MAX_SUBJECT, oneLine } from './commit-info';
import { branchProblem, InvalidNameError, isCommitId, localRepository, mirrorPath, parseFullName, refProblem } from './names';

const execFileAsync = promisify(execFile);

export class GitError extends Error {
  readonly code = 'GIT_FAILED';
  /** git's exit status, when it ran and exited (`git config --get` says 1 for a missing key). */
  constructor(
    message: string,
    readonly exitStatus: number | null = null,
  ) {
    super(message);
    this.name = 'GitError';
  }
}

/** Configuration given to every git call, whatever the repository's or the user's says. */
const SAFE_CONFIG = [
  'protocol.allow=never',
  'protocol.https.allow=always',
  'protocol.ssh.allow=always',
  'protocol.git.allow=always',
  // A redirect could lead anywhere, a private address included: the URL checked is the one fetched.
  'http.followRedirects=false',
  // An empty value clears the list of credential helpers.
  'credential.helper=',
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
];

/** The environment of git: the caller's, minus every GIT_* variable (GIT_DIR, GIT_SSH_COMMAND, GIT_CONFIG_*...). */
function gitEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('GIT_')) env[key] = value;
  return {
    ...env,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    // ssh must not ask either (a host key or a passphrase): fail instead.
    GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
  };
}

interface GitCall {
  cwd?: string;
  /** Allow the file transport: our own mirrors, or a local source the policy allowed. */
  allowFile?: boolean;
  /** More `-c` settings (address pinning). */
  config?: string[];
}

/** The argv of a git call (exported for the tests that check what reaches git). */
export function gitArgv(args: string[], call: GitCall = {}): string[] {
  const config = [...SAFE_CONFIG, ...(call.allowFile ? ['protocol.file.allow=always'] : []), ...(call.config ?? [])];
  return [...config.flatMap((c) => ['-c', c]), ...args];
}

async function git(args: string[], call: GitCall = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync('git', gitArgv(args, call), { cwd: call.cwd, maxBuffer: 16 * 1024 * 1024, env: gitEnvironment() });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string; code?: unknown };
    throw new GitError(
      `git ${args.find((a) => !a.startsWith('-') && !a.startsWith('/')) ?? args[0]} failed: ${(e.stderr || e.message).trim().split('\n').slice(-3).join(' ')}`,
      typeof e.code === 'number' ? e.code : null,
    );
  }
}

export interface Source {
  /** owner/name: "local/<dir>-<hash>" for a local path, otherwise from the URL or the push. */
  repo: string;
  cloneUrl: string;
}

/** Whether git would read `source` as a URL or user@host:path rather than a local path. */
function looksLikeUrl(source: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(source) || /^[^/]*:/.test(source);
}

/**
 * The repository a source names: a local path is `local/<dir>-<hash of its real path>`; a
 * URL's owner and name are the last two components of its path. Throws InvalidNameError
 * when those are not valid names.
 */
export function identify(source: string): Source {
  if (!looksLikeUrl(source) || source.startsWith('file://')) {
    const parsed = parseCloneUrl(looksLikeUrl(source) ? source : path.resolve(source));
    let real: string;
    try {
      real = fs.realpathSync(parsed.path!);
    } catch {
      throw new GitError(`${parsed.path} does not exist`);
    }
    return { repo: localRepository(real), cloneUrl: real };
  }
  const parsed = parseCloneUrl(source);
  const parts = parsed.url
    .replace(/\.git\/?$/, '')
    .replace(/\/$/, '')
    .split(/[/:]/)
    .filter(Boolean);
  const [owner, name] = parts.slice(-2);
  const repo = `${owner}/${name}`;
  parseFullName(repo);
  return { repo, cloneUrl: parsed.url };
}

/** Takes a named lock shared by every process using the data directory (BuildStore.withLock). */
export type CrossProcessLock = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

/**
 * Applies the source policy to a source's clone URL (RefusedSourceError), then creates or
 * updates its bare mirror and returns its path. Fetches into one mirror never overlap, in
 * this process or another sharing the data directory: git's ref locks would fail one.
 */
export async function fetchMirror(mirrors: string, source: Source, policy: SourcePolicy, lock: CrossProcessLock): Promise<string> {
  parseFullName(source.repo);
  const checked = await checkCloneUrl(source.cloneUrl, policy);
  const dir = mirrorPath(mirrors, source.repo, checked.url);
  const local = checked.transport === 'file';
  // A local repository the policy allowed may belong to another user (a git account's
  // /srv/git): git 2.39's upload-pack refuses those ("dubious ownership"; later gits no
  // longer check there, upload-pack being safe in untrusted repositories), and neither the
  // global config nor our -c settings reach it. So it gets its own -c.
  const uploadPack = local ? ['git', '-c', `safe.directory=${checked.url}`, 'upload-pack'].map(shellQuote).join(' ') : null;
  const call: GitCall = { allowFile: local, config: [...pinAddresses(checked), ...(uploadPack ? [`remote.origin.uploadpack=${uploadPack}`] : [])] };
  await lock(`mirror:${dir}`, async () => {
    if (fs.existsSync(path.join(dir, 'HEAD'))) {
      // The mirror's remote is the URL it was cloned from, the one just checked. fetch rather
      // than remote update (which runs fetch: one git process more); its housekeeping waits
      // for the build to have run (maintainMirror).
      await git(['--git-dir', dir, 'fetch', '--prune', '--no-write-fetch-head', 'origin'], {
        ...call,
        config: [...(call.config ?? []), 'maintenance.auto=false'],
      });
      return;
    }
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    // Clones a killed process left: nobody else clones this mirror while we hold its lock.
    for (const stale of fs.readdirSync(path.dirname(dir)).filter((f) => f.startsWith(`${path.basename(dir)}.partial-`))) {
      fs.rmSync(path.join(path.dirname(dir), stale), { recursive: true, force: true });
    }
    const partial = `${dir}.partial-${process.pid}`;
    // --no-local: a local source is read through git's transport, never hard-linked or
    // copied (its objects directory could hold symlinks to any file).
    await git(['clone', '--quiet', '--mirror', '--no-local', ...(uploadPack ? [`--upload-pack=${uploadPack}`] : []), '--', checked.url, partial], call);
    fs.renameSync(partial, dir);
  });
  return dir;
}

/**
 * The housekeeping git runs after a fetch (`maintenance run --auto`: packs loose objects,
 * once there are enough), which fetchMirror leaves out so that it is not between a push and
 * its build: the builder calls this once the build has run.
 */
export async function maintainMirror(dir: string, lock: CrossProcessLock): Promise<void> {
  await lock(`mirror:${dir}`, () => git(['--git-dir', dir, 'maintenance', 'run', '--auto', '--quiet']));
}

/** One word for sh -c. */
function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * curl is told the addresses already checked, so a second DNS answer (rebinding) cannot
 * send it elsewhere. Only for https: ssh and git:// resolve the name again themselves.
 */
function pinAddresses(checked: CheckedSource): string[] {
  if (checked.transport !== 'https' || checked.addresses.length === 0) return [];
  const addresses = checked.addresses.map((a) => (a.includes(':') ? `[${a}]` : a)).join(',');
  return [`http.curloptResolve=${checked.host}:${checked.port}:${addresses}`];
}

export interface Revision {
  commit: string;
  /** The full ref built, e.g. refs/heads/main, or null for a bare commit id. */
  ref: string | null;
  /** Branch name when the ref is a branch. */
  branch: string | null;
  /** The commit's subject and author once read (readCommitInfo); null when git could not say. */
  info?: CommitInfo | null;
}

const ABBREVIATED_COMMIT = /^[0-9a-f]{7,64}$/i;

/**
 * Checks a revision as `ci build --ref` or a push names it (a commit id, a full ref, or a
 * branch or tag name) before anything is fetched for it. Throws InvalidNameError.
 */
export function checkRevisionName(ref: string): void {
  if (ABBREVIATED_COMMIT.test(ref)) return;
  const problem = ref.startsWith('refs/') ? refProblem(ref) : branchProblem(ref);
  if (problem) throw new InvalidNameError(problem);
}

/** Resolves a branch, tag, full ref or commit id (default: the repository's HEAD). */
export async function resolveRevision(mirror: string, ref?: string): Promise<Revision> {
  let full: string | null;
  if (ref !== undefined) checkRevisionName(ref);
  if (ref === undefined) full = await git(['--git-dir', mirror, 'symbolic-ref', '--quiet', 'HEAD']);
  else if (ABBREVIATED_COMMIT.test(ref)) full = null;
  else if (ref.startsWith('refs/')) full = ref;
  else {
    const heads = await git(['--git-dir', mirror, 'for-each-ref', '--format=%(refname)', '--', `refs/heads/${ref}`, `refs/tags/${ref}`]);
    full = heads.split('\n').find(Boolean) ?? null;
    if (!full) throw new GitError(`no branch or tag named "${ref}"`);
  }
  const commit = await git(['--git-dir', mirror, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${full ?? ref}^{commit}`]).catch(() => {
    throw new GitError(`no commit ${JSON.stringify(full ?? ref)} in the repository`);
  });
  const branch = full?.startsWith('refs/heads/') ? full.slice('refs/heads/'.length) : null;
  return { commit, ref: full, branch };
}

function assertCommitId(commit: string): void {
  if (!isCommitId(commit)) throw new InvalidNameError(`${JSON.stringify(commit)} is not a full commit id`);
}

/**
 * Checks `commit` out into `workspace` (a new directory), with its own .git. No hard
 * links: the workspace is writable by the build, and a hard-linked object would let it
 * rewrite the mirror that later builds check out from.
 */
export async function checkout(mirror: string, commit: string, workspace: string): Promise<void> {
  assertCommitId(commit);
  await git(['clone', '--quiet', '--no-checkout', '--no-hardlinks', '--', mirror, workspace], { allowFile: true });
  // checkout takes no --end-of-options; the commit id is hex, and "--" ends it.
  await git(['checkout', '--quiet', '--detach', commit, '--'], { cwd: workspace });
}

/** `git describe`, for the version file next to the binaries. */
export async function describeCommit(mirror: string, commit: string): Promise<string> {
  assertCommitId(commit);
  return git(['--git-dir', mirror, 'describe', '--tags', '--always', '--end-of-options', commit]);
}

export async function readFileAt(mirror: string, commit: string, file: string): Promise<string | null> {
  assertCommitId(commit);
  try {
    return await git(['--git-dir', mirror, 'cat-file', 'blob', '--end-of-options', `${commit}:${file}`]);
  } catch {
    return null;
  }
}

/**
 * Whether `ancestor` is an ancestor of `commit` (or the same), for branch pointers that
 * must never move back. Both are full commit ids.
 */
export async function isAncestor(mirror: string, ancestor: string, commit: string): Promise<boolean> {
  assertCommitId(ancestor);
  assertCommitId(commit);
  try {
    await git(['--git-dir', mirror, 'merge-base', '--is-ancestor', '--end-of-options', ancestor, commit]);
    return true;
  } catch {
    return false;
  }
}

/**
 * One value of a git config file (`git config --file FILE --get KEY`), or null when the
 * file or the key is missing. For the settings `ci hook install` keeps in a hooked
 * repository's own config.
 */
export async function readConfigValue(configFile: string, key: string): Promise<string | null> {
  try {
    return await git(['config', '--file', configFile, '--get', '--end-of-options', key]);
  } catch (err) {
    if (err instanceof GitError && err.exitStatus === 1) return null;
    throw err;
  }
}

/** Sets `key` to `value` in a git config file (`git config --file FILE KEY VALUE`). */
export async function writeConfigValue(configFile: string, key: string, value: string): Promise<void> {
  await git(['config', '--file', configFile, '--end-of-options', key, value]);
}

/** The most of `git log`'s answer read: a subject and a name, bounded again by commit-info.ts. */
const MAX_COMMIT_INFO_BYTES = 64 * 1024;

/**
 * The subject and author name of `commit` (a full id), as one bounded, printable line each
 * (commit-info.ts): both are written by whoever made the commit.
 */
export async function readCommitInfo(mirror: string, commit: string): Promise<CommitInfo> {
  assertCommitId(commit);
  // %x00 between the fields: neither a name nor a subject can hold NUL. No mailmap, no
  // signature check, no decoration: nothing but the commit object is read.
  const out = await git([
    '--git-dir',
    mirror,
    'log',
    '-1',
    '--no-show-signature',
    '--no-mailmap',
    '--no-decorate',
    '--format=%an%x00%s',
    '--end-of-options',
    commit,
    '--',
  ]);
  const text = out.slice(0, MAX_COMMIT_INFO_BYTES);
  const cut = text.indexOf('\0');
  const author = cut < 0 ? text : text.slice(0, cut);
  const subject = cut < 0 ? '' : text.slice(cut + 1);
  return { subject: oneLine(subject, MAX_SUBJECT), author: oneLine(author, MAX_PERSON) };
}

/**
 * The parents of `commit` (a full id), first parent first: a pull request's merge commit
 * (refs/pull/N/merge) is built only when its second parent is the head the event names
 * (GitHub recomputes that ref after each push, and an older one may still be there).
 */
export async function commitParents(mirror: string, commit: string): Promise<string[]> {
  assertCommitId(commit);
  const line = await git(['--git-dir', mirror, 'rev-list', '--parents', '-n', '1', '--end-of-options', commit, '--']);
  return line.split(' ').slice(1).filter(isCommitId);
}

/** The commit a ref names in the mirror, or null when there is no such ref. */
export async function refCommit(mirror: string, ref: string): Promise<string | null> {
  const problem = refProblem(ref);
  if (problem) throw new InvalidNameError(problem);
  try {
    return await git(['--git-dir', mirror, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
  } catch {
    return null;
  }
}
