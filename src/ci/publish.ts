/**
 * Publishing a successful build at stable places, as Docker's "master binaries" and
 * "master docs" were:
 *   binaries/<owner>/<repo>/<sha>/   the artifacts of every job of the commit, SHA256SUMS,
 *                                    commit, version (a link to .versions/<sha>-<build>)
 *   binaries/<owner>/<repo>/<branch> → <sha> of the newest successful build of the branch
 *   docs/<owner>/<repo>/<branch>     → the site of that build
 * A pull request's build publishes below `<repo>/pull/<N>/` instead (pull-request.ts): its
 * binaries and its docs site each at `pull/<N>/<sha>`, and no branch pointer moves.
 * <branch> is the branch name encoded as one path component (pointer-name.ts); when a
 * pointer moves is pointers.ts's business (forward, or anywhere on a forced push, never
 * back to an older request).
 *
 * The builder calls this after the build container has stopped, so nothing of the build
 * runs while its output is read; and the output is read as hostile anyway (collect.ts:
 * no link followed, copies from descriptors, modes made sane). Everything is first
 * collected into a staging directory: a user's mistake (docs not produced, a required
 * artifact missing) publishes nothing. Staging directories are renamed into place and
 * pointers swapped with rename(2), so a reader sees the old build or the new one, never a
 * half-written one. Callers serialise publishing per repository (the builder holds a lock).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import picomatch from 'picomatch';

import { Collected, OutputReader, Refusal } from './collect';
import { UserFailure } from './errors';
import { encodePointerName } from './pointer-name';
import { movePointer, PointerOutcome, swapSymlink } from './pointers';
import { pullDirectory } from './pull-request';

export interface ArtifactSpec {
  /** A glob relative to the checkout (a directory stands for everything below it). */
  path: string;
  /** Matching no file is the user's mistake: the build fails. */
  required: boolean;
}

export interface Published {
  /** Artifact paths, relative to the checkout. */
  artifacts: string[];
  binariesDir: string | null;
  docsDir: string | null;
  /** What was not published and why, and pointers that did not move: for the build log. */
  notes: string[];
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
  artifacts?: ArtifactSpec[];
  docs?: string;
  buildId: number;
  /** When the build was requested (ms since the epoch): orders pointer moves. */
  requestedAt: number;
  /** The push rewrote the branch: its pointers may move to a non-descendant. */
  forced: boolean;
  /**
   * A pull request's build: published below `<repo>/pull/<N>/` (pull-request.ts), never at
   * the commit's or a branch's place, and no pointer moves.
   */
  pull?: number;
  /** Ancestry for the pointer rules where there is no `mirror` (uploads); pointers.ts's PointerMove. */
  isAncestor?: (ancestor: string, commit: string) => Promise<boolean>;
}

const METADATA = new Set(['SHA256SUMS', 'commit', 'version']);

function emptyCollection(): Collected {
  return { files: new Map(), refused: [] };
}

function describe(refused: Refusal): string {
  return `not published: ${refused.path}: ${refused.reason}`;
}

/** The directories a glob can match below, and a matcher for the paths it names. */
function artifactMatcher(specs: ArtifactSpec[]): {
  bases: string[];
  matches: (p: string) => boolean;
  matchers: Array<{ artifact: ArtifactSpec; matches: (p: string) => boolean }>;
} {
  const matchers = specs.map((artifact) => {
    const pattern = artifact.path;
    const scan = picomatch.scan(pattern);
    // A plain path may name a directory: everything below it is meant.
    return { artifact, matches: picomatch(scan.isGlob ? pattern : [pattern, `${pattern.replace(/\/+$/, '')}/**`], { dot: false }) };
  });
  const bases = specs.map(({ path: pattern }) => {
    const scan = picomatch.scan(pattern);
    const base = scan.isGlob ? scan.base : path.posix.dirname(pattern.replace(/\/+$/, ''));
    return base === '.' ? '' : base;
  });
  return { bases, matchers, matches: (p) => matchers.some((m) => m.matches(p)) };
}

