/**
 * Retention: what publishing and building leave behind is removed once nobody needs it.
 *
 * Versions (`binaries/<owner>/<repo>/.versions/<sha>-<build>/` with the `<sha>` link to it,
 * and `docs/<owner>/<repo>/.versions/<sha>-<build>/`), pull-request and tag builds included:
 *   - kept: anything a branch pointer names; the newest `keep` of each branch (newest by
 *     the directory's time); anything younger than `days`; anything of a build still queued
 *     or running (an upload may still be reading it);
 *   - removed: the rest. Builds without a branch (tags, commits) form one group per
 *     repository, and so do versions whose build this data directory's store does not
 *     know (uploads from workers on other machines). A pull request's artifacts
 *     (`<repo>/pull/<N>/`, pull-request.ts) are kept only while younger than `days`;
 *     there the commits' links (binaries and docs alike) keep nothing, and go with the
 *     version they name, and so does a pull request's directory once emptied.
 * Logs (`logs/<id>.log`): a finished build's log goes once it is older than `days`, unless
 * that build is the newest of its repository, ref and job.
 *
 * A repository's versions are looked at and removed holding the lock its publisher takes
 * (`publish:<owner>/<repo>`, see builder.ts and server/uploads.ts), so a pointer never
 * moves between being read here and a version being removed. Staging directories (a
 * publish in progress) are never touched. Nothing is followed out of the tree: owner,
 * repository and version directories are taken only when lstat says they are
 * directories, a link's target is read, never followed, and only a link to a sibling or to
 * `.versions/<name>` counts; removal (fs.rm) removes links, never what they point at.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { UNFINISHED_STATUSES } from './build-status';
import type { DataDir } from './data-dir';
import { fullNameProblem } from './names';
import { PULL_DIRECTORY, PULL_NUMBER } from './pull-request';
import type { BuildRecord, BuildStore } from './store';

export interface RetentionPolicy {
  /** Versions kept per branch whatever their age. */
  keep: number;
  /** Age in days past which what is not kept otherwise is removed. */
  days: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { keep: 5, days: 30 };

export interface Removal {
  kind: 'binaries' | 'docs' | 'log';
  repo: string;
  /** Relative to the data directory. */
  path: string;
  why: string;
}

export interface RetentionReport {
  dryRun: boolean;
  removed: Removal[];
  /** Versions and logs looked at and kept. */
  kept: number;
  /** What could not be removed (e.g. a permission), one line each. */
  problems: string[];
}

export interface RetentionOptions {
  data: DataDir;
  store: BuildStore;
  policy?: Partial<RetentionPolicy>;
  /** Only these repositories (owner/name); default: every one in the data directory. */
  repos?: string[];
  dryRun?: boolean;
  /** Milliseconds since the epoch; default: now. */
  now?: number;
}

const DAY_MS = 86_400_000;
const VERSION_NAME = /^([0-9a-f]{40}|[0-9a-f]{64})-(\d+)$/;
const LOG_NAME = /^\d+\.log$/;

/** Removes (or with `dryRun`, lists) what the policy no longer keeps. */
export async function applyRetention(options: RetentionOptions): Promise<RetentionReport> {
  const policy = { ...DEFAULT_RETENTION, ...options.policy };
  if (!(Number.isInteger(policy.keep) && policy.keep >= 0) || !(policy.days >= 0)) throw new Error(`bad retention policy: ${JSON.stringify(policy)}`);
  const report: RetentionReport = { dryRun: options.dryRun ?? false, removed: [], kept: 0, problems: [] };
  // Every repository with something published or a build recorded (whose logs may be all it has).
  const repos =
    options.repos ??
    [
      ...new Set([
        ...repositoriesUnder(options.data.binaries),
        ...repositoriesUnder(options.data.docs),
        ...options.store.list({ limit: -1 }).map((build) => build.repo),
      ]),
    ].sort();
  for (const repo of repos) {
    if (fullNameProblem(repo) !== null) continue;
    // Ages are taken once the lock is held: what a publisher made while we waited is younger.
    const sweep = () => {
      const now = options.now ?? Date.now();
      for (const kind of ['binaries', 'docs'] as const) sweepVersions({ ...options, policy, now, report, repo, kind });
      return Promise.resolve();
    };
    // A dry run changes nothing: no need to keep publishers waiting.
    if (report.dryRun) await sweep();
    else await options.store.withLock(`publish:${repo}`, sweep);
    sweepLogs({ ...options, policy, now: options.now ?? Date.now(), report, repo });
  }
  return report;
}

