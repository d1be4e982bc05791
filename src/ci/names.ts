/**
 * Names that come from a push (owner, repository, ref, commit ids) are checked here, before
 * anything turns them into a path or an argument, and mapped to paths in one place.
 *
 * Owner and repository names accepted are exactly those GitHub, Gitea and Forgejo allow, so
 * a valid name is already one safe path component: the mapping name -> path is the identity
 * (trivially reversible), and anything else is refused rather than rewritten (rewriting
 * would let two names share one directory).
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';

export class InvalidNameError extends Error {
  readonly code = 'INVALID_NAME';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidNameError';
  }
}

/**
 * Owners: GitHub allows alphanumerics and single hyphens, 1-39 characters, no hyphen first
 * or last. Gitea and Forgejo also allow `.` and `_` between alphanumerics and 40
 * characters; both are accepted. Never `.`/`..`, never a leading `-` or `.`.
 */
const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9]|[-._](?=[A-Za-z0-9])){0,39}$/;
/** Repositories: [A-Za-z0-9._-], 1-100 characters, not `.` or `..` (GitHub and Gitea alike). */
const REPOSITORY = /^[A-Za-z0-9._-]{1,100}$/;

/** Why `owner` is not an acceptable owner name, or null. */
export function ownerProblem(owner: string): string | null {
  if (!OWNER.test(owner)) {
    return `owner ${JSON.stringify(owner)} is not a valid name (letters, digits, and single -, . or _ between them; at most 40 characters)`;
  }
  return null;
}

/** Why `name` is not an acceptable repository name, or null. */
export function repositoryProblem(name: string): string | null {
  if (!REPOSITORY.test(name) || name === '.' || name === '..') {
    return `repository name ${JSON.stringify(name)} is not valid (letters, digits, ., - and _; at most 100 characters; not . or ..)`;
  }
  return null;
}

/** Why `fullName` (owner/name) is not acceptable, or null. */
export function fullNameProblem(fullName: string): string | null {
  const [owner, name, ...more] = fullName.split('/');
  if (owner === undefined || name === undefined || more.length > 0) return `repository ${JSON.stringify(fullName)} is not owner/name`;
  return ownerProblem(owner) ?? repositoryProblem(name);
}

export function parseFullName(fullName: string): { owner: string; name: string } {
  const problem = fullNameProblem(fullName);
  const [owner, name] = fullName.split('/');
  if (problem || owner === undefined || name === undefined) throw new InvalidNameError(problem ?? `repository ${JSON.stringify(fullName)} is not owner/name`);
  return { owner, name };
}

/** `<root>/<owner>/<name>`, for a valid owner/name only. */
export function repositoryPath(root: string, fullName: string): string {
  const { owner, name } = parseFullName(fullName);
  return path.join(root, owner, name);
}

/** The owner/name a path made by repositoryPath() stands for (its inverse). */
export function repositoryOfPath(root: string, dir: string): string {
  const relative = path.relative(root, dir).split(path.sep);
  const fullName = relative.join('/');
  parseFullName(fullName);
  return fullName;
}

/**
 * The bare mirror of one clone URL of a repository: mirrors/<owner>/<name>/<url hash>.git.
 * The same owner/name may come from different URLs (a fork, a moved server); each gets its
 * own mirror, and the URL itself stays in the mirror's config.
 */
export function mirrorPath(mirrors: string, fullName: string, cloneUrl: string): string {
  const id = createHash('sha256').update(cloneUrl).digest('hex').slice(0, 16);
  return path.join(repositoryPath(mirrors, fullName), `${id}.git`);
}

/**
 * A local repository's identity, from its real path: `local/<directory name>-<8 hex of
 * sha256(real path)>`. The directory name keeps it readable; the hash keeps /tmp/hello and
 * /srv/git/hello.git apart. The caller passes the real path (fs.realpathSync), so a
 * symlink and its target are one repository.
 */
export function localRepository(realPath: string): string {
  const hash = createHash('sha256').update(realPath).digest('hex').slice(0, 8);
  const base = path.basename(realPath).replace(/\.git$/, '');
  // Characters GitHub would not take become "-"; a leading dot is dropped (no hidden or ".." names).
  const readable =
    base
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[.]+/, '')
      .slice(0, 90) || 'repository';
  return `local/${readable}-${hash}`;
}

/** A full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits. */
export function isCommitId(value: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(value);
}

/**
 * git check-ref-format's rules (git-check-ref-format(1), refs.c check_refname_component),
 * without --allow-onelevel, --refspec-pattern or --normalize: a ref that passes here is one
 * git accepts, and one that fails is one git refuses (the tests compare both on a fuzzed
 * corpus).
 */
export function refProblem(ref: string): string | null {
  const bad = (why: string) => `ref ${JSON.stringify(ref)} is not a valid git ref: ${why}`;
  if (ref === '@') return bad('it is "@"');
  if (ref.includes('@{')) return bad('it contains "@{"');
  if (ref.includes('..')) return bad('it contains ".."');
  if (ref.endsWith('.')) return bad('it ends with "."');
  // Bytes below 0x20, DEL, space and ~ ^ : ? * [ \ are never part of a ref.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(ref)) return bad('it contains a space, a control character or one of ~ ^ : ? * [ \\');
  const components = ref.split('/');
  if (components.length < 2) return bad('it has a single component');
  for (const component of components) {
    if (component === '') return bad('it has an empty component (a leading, trailing or double "/")');
    if (component.startsWith('.')) return bad('a component starts with "."');
    if (component.endsWith('.lock')) return bad('a component ends with ".lock"');
  }
  // git works on bytes and takes any non-ASCII byte; a string that is not valid UTF-16
  // (a lone surrogate) cannot be passed on faithfully.
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(ref)) return bad('it is not valid Unicode');
  return null;
}

/** A branch name (the part after refs/heads/): a valid ref, and not one git branch refuses. */
export function branchProblem(branch: string): string | null {
  if (branch.startsWith('-')) return `branch ${JSON.stringify(branch)} starts with "-"`;
  if (branch === 'HEAD') return 'a branch cannot be named HEAD';
  return refProblem(`refs/heads/${branch}`);
}

/** The refs a push or pull request may name: branches, tags, and refs/pull/<n>/head. */
export function pushRefProblem(ref: string): string | null {
  const problem = refProblem(ref);
  if (problem) return problem;
  if (ref.startsWith('refs/heads/')) return branchProblem(ref.slice('refs/heads/'.length));
  if (ref.startsWith('refs/tags/') || /^refs\/pull\/[1-9][0-9]*\/head$/.test(ref)) return null;
  return `ref ${JSON.stringify(ref)} is not a branch, tag or pull request head`;
}