/**
 * One SHA256SUMS line, escaped as GNU sha256sum does: a build-chosen file name holding a
 * newline must not add a line of its own choosing.
 */
export function checksumLine(file: string, sum: string): string {
  if (!/[\\\n\r]/.test(file)) return `${sum}  ${file}\n`;
  const escaped = file.replace(/[\\\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : '\\r'));
  return `\\${sum}  ${escaped}\n`;
}

async function writeMetadata(dir: string, collected: Collected, commit: string, version: string): Promise<void> {
  const sums = [...collected.files]
    .filter(([file]) => !METADATA.has(file))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([file, sum]) => checksumLine(file, sum));
  fs.writeFileSync(path.join(dir, 'SHA256SUMS'), sums.join(''), { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'commit'), `${commit}\n`, { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'version'), `${version}\n`, { mode: 0o644 });
}

function pointerNote(what: string, branch: string, outcome: PointerOutcome): string | null {
  return outcome.moved ? null : `the ${what} pointer of ${branch} did not move: ${outcome.why}`;
}

/** The directory below `root` where this build publishes: the repository's, or its pull request's. */
function repositoryDir(root: string, spec: PublishSpec): string {
  return path.join(root, spec.repo, ...(spec.pull === undefined ? [] : pullDirectory(spec.pull)));
}