/** `owner/name` of each repository directory under `root` (real directories only). */
function repositoriesUnder(root: string): string[] {
  const found: string[] = [];
  for (const owner of directoriesIn(root)) {
    for (const name of directoriesIn(path.join(root, owner))) found.push(`${owner}/${name}`);
  }
  return found;
}

/** Names of the real (not linked) directories in `dir` that do not start with a dot. */
function directoriesIn(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}

interface Sweep {
  data: DataDir;
  store: BuildStore;
  policy: RetentionPolicy;
  now: number;
  report: RetentionReport;
  repo: string;
  dryRun?: boolean;
}

/** The `.versions/<name>` a link of the repository directory leads to, following links only inside it. */
function versionOfLink(links: Map<string, string>, name: string, hops = 0): string | null {
  const target = links.get(name);
  if (target === undefined || hops > 4) return null;
  const parts = path.posix.normalize(target).split('/');
  if (parts.length === 2 && parts[0] === '.versions' && parts[1] !== '..' && parts[1] !== '.') return parts[1] ?? null;
  if (parts.length === 1 && parts[0] !== '..' && parts[0] !== '.') return versionOfLink(links, parts[0]!, hops + 1);
  return null; // elsewhere, maybe out of the tree: not ours to follow
}

function sweepVersions(s: Sweep & { kind: 'binaries' | 'docs' }): void {
  const repoDir = path.join(s.kind === 'binaries' ? s.data.binaries : s.data.docs, ...s.repo.split('/'));
  sweepVersionsIn(s, repoDir, null);
  // Pull requests' artifacts (pull/<N>/, pull-request.ts): no branch keeps them, they expire.
  const pulls = path.join(repoDir, PULL_DIRECTORY);
  if (!isRealDirectory(pulls)) return;
  for (const number of directoriesIn(pulls)) {
    if (!PULL_NUMBER.test(number)) continue;
    const dir = path.join(pulls, number);
    sweepVersionsIn({ ...s, policy: { ...s.policy, keep: 0 } }, dir, `pull request #${number}`);
    // Nothing left of the pull request: its directory goes too (rmdir fails, harmlessly, on anything left).
    if (!s.dryRun) {
      try {
        fs.rmdirSync(path.join(dir, '.versions'));
        fs.rmdirSync(dir);
      } catch {
        // Versions, links or staging still there.
      }
    }
  }
}

/** The versions of one repository directory (or of one of its pull requests: `pull` names it, and groups them all). */
function sweepVersionsIn(s: Sweep & { kind: 'binaries' | 'docs' }, repoDir: string, pull: string | null): void {
  const versionsDir = path.join(repoDir, '.versions');
  if (!isRealDirectory(repoDir) || !isRealDirectory(versionsDir)) return;
  // The links of the repository directory: branch pointers and (binaries) commit links.
  const links = new Map<string, string>();
  for (const entry of fs.readdirSync(repoDir, { withFileTypes: true })) {
    if (entry.isSymbolicLink()) links.set(entry.name, fs.readlinkSync(path.join(repoDir, entry.name)));
  }
  // A pointer is a link to a sibling (binaries: branch -> <sha>) or, in docs, any link; a
  // commit link (binaries, and a pull request's docs: <sha> -> .versions/<sha>-<build>) alone
  // keeps nothing.
  const commitLinks = s.kind === 'binaries' || pull !== null;
  const named = new Set<string>();
  for (const [name, target] of links) {
    const isCommitLink = commitLinks && path.posix.normalize(target).startsWith('.versions/');
    if (isCommitLink) continue;
    const version = versionOfLink(links, name);
    if (version !== null) named.add(version);
  }
  const groups = new Map<string, Array<{ name: string; sha: string; mtime: number; build: number; record: BuildRecord | undefined }>>();
  for (const entry of fs.readdirSync(versionsDir, { withFileTypes: true })) {
    // Staging directories (a publish in progress, or left by a dead one: publish.ts clears
    // those) and anything that is not a directory of ours (a link is never followed).
    const match = VERSION_NAME.exec(entry.name);
    if (!entry.isDirectory() || !match) continue;
    const [, sha = '', build = '0'] = match;
    const record = s.store.get(Number(build));
    const known = record && record.repo === s.repo && record.commit === sha ? record : undefined;
    const group = pull ?? (known?.branch ? `branch ${known.branch}` : 'builds of no branch');
    const mtime = fs.lstatSync(path.join(versionsDir, entry.name)).mtimeMs;
    groups.set(group, [...(groups.get(group) ?? []), { name: entry.name, sha, mtime, build: Number(build), record: known }]);
  }
  for (const [group, versions] of groups) {
    versions.sort((a, b) => b.mtime - a.mtime || b.build - a.build);
    versions.forEach((version, index) => {
      const age = (s.now - version.mtime) / DAY_MS;
      const busy = version.record !== undefined && (UNFINISHED_STATUSES as readonly string[]).includes(version.record.status);
      if (index < s.policy.keep || named.has(version.name) || age < s.policy.days || busy) {
        s.report.kept += 1;
        return;
      }
      const where = path.join(versionsDir, version.name);
      const why = `${group}: ${ordinal(index + 1)} newest, ${Math.floor(age)} days old, named by no pointer`;
      s.report.removed.push({ kind: s.kind, repo: s.repo, path: path.relative(s.data.root, where), why });
      if (s.dryRun) return;
      try {
        // The commit's link first, when it leads here: no link is left dangling.
        if (commitLinks && links.has(version.sha) && versionOfLink(links, version.sha) === version.name) {
          fs.rmSync(path.join(repoDir, version.sha), { force: true });
        }
        fs.rmSync(where, { recursive: true, force: true });
      } catch (err) {
        s.report.problems.push(`${where}: ${(err as Error).message}`);
      }
    });
  }
}

