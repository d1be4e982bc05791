/**
 * The builder: given a repository and a commit, runs the jobs its .lxcts.yml declares,
 * each in a brand-new container, and publishes what they produce. One machine, no queue:
 * the NSQ workers call exactly this.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';

import { Container } from '../lxc/container';
import { isLxcError } from '../lxc/errors';
import { exitCodeOf } from '../lxc/process';
import { listContainers } from '../lxc/system';
import { BUILD_FILE, BuildFile, BuildFileError, Job, jobRunsOn, parseBuildFile } from './build-file';
import { BUILD_CONTAINER_PREFIX, destroyBuildContainer, startBuildContainer } from './build-container';
import { BuildLog } from './build-log';
import { DataDir } from './data-dir';
import { isUserFailure, NoBuildFileError } from './errors';
import { checkout, checkRevisionName, describeCommit, fetchMirror, identify, readFileAt, resolveRevision, Revision, Source } from './git';
import { checkCloneUrl, SourcePolicy, STRICT_POLICY } from './clone-url';
import { buildFirewallFor, buildInterface, installBuildFirewall } from './build-firewall';
import { CheckoutTooBigError, DEFAULT_LIMITS, LimitAboveCeilingError, limitHit, Limits, resolveLimits } from './limits';
import { ScratchDisk, sweepScratch } from './scratch-disk';
import { publish } from './publish';
import { BuildRecord, BuildStatus, BuildStore } from './store';
import { ensureHostBase, HOST_BASE } from './bases';
import { buildIdRange } from './id-range';

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
  /** The push was a force-push: branch pointers follow it even to a non-descendant. */
  forced?: boolean;
  /** Aborting cancels the running step and records the build as cancelled. */
  signal?: AbortSignal;
  /** Build events, for the NSQ events topic and live views. */
  onEvent?: (event: BuildEvent) => void;
}

export type BuildEvent =
  | { type: 'queued' | 'started'; build: BuildRecord }
  /** `published` says where the worker that built it keeps binaries and docs (no shared disk is assumed). */
  | { type: 'finished'; build: BuildRecord; published: { binaries: string | null; docs: string | null } }
  | { type: 'step-started' | 'step-finished'; build: BuildRecord; step: number; command: string; exitCode?: number; seconds?: number };

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
}

/** A first clone of a big repository may hold a mirror's lock that long. */
const MIRROR_LOCK_TIMEOUT_MS = 60 * 60_000;

export class Builder {
  constructor(
    private readonly data: DataDir,
    private readonly store: BuildStore,
    private readonly options: BuilderOptions = {},
  ) {
    // Builds run unprivileged: without root's id range, refuse now (a worker at start-up),
    // with the fix, rather than fail every build.
    buildIdRange();
  }

  /**
   * Cleans up after builders that died (SIGKILL, power loss): their containers and
   * workspaces go, and their builds are recorded as errors. Run it at start-up.
   */
  async sweep(): Promise<BuildRecord[]> {
    const orphans = this.store.orphans();
    for (const build of orphans) {
      if (build.container) await destroyBuildContainer(build.container, this.data.containers).catch(() => undefined);
      this.store.finished(build.id, { status: 'error', message: 'builder died' });
    }
    // Containers no live build owns (a builder killed between clone and record).
    const live = new Set(this.store.list({ status: 'running', limit: 10_000 }).map((b) => b.container));
    for (const name of await listContainers({ lxcpath: this.data.containers })) {
      if (name.startsWith(BUILD_CONTAINER_PREFIX) && !live.has(name)) {
        await destroyBuildContainer(name, this.data.containers).catch(() => undefined);
      }
    }
    // Then their scratch filesystems (mounts, loop devices, images), once no container uses them.
    const running = new Set(this.store.list({ status: 'running', limit: 10_000 }).map((b) => String(b.id)));
    await sweepScratch(this.data.workspaces, running);
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
    if (this.store.orphans().length > 0) await this.sweep();
    // Names are checked before anything is fetched or written for them.
    if (request.ref !== undefined) checkRevisionName(request.ref);
    if (request.commit !== undefined) checkRevisionName(request.commit);
    // A push names its repository; a source given alone (ci build) is identified from itself.
    const source: Source = request.repo !== undefined ? { repo: request.repo, cloneUrl: request.source } : identify(request.source);
    const mirror = await fetchMirror(this.data.mirrors, source, this.options.sources ?? STRICT_POLICY, (name, fn) =>
      this.store.withLock(name, fn, MIRROR_LOCK_TIMEOUT_MS),
    );
    const revision = await resolveRevision(mirror, request.ref);
    if (request.commit && request.commit !== revision.commit) {
      // A webhook names the branch and the commit pushed: build that commit, record that branch.
      revision.commit = await resolveRevision(mirror, request.commit).then((r) => r.commit);
    }
    const text = await readFileAt(mirror, revision.commit, BUILD_FILE);
    if (text === null) throw new NoBuildFileError(`${source.repo} has no ${BUILD_FILE} at ${revision.commit.slice(0, 12)}`);
    let file: BuildFile;
    try {
      file = parseBuildFile(text, `${source.repo}@${revision.commit.slice(0, 12)}:${BUILD_FILE}`);
    } catch (err) {
      // When a job is named (every worker names its own), the invalid file is that job's
      // failure, recorded with the located error: a push never vanishes without a record.
      if (!(err instanceof BuildFileError) || request.job === undefined) throw err;
      return [this.recordOutcome(source, revision, request.job, request, 'failure', err.message)];
    }
    const jobs = this.selectJobs(file, revision, request);
    if (request.supersededBy) {
      const message = `superseded by ${request.supersededBy.slice(0, 12)}`;
      return jobs.map(([name]) => this.recordOutcome(source, revision, name, request, 'cancelled', message));
    }
    if (file.base === HOST_BASE) await ensureHostBase(this.data.bases);
    const results: JobResult[] = [];
    for (const [name, job] of jobs) {
      results.push(await this.runJob({ source, mirror, revision, file, name, job, request }));
    }
    return results;
  }

