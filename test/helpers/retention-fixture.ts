/**
 * A data directory filled the way builds fill it, for the retention tests: each build() is
 * a record in the real store, a log file, and binaries and docs published by the real
 * publisher; ages are set with utimes.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { DataDir, openDataDir } from '../../src/ci/data-dir';
import { encodePointerName } from '../../src/ci/pointer-name';
import { publish } from '../../src/ci/publish';
import { BuildStatus, BuildStore } from '../../src/ci/store';

export const DAY_MS = 86_400_000;
export const REPO = 'octo/hello';

export interface FixtureBuild {
  id: number;
  commit: string;
  /** binaries/octo/hello/.versions/<sha>-<id> and docs/... */
  binaries: string;
  docs: string;
  log: string;
}

export class RetentionFixture {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-retention-'));
  readonly data: DataDir;
  readonly store: BuildStore;
  readonly workspace = path.join(this.root, 'workspace');
  readonly binariesRepo: string;
  readonly docsRepo: string;
  readonly #ownStore: boolean;
  #seq = 0;

  /** In a data directory of its own, or in `into` (a CiSandbox's) for builds of `repo`. */
  constructor(
    readonly repo = REPO,
    into?: { data: DataDir; store: BuildStore },
  ) {
    this.data = into?.data ?? openDataDir(path.join(this.root, 'data'));
    this.store = into?.store ?? new BuildStore(this.data.database);
    this.#ownStore = into === undefined;
    this.binariesRepo = path.join(this.data.binaries, ...repo.split('/'));
    this.docsRepo = path.join(this.data.docs, ...repo.split('/'));
    fs.mkdirSync(path.join(this.workspace, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(this.workspace, 'site'), { recursive: true });
    fs.writeFileSync(path.join(this.workspace, 'bin', 'app'), 'app\n');
    fs.writeFileSync(path.join(this.workspace, 'site', 'index.html'), '<h1>hello</h1>\n');
  }

  /** A finished (or running) build of `branch` (null: a tag build), published, `ageDays` old. */
  async build(options: { branch: string | null; ageDays: number; status?: BuildStatus; job?: string; ref?: string; pull?: number }): Promise<FixtureBuild> {
    const n = ++this.#seq;
    const commit = createHash('sha1').update(`commit ${n} ${this.root}`).digest('hex');
    const ref = options.ref ?? (options.pull ? `refs/pull/${options.pull}/merge` : options.branch ? `refs/heads/${options.branch}` : `refs/tags/v${n}`);
    const job = options.job ?? 'binaries';
    const { record } = this.store.claim({
      repo: REPO,
      cloneUrl: 'https://example.test/octo/hello.git',
      commit,
      ref,
      branch: options.branch,
      job,
      requestedAt: n,
    });
    const log = path.join(this.data.logs, `${record.id}.log`);
    fs.writeFileSync(log, `build ${record.id}\n`);
    this.store.started(record.id, { logPath: log, container: `c${record.id}` });
    const status = options.status ?? 'success';
    if (status !== 'running') this.store.finished(record.id, { status });
    await publish({
      binariesRoot: this.data.binaries,
      docsRoot: this.data.docs,
      repo: this.repo,
      commit,
      version: `v${n}`,
      branch: options.branch,
      workspace: this.workspace,
      mirror: '',
      isAncestor: () => Promise.resolve(true),
      artifacts: [{ path: 'bin', required: true }],
      docs: 'site',
      buildId: record.id,
      requestedAt: n,
      forced: false,
      pull: options.pull,
    });
    const name = `${commit}-${record.id}`;
    // A pull request's build publishes below pull/<N>/ (pull-request.ts).
    const below = options.pull === undefined ? [] : ['pull', String(options.pull)];
    const built = {
      id: record.id,
      commit,
      binaries: path.join(this.binariesRepo, ...below, '.versions', name),
      docs: path.join(this.docsRepo, ...below, '.versions', name),
      log,
    };
    this.age([built.binaries, built.docs, log], options.ageDays);
    return built;
  }

  /** Sets the time of each path (not followed if a link) to `days` ago. */
  age(paths: string[], days: number): void {
    const when = new Date(Date.now() - days * DAY_MS);
    for (const p of paths) fs.lutimesSync(p, when, when);
  }

  /** Points the branch `name` (binaries and docs) at `build`, as a pointer that did not move on would. */
  pin(name: string, build: FixtureBuild): void {
    const pointer = encodePointerName(name);
    fs.symlinkSync(build.commit, path.join(this.binariesRepo, pointer));
    fs.symlinkSync(path.join('.versions', path.basename(build.docs)), path.join(this.docsRepo, pointer));
  }

  exists(build: FixtureBuild): { binaries: boolean; commitLink: boolean; docs: boolean; log: boolean } {
    return {
      binaries: fs.existsSync(build.binaries),
      commitLink: fs.existsSync(path.join(this.binariesRepo, build.commit)),
      docs: fs.existsSync(build.docs),
      log: fs.existsSync(build.log),
    };
  }

  cleanup(): void {
    if (this.#ownStore) this.store.close();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