function sweepLogs(s: Sweep): void {
  // Newest first: the first build of each (ref, job) seen is its newest.
  const builds = s.store.list({ repo: s.repo, limit: -1 });
  const seen = new Set<string>();
  for (const build of builds) {
    const key = JSON.stringify([build.branch ?? build.ref ?? build.commit, build.job]);
    const newest = !seen.has(key);
    seen.add(key);
    if (newest || !build.logPath || (UNFINISHED_STATUSES as readonly string[]).includes(build.status)) continue;
    // Only a file of ours: logs/<id>.log, a regular file (a path from the database is not trusted further).
    if (path.dirname(build.logPath) !== s.data.logs || !LOG_NAME.test(path.basename(build.logPath))) continue;
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(build.logPath);
    } catch {
      continue; // already gone
    }
    if (!stat.isFile()) continue;
    // The log's last write is its build's end (a log is never written after it).
    const age = (s.now - stat.mtimeMs) / DAY_MS;
    if (age < s.policy.days) {
      s.report.kept += 1;
      continue;
    }
    const why = `build ${build.id} (${build.job}, ${build.branch ?? build.ref ?? build.commit.slice(0, 12)}): ${Math.floor(age)} days old, not the newest`;
    s.report.removed.push({ kind: 'log', repo: s.repo, path: path.relative(s.data.root, build.logPath), why });
    if (s.dryRun) continue;
    try {
      fs.rmSync(build.logPath, { force: true });
    } catch (err) {
      s.report.problems.push(`${build.logPath}: ${(err as Error).message}`);
    }
  }
}

function isRealDirectory(dir: string): boolean {
  try {
    return fs.lstatSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

/**
 * Retention after a publish, at most once per `intervalMs` per repository (the first
 * publish of a repository in this process runs it at once). Returns lines for the build's log.
 */
export function retentionAfterPublish(
  options: Omit<RetentionOptions, 'repos' | 'dryRun' | 'now'> & { intervalMs: number },
): (repo: string) => Promise<string[]> {
  const last = new Map<string, number>();
  return async (repo) => {
    const now = Date.now();
    const previous = last.get(repo);
    if (previous !== undefined && now - previous < options.intervalMs) return [];
    last.set(repo, now);
    const report = await applyRetention({ ...options, repos: [repo], now });
    return [
      ...(report.removed.length > 0 ? [`retention: removed ${describeRemovals(report.removed)} of ${repo}`] : []),
      ...report.problems.map((problem) => `retention: could not remove ${problem}`),
    ];
  };
}

/** "3 binaries versions, 1 docs version, 2 logs". */
export function describeRemovals(removed: Removal[]): string {
  const count = (kind: Removal['kind'], one: string, many: string) => {
    const n = removed.filter((r) => r.kind === kind).length;
    return n === 0 ? null : `${n} ${n === 1 ? one : many}`;
  };
  return [count('binaries', 'binaries version', 'binaries versions'), count('docs', 'docs version', 'docs versions'), count('log', 'log', 'logs')]
    .filter((part) => part !== null)
    .join(', ');
}