  private selectJobs(file: BuildFile, revision: Revision, request: BuildRequest): Array<[string, Job]> {
    const only = request.job;
    const runs = ([name, job]: [string, Job]): boolean => {
      if (jobRunsOn(job, revision.branch)) return true;
      const where = revision.branch === null ? `${revision.ref ?? revision.commit.slice(0, 12)} (not a branch)` : revision.branch;
      request.onSkipped?.({ job: name, reason: `branches: [${job.branches!.join(', ')}] does not include ${where}` });
      return false;
    };
    if (only !== undefined) {
      const job = file.jobs[only];
      if (!job) throw new Error(`no job "${only}" in ${BUILD_FILE}; it has: ${Object.keys(file.jobs).join(', ')}`);
      return !request.honourBranches || runs([only, job]) ? [[only, job]] : [];
    }
    return Object.entries(file.jobs).filter(runs);
  }

  /** The record of this (repo, commit, job): a new one, or the one already built or building. */
  private claim(source: Source, revision: Revision, name: string, request: BuildRequest): { record: BuildRecord; created: boolean } {
    return this.store.claim(
      {
        repo: source.repo,
        cloneUrl: source.cloneUrl,
        commit: revision.commit,
        ref: revision.ref,
        branch: revision.branch,
        job: name,
        requestedAt: request.requestedAt,
      },
      request.force,
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

  private async runJob(ctx: {
    source: Source;
    mirror: string;
    revision: Revision;
    file: BuildFile;
    name: string;
    job: Job;
    request: BuildRequest;
  }): Promise<JobResult> {
    const { source, mirror, revision, file, name, job, request } = ctx;
    const { record, created } = this.claim(source, revision, name, request);
    if (created) request.onEvent?.({ type: 'queued', build: record });
    if (!created) {
      request.output?.write(`==> ${name}: ${revision.commit.slice(0, 12)} already ${record.status} as build ${record.id}; not built again\n`);
      return reusedResult(name, record);
    }
    const id = record.id;
    const containerName = `${BUILD_CONTAINER_PREFIX}${id}`;
    let workspace = path.join(this.data.workspaces, String(id));
    // A job asking for more than the ceilings fails below, once its log exists to say so.
    let limits: Limits | undefined;
    let limitsRefused: unknown;
    try {
      limits = resolveLimits({ ...job.limits, timeout: job.timeout }, this.options.ceilings);
    } catch (err) {
      limitsRefused = err;
    }
    const log = new BuildLog(path.join(this.data.logs, `${id}.log`), request.output, limits?.log ?? DEFAULT_LIMITS.log);
    this.store.started(id, { logPath: log.path, container: containerName });
    const emit = (
      event:
        | Omit<Extract<BuildEvent, { step: number }>, 'build'>
        | { type: 'started' }
        | { type: 'finished'; published: { binaries: string | null; docs: string | null } },
    ) => {
      const build = this.store.get(id);
      if (!build) throw new Error(`build ${id} is not in the store`);
      request.onEvent?.({ ...event, build });
    };
    const published = { binaries: null as string | null, docs: null as string | null };
    emit({ type: 'started' });
    let status: BuildStatus = 'error';
    let exitCode: number | null = null;
    let message: string | null = null;
    let artifacts: string[] = [];
    let container: Container | undefined;
    let scratch: ScratchDisk | undefined;
    try {
      log.note(`build ${id}: ${source.repo} ${revision.ref ?? ''} ${revision.commit} job ${name} on base ${file.base}`);
      if (!limits) throw limitsRefused;
      let phaseStart = performance.now();
      // The checkout and the container's writes share one size-limited filesystem: the disk limit.
      scratch = await ScratchDisk.create(this.data.workspaces, String(id), limits.disk);
      workspace = scratch.workspace;
      const scratchMs = performance.now() - phaseStart;
      phaseStart = performance.now();
      await checkout(mirror, revision.commit, workspace).catch((err: Error) => {
        throw /No space left on device/.test(err.message) ? new CheckoutTooBigError(limits.disk, err) : err;
      });
      const checkoutMs = performance.now() - phaseStart;
      phaseStart = performance.now();
      const firewall = buildFirewallFor(this.data.root);
      if (job.network) await installBuildFirewall(firewall, this.options.bridge ?? 'lxcbr0');
      container = await startBuildContainer({
        basesPath: this.data.bases,
        containersPath: this.data.containers,
        base: file.base,
        name: containerName,
        workspace,
        job,
        limits,
        upper: scratch.upper,
        bridge: this.options.bridge ?? 'lxcbr0',
        hostInterface: buildInterface(firewall, id),
      });
      // Where a build's first seconds go, for people and for bench/ (workload 7).
      log.note(
        `scratch disk ${scratchMs.toFixed(1)} ms, checkout ${checkoutMs.toFixed(1)} ms, container ${containerName} ready in ${(performance.now() - phaseStart).toFixed(1)} ms`,
      );
      const outcome = await this.runSteps(container, job, limits, scratch.dir, name, revision, log, request.signal, emit);
      ({ status, exitCode, message } = outcome);
      // Nothing of the build may run while its output is read: a process left in the
      // background could swap a file for a link to a host file under the collector.
      await stopBeforeCollecting(container);
      log.note(`build container ${containerName} stopped`);
      if (status === 'success') {
        const version = await describeCommit(mirror, revision.commit);
        const result = await this.store.withLock(`publish:${source.repo}`, () =>
          publish({
            binariesRoot: this.data.binaries,
            docsRoot: this.data.docs,
            repo: source.repo,
            commit: revision.commit,
            version,
            branch: revision.branch,
            workspace,
            mirror,
            artifacts: job.artifacts,
            docs: job.docs,
            buildId: id,
            requestedAt: request.requestedAt ?? Date.parse(record.createdAt),
            forced: request.forced ?? false,
          }),
        );
        artifacts = result.artifacts;
        published.binaries = result.binariesDir;
        published.docs = result.docsDir;
        for (const note of result.notes) log.note(note);
        if (result.binariesDir) log.note(`published ${artifacts.length} artifact(s) to ${result.binariesDir}`);
        if (result.docsDir) log.note(`published docs to ${result.docsDir}`);
      }
    } catch (err) {
      // The user's mistakes are final, like a failing step: limits above the ceilings, a
      // checkout too big for the disk limit, output missing at publish time.
      status = isUserFailure(err) || err instanceof LimitAboveCeilingError || err instanceof CheckoutTooBigError ? 'failure' : 'error';
      message = (err as Error).message;
      if (isLxcError(err) && err.details.length > 0) message += ` (${err.details[err.details.length - 1]})`;
    } finally {
      // Whatever happened, the container and the checkout go.
      if (container) await container.release();
      await destroyBuildContainer(containerName, this.data.containers).catch((err: Error) => {
        status = 'error';
        message = `${message ?? ''}; cleanup failed: ${err.message}`;
      });
      try {
        if (scratch) await scratch.remove();
        else fs.rmSync(workspace, { recursive: true, force: true });
      } catch (err) {
        message = `${message ?? ''}; workspace not removed: ${(err as Error).message}`;
      }
      // The record is written whatever else fails, or the build would stay "running".
      this.store.finished(id, { status, exitCode, message, artifacts });
      log.note(`${name}: ${status}${message ? ` (${message})` : ''}`);
      await log.close();
      emit({ type: 'finished', published });
    }
    return { job: name, buildId: id, status, built: true, exitCode, message, artifacts, logPath: log.path };
  }

  private async runSteps(
    container: Container,
    job: Job,
    limits: Limits,
    scratchDir: string,
    name: string,
    revision: Revision,
    log: BuildLog,
    signal: AbortSignal | undefined,
    emit: (event: { type: 'step-started' | 'step-finished'; step: number; command: string; exitCode?: number; seconds?: number }) => void,
  ): Promise<{ status: BuildStatus; exitCode: number | null; message: string | null }> {
    const deadline = Date.now() + limits.timeout;
    const env = {
      ...job.env,
      CI: 'true',
      LXCTS: 'true',
      LXCTS_JOB: name,
      LXCTS_COMMIT: revision.commit,
      LXCTS_BRANCH: revision.branch ?? '',
      HOME: '/root',
    };
    for (const [i, step] of job.steps.entries()) {
      const label = `[${i + 1}/${job.steps.length}] ${step}`;
      log.note(label);
      const started = Date.now();
      const remaining = (deadline - started) / 1000;
      if (remaining <= 0) return { status: 'failure', exitCode: null, message: `timed out after ${limits.timeout / 1000} s (wall-clock limit)` };
      if (signal?.aborted) return { status: 'cancelled', exitCode: null, message: cancelReason(signal) };
      emit({ type: 'step-started', step: i + 1, command: step });
      const proc = await container.spawn(['/bin/sh', '-c', step], { cwd: '/workspace', env, timeout: remaining, signal });
      // Steps get end-of-file on stdin, as on any CI: a prompt must not wait for the timeout.
      proc.stdin.end();
      proc.stdout.on('data', (chunk: Buffer) => log.write(chunk));
      proc.stderr.on('data', (chunk: Buffer) => log.write(chunk));
      const outputDone = Promise.all([once(proc.stdout), once(proc.stderr)]);
      let exit;
      try {
        exit = await proc.wait();
      } catch (err) {
        if ((err as Error).name === 'AbortError') {
          log.note(`${label}: cancelled`);
          return { status: 'cancelled', exitCode: null, message: cancelReason(signal) };
        }
        if (isLxcError(err) && err.code === 'LXC_TIMEOUT') {
          log.note(`${label}: killed after ${((Date.now() - started) / 1000).toFixed(2)} s`);
          const limit = await limitHit(container, limits, scratchDir);
          return {
            status: 'failure',
            exitCode: null,
            message: `step ${i + 1} timed out: the job's wall-clock limit of ${limits.timeout / 1000} s was reached${limit ? ` (${limit})` : ''}`,
          };
        }
        throw err;
      }
      // A daemon started in the background (`redis-server &`) keeps the output pipes open
      // after the step exits; give the output a moment, then stop waiting for it.
      await Promise.race([outputDone, new Promise((r) => setTimeout(r, OUTPUT_DRAIN_MS))]);
      proc.stdout.destroy();
      proc.stderr.destroy();
      const code = exitCodeOf(exit);
      const seconds = (Date.now() - started) / 1000;
      log.note(`${label}: exit ${code} in ${seconds.toFixed(2)} s`);
      emit({ type: 'step-finished', step: i + 1, command: step, exitCode: code, seconds });
      if (code !== 0) {
        const limit = await limitHit(container, limits, scratchDir);
        const why = limit ? `: ${limit}` : '';
        return { status: 'failure', exitCode: code, message: `step ${i + 1} (${step}) exited ${code}${why}` };
      }
    }
    return { status: 'success', exitCode: 0, message: null };
  }
}

const OUTPUT_DRAIN_MS = 2000;

/** Kills every process of the build (stop is a SIGKILL of the container's init). */
async function stopBeforeCollecting(container: Container): Promise<void> {
  if (await container.running()) await container.stop();
  if (await container.running()) throw new Error('the build container did not stop; its output was not collected');
}

function cancelReason(signal: AbortSignal | undefined): string {
  const reason = signal?.reason as unknown;
  return typeof reason === 'string' ? reason : reason instanceof Error && reason.message ? reason.message : 'cancelled';
}

function once(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    stream.once('close', () => resolve());
    stream.once('end', () => resolve());
  });
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
