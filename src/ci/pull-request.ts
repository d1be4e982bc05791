/**
 * Pull-request builds: which commit is built (GitHub's merge of the pull request into its
 * base when it merges cleanly, else the head itself), what a build of a fork may have, and
 * where its artifacts go.
 *
 * The jobs come from the base branch's build file at the base commit the event names, never
 * from the head: a pull request cannot turn on jobs, raise limits or ask for the network
 * for itself. A fork's build (head repository other than the base, or unknown) is
 * untrusted: no secrets, no network, the default limits, and its artifacts stay under the
 * pull request (binaries/<owner>/<repo>/pull/<N>/), never at a branch's or a commit's place.
 */
import { commitParents, refCommit } from './git';

/** What the builder needs of a pull request (push-event.ts's `pull`). */
export interface PullRequestBuild {
  number: number;
  /** The base branch's name. */
  baseRef: string;
  /** The base commit: its build file is the one read. */
  baseSha: string;
  /** The head repository is not the base (or is unknown): untrusted. */
  fork: boolean;
  /** GitHub's `mergeable`: false builds the head; true or null (not computed yet) try the merge ref. */
  mergeable: boolean | null;
}

export interface PullRevision {
  commit: string;
  /** refs/pull/N/merge or refs/pull/N/head. */
  ref: string;
  merged: boolean;
  /** "merge of #12 into main" or "head of #12", for the log, the build page and events. */
  built: string;
}

/**
 * The commit to build: refs/pull/N/merge when GitHub says the pull request merges (or has
 * not said yet) and that ref is the merge of this very head; otherwise the head.
 */
export async function pullRevision(mirror: string, pull: PullRequestBuild, head: string): Promise<PullRevision> {
  const headOnly: PullRevision = { commit: head, ref: `refs/pull/${pull.number}/head`, merged: false, built: `head of #${pull.number}` };
  if (pull.mergeable === false) return headOnly;
  const merge = await refCommit(mirror, `refs/pull/${pull.number}/merge`);
  if (merge === null) return headOnly;
  // An older merge ref (GitHub recomputes it after each push) is not this head's merge.
  const parents = await commitParents(mirror, merge);
  if (parents.length !== 2 || parents[1] !== head) return headOnly;
  return { commit: merge, ref: `refs/pull/${pull.number}/merge`, merged: true, built: `merge of #${pull.number} into ${pull.baseRef}` };
}

/**
 * Whether a build is trusted with secrets, the network and raised limits: pushes and
 * same-repository pull requests are; forks are not. Secrets (secretsAllowed) must ask this.
 */
export function isTrusted(request: { pull?: Pick<PullRequestBuild, 'fork'> }): boolean {
  return request.pull === undefined || !request.pull.fork;
}

/**
 * Where a pull request's artifacts go below a repository's binaries or docs directory:
 * `pull/<N>`. No branch pointer can be named `pull` (pointer-name.ts encodes it), and no
 * commit link either: the pull request's builds never reach a branch's or a commit's place.
 */
export function pullDirectory(number: number): string[] {
  if (!Number.isSafeInteger(number) || !PULL_NUMBER.test(String(number))) throw new Error(`not a pull request number: ${number}`);
  return ['pull', String(number)];
}

/** The name of the directory of pull requests' artifacts below a repository's (a reserved pointer name). */
export const PULL_DIRECTORY = 'pull';

/** A pull request's number as a path component (`pull/<N>`): what pullDirectory makes and retention takes. */
export const PULL_NUMBER = /^[1-9][0-9]{0,9}$/;

/** The pull request a build's ref names (refs/pull/<N>/head or /merge), or null for any other ref. */
export function pullNumberOfRef(ref: string | null): number | null {
  const match = ref === null ? null : /^refs\/pull\/([1-9][0-9]{0,9})\/(?:head|merge)$/.exec(ref);
  return match ? Number(match[1]) : null;
}
