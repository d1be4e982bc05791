/**
 * The builder: given a repository and a commit, runs the jobs its .lxcts.yml declares,
 * each in a brand-new container, and publishes what they produce. One machine, no queue:
 * the NSQ workers call exactly this.
 */
import * as path from 'node:path';
import type { Writable } from 'node:stream';

import { BUILD_FILE, BuildFile, BuildFileError, Job, jobRunsOn, parseBuildFile } from './build-file';
import type { BuildRuntime } from './build-environment';
import { BuildEvent, BuildEventOf, buildEvents, NOTHING_PUBLISHED, withPullHead } from './build-events';
import { BuildLog } from './build-log';
import { DataDir } from './data-dir';
import { NoBuildFileError } from './errors';
import { MAX_PERSON, oneLine } from './commit-info';
import { checkRevisionName, describeCommit, fetchMirror, identify, maintainMirror, readCommitInfo, readFileAt, resolveRevision, Revision, Source } from './git';
import { checkCloneUrl, SourcePolicy, STRICT_POLICY } from './clone-url';
import { JobOutcome, runJob, Publication } from './job';
import { DEFAULT_LIMITS, LimitAboveCeilingError, Limits, resolveLimits } from './limits';
import { LxcRuntime } from './lxc-environment';
import { publish } from './publish';
import { isTrusted, PullRequestBuild, pullRevision } from './pull-request';
import { SecretMasker } from './secret-mask';
import { SecretStore } from './secret-store';
import { SecretUnavailableError } from './secrets';
import { stepEnvironment } from './steps';
import { BuildRecord, BuildStatus, BuildStore } from './store';

export type { BuildEvent } from './build-events';

export interface BuildRequest {
  /** A local path or a git URL. */
  source: string;
  /** Branch, tag, full ref or commit id. Default: the repository's HEAD. */
  ref?: string;
  /** Run only this job, whatever its branch filter says (unless `honourBranches`). */
  job?: string;
  /**
   * `job` too runs only on the branches its `branches:` lists (workers: a push builds only
   * what the build file asks for). Jobs left out are reported through `onSkipped`.
   */
  honourBranches?: boolean;
  /**
   * A newer push to the same branch came before this one started: build nothing, and record
   * each job that would have run as cancelled "superseded by <sha>".
   */
  supersededBy?: string;
  /** Cancelled before it started (e.g. "cancelled by admin"): build nothing, record each job cancelled with this message. */
  cancelled?: string;
  /** Each job of the build file that does not run for this push, and why. */
  onSkipped?: (skipped: SkippedJob) => void;
  /** Build again even when this commit's job already succeeded. */
  force?: boolean;
  /** Where to stream the live log (every job's), e.g. the terminal. */
  output?: Writable;
  /** The commit to build, when `ref` names the branch it was pushed to (webhooks). */
  commit?: string;
  /** owner/name to record, when the source's own name is not it (a webhook's full_name). */
  repo?: string;
  /** When the build was asked for (ms since the epoch): a newer request supersedes it. */
  requestedAt?: number;
  /** Who pushed (the push event's `pusher`), recorded with the build; bounded by commit-info.ts's oneLine. */
  pusher?: string;
  /**
   * A pull request's build (`ref` its refs/pull/N/head, `commit` its head): the jobs are the
   * base commit's marked `pull_requests: true`, the merge is built when it merges cleanly,
   * and a fork's build is untrusted (pull-request.ts).
   */
  pull?: PullRequestBuild;
  /** The push was a force-push: branch pointers follow it even to a non-descendant. */
  forced?: boolean;
  /**
   * The jobs may have the repository's secrets their `secrets:` names (workers: pushes and
   * same-repository pull requests, see secrets.ts's `secretsAllowed`). Absent: a job naming
   * a secret fails, saying why.
   */
  secrets?: boolean;
  /**
   * A fork's pull request awaiting a maintainer's approval (workers' --fork-approval): each
   * job that would run is handed here, and none is built nor recorded.
   */
  hold?: (held: HeldJob) => void;
  /** Aborting cancels the running step and records the build as cancelled. */
  signal?: AbortSignal;
  /** Build events, for the NSQ events topic and live views. */
  onEvent?: (event: BuildEvent) => void;
  /**
   * Called after a job published on this machine (workers upload it to the CI server): the
   * lines it returns, or its failure, go into the build's log; it never fails the build.
   */
  afterPublish?: (publication: LocalPublication) => Promise<string[]>;
}