export async function publish(given: PublishSpec): Promise<Published> {
  // A pull request's build moves no branch pointer, whatever branch it was given.
  const spec = given.pull === undefined ? given : { ...given, branch: null };
  const result: Published = { artifacts: [], binariesDir: null, docsDir: null, notes: [] };
  // A branch name that cannot be a pointer fails the build before anything is published.
  if (spec.branch) encodePointerName(spec.branch);
  const staging: string[] = [];
  const reader = await OutputReader.open(spec.workspace);
  try {
    // 1. Collect: nothing is visible yet, so a user's mistake found here publishes nothing.
    let binaries: { repoDir: string; stage: string; collected: Collected } | null = null;
    if (spec.artifacts?.length) {
      const repoDir = repositoryDir(spec.binariesRoot, spec);
      const stage = newStage(repoDir, spec);
      staging.push(stage);
      const collected = emptyCollection();
      // Other jobs of the same commit may have published already: their files are kept
      // (copied first, so that this job's file of the same name replaces theirs).
      const link = path.join(repoDir, spec.commit);
      if (fs.existsSync(link)) {
        const previous = await OutputReader.open(fs.realpathSync(link));
        try {
          await previous.copyTree('', stage, collected);
        } finally {
          await previous.close();
        }
      }
      const ours = emptyCollection();
      const { bases, matchers, matches } = artifactMatcher(spec.artifacts);
      await reader.copyMatching(bases, matches, stage, ours);
      for (const { artifact, matches: matchesArtifact } of matchers) {
        if (!artifact.required || [...ours.files.keys()].some((file) => matchesArtifact(file))) continue;
        const refused = ours.refused.filter((r) => matchesArtifact(r.path));
        throw new UserFailure(
          `the required artifact "${artifact.path}" matched no file` +
            (refused.length ? ` that could be published (${refused.map((r) => `${r.path}: ${r.reason}`).join('; ')})` : ''),
        );
      }
      for (const [file, sum] of ours.files) collected.files.set(file, sum);
      result.notes.push(...ours.refused.map(describe));
      result.artifacts = [...ours.files.keys()].sort();
      binaries = { repoDir, stage, collected };
    }
    let docs: { repoDir: string; stage: string } | null = null;
    if (spec.docs) {
      const repoDir = repositoryDir(spec.docsRoot, spec);
      const stage = newStage(repoDir, spec);
      staging.push(stage);
      const collected = emptyCollection();
      const refused = await reader.copyTree(spec.docs, stage, collected);
      if (refused) {
        throw new UserFailure(
          refused === 'no longer there'
            ? `the docs directory "${spec.docs}" was not produced by the build`
            : `the docs directory "${spec.docs}" is not a directory the build produced (${refused})`,
        );
      }
      result.notes.push(...collected.refused.map(describe));
      docs = { repoDir, stage };
    }

    // 2. Publish: rename into place, then swap the pointers.
    if (binaries) {
      const { repoDir, stage, collected } = binaries;
      await writeMetadata(stage, collected, spec.commit, spec.version);
      const name = `${spec.commit}-${spec.buildId}`;
      const version = path.join(repoDir, '.versions', name);
      fs.renameSync(stage, version);
      const link = path.join(repoDir, spec.commit);
      const current = fs.existsSync(link) ? fs.realpathSync(link) : null;
      swapSymlink(link, path.join('.versions', name));
      if (current && current !== version) fs.rmSync(current, { recursive: true, force: true });
      result.binariesDir = link;
      if (spec.branch) {
        const outcome = await movePointer({
          ...pointerRequest(spec, spec.branch),
          dir: repoDir,
          target: spec.commit,
          commitOfTarget: (target) => path.basename(target),
        });
        const note = pointerNote('binaries', spec.branch, outcome);
        if (note) result.notes.push(note);
      }
    }
    if (docs) {
      const { repoDir, stage } = docs;
      const version = path.join(repoDir, '.versions', `${spec.commit}-${spec.buildId}`);
      fs.renameSync(stage, version);
      result.docsDir = version;
      if (spec.pull !== undefined) {
        // No branch names a pull request's site: its commit's link does (pull/<N>/<sha>), as
        // for binaries, and the site it named before goes.
        const link = path.join(repoDir, spec.commit);
        const current = fs.existsSync(link) ? fs.realpathSync(link) : null;
        swapSymlink(link, path.join('.versions', path.basename(version)));
        if (current && current !== version) fs.rmSync(current, { recursive: true, force: true });
      }
      if (spec.branch) {
        const outcome = await movePointer({
          ...pointerRequest(spec, spec.branch),
          dir: repoDir,
          target: path.join('.versions', path.basename(version)),
          commitOfTarget: (target) => path.basename(target).split('-')[0] ?? null,
        });
        // The old site goes once nothing points at it; open files stay readable until closed.
        if (outcome.moved && outcome.previous && path.resolve(repoDir, outcome.previous) !== version) {
          fs.rmSync(path.resolve(repoDir, outcome.previous), { recursive: true, force: true });
        }
        const note = pointerNote('docs', spec.branch, outcome);
        if (note) result.notes.push(note);
      }
    }
    return result;
  } finally {
    await reader.close();
    for (const dir of staging) fs.rmSync(dir, { recursive: true, force: true });
  }
}

const STAGING = '.staging-';

/**
 * A new, empty staging directory in `<repoDir>/.versions`. Staging directories left there
 * by a publisher that died are removed first: publishing holds the repository's lock, so
 * no other one is in use.
 */
function newStage(repoDir: string, spec: PublishSpec): string {
  const versions = path.join(repoDir, '.versions');
  fs.mkdirSync(versions, { recursive: true, mode: 0o755 });
  for (const name of fs.readdirSync(versions)) {
    if (name.startsWith(STAGING)) fs.rmSync(path.join(versions, name), { recursive: true, force: true });
  }
  const stage = fs.mkdtempSync(path.join(versions, `${STAGING}${spec.commit}-${spec.buildId}-`));
  // mkdtemp makes it 0700; once renamed into place, it is what readers (a web server) open.
  fs.chmodSync(stage, 0o755);
  return stage;
}

function pointerRequest(spec: PublishSpec, branch: string) {
  return {
    branch,
    commit: spec.commit,
    requestedAt: spec.requestedAt,
    buildId: spec.buildId,
    forced: spec.forced,
    mirror: spec.mirror,
    isAncestor: spec.isAncestor,
  };
}