/** What a job published on this machine, and which build it was. */
export interface LocalPublication {
  repo: string;
  commit: string;
  version: string;
  branch: string | null;
  buildId: number;
  requestedAt: number;
  forced: boolean;
  binariesDir: string | null;
  docsDir: string | null;
  /** The build's: aborted when it is cancelled. */
  signal?: AbortSignal;
  /** A pull request's build: its number (its artifacts are kept under it, pull-request.ts). */
  pull?: number;
}

/** A job held for approval: what it would build. */
export interface HeldJob {
  job: string;
  commit: string;
  ref: string;
  subject: string | null;
  author: string | null;
}

export interface SkippedJob {
  job: string;
  /** e.g. "branches: [main] does not include feature". */
  reason: string;
}

export interface JobResult {
  job: string;
  buildId: number;
  status: BuildStatus;
  /** False when an earlier build of the same commit and job was reused. */
  built: boolean;
  exitCode: number | null;
  message: string | null;
  artifacts: string[];
  logPath: string | null;
}

export interface BuilderOptions {
  /** Bridge for jobs with `network: true`. Default: lxcbr0. */
  bridge?: string;
  /** Which clone URLs may be fetched. Default: public https, ssh and git hosts only. */
  sources?: SourcePolicy;
  /** The most a job may ask for (the operator's --max-* flags); unset: limits.ts's defaults. */
  ceilings?: Partial<Limits>;
  /** Where jobs run. Default: fresh LXC containers (`LxcRuntime`); tests pass a fake. */
  runtime?: BuildRuntime;
}

/** A first clone of a big repository may hold a mirror's lock that long. */
const MIRROR_LOCK_TIMEOUT_MS = 60 * 60_000;

export class Builder {
  private readonly runtime: BuildRuntime;

  constructor(
    private readonly data: DataDir,
    private readonly store: BuildStore,
    private readonly options: BuilderOptions = {},
  ) {
    this.runtime = options.runtime ?? new LxcRuntime(data, { bridge: options.bridge });
  }

  /**
   * Cleans up after builders that died (SIGKILL, power loss): their containers and
   * workspaces go, and their builds are recorded as errors. Run it at start-up.
   */
  async sweep(): Promise<BuildRecord[]> {
    const orphans = this.store.orphans();
    for (const build of orphans) this.store.finished(build.id, { status: 'error', message: 'builder died' });
    // Then their environments, and any no live build owns (a builder killed between clone and record).
    await this.runtime.sweep(this.store.list({ status: 'running', limit: 10_000 }));
    return orphans.map((b) => this.store.get(b.id)!);
  }

  /**
   * Rejects (RefusedSourceError) when this builder's source policy refuses `cloneUrl`:
   * workers ask before a push may cancel or supersede anything.
   */
  async checkSource(cloneUrl: string): Promise<void> {
    await checkCloneUrl(cloneUrl, this.options.sources ?? STRICT_POLICY);
  }

  async build(request: BuildRequest): Promise<JobResult[]> {
    // Builders of a dead process on this machine leave builds "running": clean them up
    // first, or the claim below would take them for builds in progress elsewhere.
    if (this.store.orphans().length > 0) {
      // Their end is an event too, or a page would show them running forever.
      for (const build of await this.sweep()) request.onEvent?.({ type: 'finished', build, published: NOTHING_PUBLISHED });
    }
    // Names are checked before anything is fetched or written for them.
    if (request.ref !== undefined) checkRevisionName(request.ref);
    if (request.commit !== undefined) checkRevisionName(request.commit);
    // A push names its repository; a source given alone (ci build) is identified from itself.
    const source: Source = request.repo !== undefined ? { repo: request.repo, cloneUrl: request.source } : identify(request.source);
    const mirror = await fetchMirror(this.data.mirrors, source, this.options.sources ?? STRICT_POLICY, (name, fn) =>
      this.store.withLock(name, fn, MIRROR_LOCK_TIMEOUT_MS),
    );
    let revision: Revision;
    // The commit whose build file decides: the pull request's base, never its head.
    let decides: string;
    if (request.pull) {
      if (request.commit === undefined) throw new Error('a pull request build names its head commit');
      const head = await resolveRevision(mirror, request.commit);
      const chosen = await pullRevision(mirror, request.pull, head.commit);
      revision = { commit: chosen.commit, ref: chosen.ref, branch: null };
      decides = (await resolveRevision(mirror, request.pull.baseSha)).commit;
      // Its records and events name the head (the commit GitHub shows on the pull request, and statuses go to).
      request = { ...request, commit: head.commit, onEvent: withPullHead(request.onEvent, head.commit) };
    } else {
      revision = await resolveRevision(mirror, request.ref);
      if (request.commit && request.commit !== revision.commit) {
        // A webhook names the branch and the commit pushed: build that commit, record that branch.
        revision.commit = await resolveRevision(mirror, request.commit).then((r) => r.commit);
      }
      decides = revision.commit;
    }
    // Shown with the build; a commit git cannot describe (a huge object) is built all the same.
    revision.info = await readCommitInfo(mirror, revision.commit).catch(() => null);
    const text = await readFileAt(mirror, decides, BUILD_FILE);
    if (text === null) throw new NoBuildFileError(`${source.repo} has no ${BUILD_FILE} at ${decides.slice(0, 12)}`);
    let file: BuildFile;
    try {
      file = parseBuildFile(text, `${source.repo}@${decides.slice(0, 12)}:${BUILD_FILE}`);
    } catch (err) {
      // When a job is named (every worker names its own), the invalid file is that job's
      // failure, recorded with the located error: a push never vanishes without a record.
      if (!(err instanceof BuildFileError) || request.job === undefined) throw err;
      return [this.recordOutcome(source, revision, request.job, request, 'failure', err.message)];
    }
    const jobs = this.selectJobs(file, revision, request);
    if (request.supersededBy || request.cancelled) {
      const message = request.cancelled ?? `superseded by ${(request.supersededBy ?? '').slice(0, 12)}`;
      return jobs.map(([name]) => this.recordOutcome(source, revision, name, request, 'cancelled', message));
    }
    if (request.hold) {
      const { hold } = request;
      const ref = revision.ref ?? revision.commit;
      for (const [name] of jobs)
        hold({ job: name, commit: revision.commit, ref, subject: revision.info?.subject ?? null, author: revision.info?.author ?? null });
      return [];
    }
    // No job for this ref (each said why through onSkipped): no base is made for nothing.
    if (jobs.length > 0) await this.runtime.ensureBase(file.base);
    const results: JobResult[] = [];
    for (const [name, job] of jobs) {
      // An untrusted build gets no network and the default limits, whatever the build file says.
      const granted = isTrusted(request) ? job : { ...job, network: false, limits: undefined, timeout: undefined };
      results.push(await this.buildJob({ source, mirror, revision, file, name, job: granted, request }));
    }
    // The fetch's housekeeping, left out of it (git.ts): a failure here is the next fetch's to see.
    await maintainMirror(mirror, (name, fn) => this.store.withLock(name, fn, MIRROR_LOCK_TIMEOUT_MS)).catch(() => undefined);
    return results;
  }

  private selectJobs(file: BuildFile, revision: Revision, request: BuildRequest): Array<[string, Job]> {
    const only = request.job;
    const { pull } = request;
    const runs = ([name, job]: [string, Job]): boolean => {
      if (pull && !job.pull_requests) {
        request.onSkipped?.({ job: name, reason: `pull requests build only jobs marked pull_requests: true in ${pull.baseRef}'s build file` });
        return false;
      }
      // A pull request's job runs when it would for a push to the branch it merges into.
      if (jobRunsOn(job, pull ? pull.baseRef : revision.branch)) return true;
      const where = pull ? `does not include ${pull.baseRef}, the base of #${pull.number}` : notOnListedBranch(revision);
      request.onSkipped?.({ job: name, reason: `branches: [${job.branches!.join(', ')}] ${where}` });
      return false;
    };
    // A file for the patch-parser bot alone: nothing to build, and nothing recorded (no
    // failed build, no status); the worker acknowledges the push saying why.
    if (Object.keys(file.jobs).length === 0) {
      if (only !== undefined) request.onSkipped?.({ job: only, reason: `${BUILD_FILE} has no jobs (it configures only the patch-parser bot)` });
      return [];
    }
    if (only !== undefined) {
      const job = file.jobs[only];
      if (!job) throw new Error(`no job "${only}" in ${BUILD_FILE}; it has: ${Object.keys(file.jobs).join(', ')}`);
      return !request.honourBranches || runs([only, job]) ? [[only, job]] : [];
    }
    return Object.entries(file.jobs).filter(runs);
  }

  /** The record of this (repo, commit, job): a new one, or the one already built or building. */
  private claim(source: Source, revision: Revision, name: string, request: BuildRequest): { record: BuildRecord; created: boolean } {
    const claimed = this.claimAs(source, revision, name, request, request.force);
    // A pull request's build and a push's of the same commit never stand for each other: a
    // fork's (no network, default limits, artifacts under the pull request) must not pass
    // for the branch's build when that commit is pushed, nor a push's for the pull request's.
    const recordOfPull = claimed.record.ref?.startsWith('refs/pull/') === true;
    if (!claimed.created && recordOfPull !== (request.pull !== undefined)) return this.claimAs(source, revision, name, request, true);
    return claimed;
  }

  private claimAs(source: Source, revision: Revision, name: string, request: BuildRequest, force?: boolean): { record: BuildRecord; created: boolean } {
    return this.store.claim(
      {
        repo: source.repo,
        cloneUrl: source.cloneUrl,
        commit: revision.commit,
        ref: revision.ref,
        branch: revision.branch,
        job: name,
        requestedAt: request.requestedAt,
        subject: revision.info?.subject ?? null,
        author: revision.info?.author ?? null,
        pusher: request.pusher === undefined ? null : oneLine(request.pusher, MAX_PERSON),
        head: request.pull ? (request.commit ?? null) : null,
      },
      force,
    );
  }

  /** A job decided without running it (invalid build file, superseded): recorded final at once. */
  private recordOutcome(source: Source, revision: Revision, name: string, request: BuildRequest, status: BuildStatus, message: string): JobResult {
    const { record, created } = this.claim(source, revision, name, request);
    if (!created) {
      return reusedResult(name, record);
    }
    request.onEvent?.({ type: 'queued', build: record });
    this.store.finished(record.id, { status, message });
    request.onEvent?.({ type: 'finished', build: this.store.get(record.id)!, published: { binaries: null, docs: null } });
    return { job: name, buildId: record.id, status, built: true, exitCode: null, message, artifacts: [], logPath: null };
  }

  /** Claims the job's record, runs the job in a new environment, records and tells how it ended. */
  private async buildJob(ctx: JobContext): Promise<JobResult> {
    const { source, revision, file, name, job, request } = ctx;
    const { record, created } = this.claim(source, revision, name, request);
    if (!created) {
      request.output?.write(`==> ${name}: ${revision.commit.slice(0, 12)} already ${record.status} as build ${record.id}; not built again\n`);
      return reusedResult(name, record);
    }
    request.onEvent?.({ type: 'queued', build: record });
    const id = record.id;
    // A job asking for more than the ceilings fails in runJob, once its log exists to say so.
    const limits = limitsOf(job, this.options.ceilings);
    // Read before anything shows the job: its log and events mask the values from the first line.
    const secrets = this.secretsOf(source.repo, job, request);
    const masker = new SecretMasker('values' in secrets ? Object.values(secrets.values) : []);
    const log = new BuildLog(path.join(this.data.logs, `${id}.log`), request.output, limits instanceof Error ? DEFAULT_LIMITS.log : limits.log, masker);
    const environment = this.runtime.environment({ id, base: file.base, job, mirror: ctx.mirror, commit: revision.commit, note: (line) => log.note(line) });
    this.store.started(id, { logPath: log.path, container: environment.name });
    const emitRaw = buildEvents(this.store, id, request.onEvent);
    const emit = (event: BuildEventOf): void => emitRaw('command' in event ? { ...event, command: masker.mask(event.command) } : event);
    emit({ type: 'started' });
    log.note(`build ${id}: ${source.repo} ${revision.ref ?? ''} ${revision.commit} job ${name} on base ${file.base}`);
    if (request.pull) {
      const { number, baseRef } = request.pull;
      log.note(`built: ${revision.ref?.endsWith('/merge') ? `merge of #${number} into ${baseRef}` : `head of #${number}`}`);
      if (!isTrusted(request)) log.note(`#${number} comes from a fork: no secrets, no network, the default limits; artifacts stay under the pull request`);
    }
    const outcome: JobOutcome =
      'refused' in secrets
        ? { status: secrets.status, exitCode: null, message: secrets.refused, artifacts: [], published: NOTHING_PUBLISHED }
        : await runJob({
            environment,
            limits,
            steps: job.steps,
            env: stepEnvironment(job, name, revision, secrets.values),
            log,
            signal: request.signal,
            onStep: emit,
            publish: (workspace) => this.publish(ctx, { id, workspace, createdAt: record.createdAt, log }),
          });
    // The record is written whatever else failed, or the build would stay "running".
    const { status, exitCode, artifacts } = outcome;
    const message = outcome.message === null ? null : masker.mask(outcome.message);
    this.store.finished(id, { status, exitCode, message, artifacts });
    log.note(`${name}: ${status}${message ? ` (${message})` : ''}`);
    await log.close();
    emit({ type: 'finished', published: outcome.published });
    return { job: name, buildId: id, status, built: true, exitCode, message, artifacts, logPath: log.path };
  }

  /**
   * The values of the secrets `job` names, or why it cannot have them: a secret missing or
   * not given to this request is the job's failure; one that does not decrypt, an error.
   */
  private secretsOf(repo: string, job: Job, request: BuildRequest): { values: Record<string, string> } | { refused: string; status: 'failure' | 'error' } {
    const names = job.secrets ?? [];
    if (names.length === 0) return { values: {} };
    if (!request.secrets)
      return {
        refused: `secrets ${names.join(', ')} are not given to this build (workers give them to pushes and to pull requests from the repository itself; ci build to --secrets)`,
        status: 'failure',
      };
    const store = new SecretStore(this.data.root);
    try {
      return { values: store.values(repo, names) };
    } catch (err) {
      return { refused: (err as Error).message, status: err instanceof SecretUnavailableError ? 'failure' : 'error' };
    } finally {
      store.close();
    }
  }

  /** Binaries and docs of a successful job, under the repository's lock. */
  private async publish(ctx: JobContext, build: { id: number; workspace: string; createdAt: string; log: BuildLog }): Promise<Publication> {
    const { source, mirror, revision, job, request } = ctx;
    const { log } = build;
    const version = await describeCommit(mirror, revision.commit);
    const requestedAt = request.requestedAt ?? Date.parse(build.createdAt);
    const result = await this.store.withLock(`publish:${source.repo}`, () =>
      publish({
        binariesRoot: this.data.binaries,
        docsRoot: this.data.docs,
        repo: source.repo,
        commit: revision.commit,
        version,
        branch: revision.branch,
        workspace: build.workspace,
        mirror,
        artifacts: job.artifacts,
        docs: job.docs,
        buildId: build.id,
        requestedAt,
        forced: request.forced ?? false,
        pull: request.pull?.number,
      }),
    );
    for (const note of result.notes) log.note(note);
    if (result.binariesDir) log.note(`published ${result.artifacts.length} artifact(s) to ${result.binariesDir}`);
    if (result.docsDir) log.note(`published docs to ${result.docsDir}`);
    if (request.afterPublish && (result.binariesDir || result.docsDir)) {
      const publication: LocalPublication = {
        repo: source.repo,
        commit: revision.commit,
        version,
        branch: revision.branch,
        buildId: build.id,
        requestedAt,
        forced: request.forced ?? false,
        binariesDir: result.binariesDir,
        docsDir: result.docsDir,
        signal: request.signal,
        // The CI server publishes it under the pull request too, never at a branch's or the commit's place.
        pull: request.pull?.number,
      };
      try {
        const lines = await request.afterPublish(publication);
        for (const line of lines) log.note(line);
      } catch (err) {
        log.note(`after publishing: ${(err as Error).message} (the build stands)`);
      }
    }
    return { artifacts: result.artifacts, published: { binaries: result.binariesDir, docs: result.docsDir } };
  }
}

/** Why a revision is not one of a job's `branches:`: which branch it is, or that it is none. */
function notOnListedBranch(revision: Revision): string {
  if (revision.branch !== null) return `does not include ${revision.branch}`;
  if (revision.ref?.startsWith('refs/tags/')) return `matches branches only, not tag ${revision.ref.slice('refs/tags/'.length)}`;
  if (revision.ref?.startsWith('refs/pull/')) return `matches branches only, not pull request ref ${revision.ref}`;
  return `matches branches only, not ${revision.ref ?? `commit ${revision.commit.slice(0, 12)}`}`;
}

/** One job of a build, as `build` found it. */
interface JobContext {
  source: Source;
  mirror: string;
  revision: Revision;
  file: BuildFile;
  name: string;
  job: Job;
  request: BuildRequest;
}

/** The job's limits, or the refusal of what it asked above the ceilings. */
function limitsOf(job: Job, ceilings: Partial<Limits> | undefined): Limits | LimitAboveCeilingError {
  try {
    return resolveLimits({ ...job.limits, timeout: job.timeout }, ceilings);
  } catch (err) {
    if (err instanceof LimitAboveCeilingError) return err;
    throw err;
  }
}

/** The result of a job not built again: what its earlier build recorded. */
function reusedResult(name: string, record: BuildRecord): JobResult {
  return {
    job: name,
    buildId: record.id,
    status: record.status,
    built: false,
    exitCode: record.exitCode,
    message: record.message,
    artifacts: record.artifacts,
    logPath: record.logPath,
  };
}
