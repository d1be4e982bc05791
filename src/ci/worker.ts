/**
 * A build worker: consumes build requests from NSQ (nsqjs) and runs the builder.
 *
 * One channel per job kind, as Docker had "binaries" and "docs": every channel gets every
 * push, and a worker builds the job its channel is named after. Messages are kept alive
 * with TOUCH while the build runs and finished once the build has a final status; an
 * infrastructure error is requeued (without backing off the whole reader) and, after the
 * last attempt, sent to a dead-letter topic. A job's `branches:` is honoured.
 *
 * Supersede: besides its job channel, each worker reads every push through a channel of
 * its own (`<channel>.watch-<random>#ephemeral`, memory-only, gone with the worker). A worker
 * busy with a build does not take the next message of its job channel (maxInFlight =
 * concurrency), but it still sees a newer push to the same branch there and cancels the
 * older build at once; the older push, if it had not started, is recorded as cancelled
 * "superseded by <sha>" when it comes. This works with one worker per channel and across
 * machines (no shared database needed), and holds no job message back from idle workers.
 *
 * Control: each worker also reads the CI server's control topic (`lxcts.control`, see
 * control-message.ts) through an ephemeral channel of its own: a cancel stops the running
 * build it names ("cancelled by <who>"), and a later delivery of the same push is recorded
 * cancelled when it comes. A re-run (the push again, with `rerun` and `jobs`) builds only
 * the jobs it names, even when they already succeeded, and neither supersedes nor is
 * superseded.
 *
 * Fork approval (--fork-approval): a fork's pull request without a maintainer's approval is
 * not built. The jobs that would run are told to the CI server (a `waiting` event each, see
 * src/server/approval.ts) and the message is finished: nothing is recorded here, nothing
 * waits in nsqd. The server sends the request again with `approval` once approved.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

import { Message, Reader } from 'nsqjs';

import { CancelMemory, CONTROL_TOPIC, controlMessageSchema, type ControlMessage } from './control-message';
import { BuildError, isPermanentFailure } from './errors';
import { BuildEvent, Builder, BuildRequest } from './builder';
import { Logger } from './logger';
import { LogChunks, LOGS_TOPIC } from './log-chunks';
import { MessageSeal, onSealedMessage } from './message-seal';
import { createTopicAndChannels, readMaxMsgTimeoutMs } from './nsq-api';
import { buildRequestSchema, BuildMessage } from './push-event';
import { secretsAllowed } from './secrets';
import { BuildStore } from './store';
import { NOTHING_PUBLISHED } from './build-events';
import { UNFINISHED_STATUSES } from './build-status';
import { MAX_PERSON, oneLine } from './commit-info';

export interface WorkerOptions {
  topic: string;
  channel: string;
  /** The job this worker builds. Default: the channel's name. */
  job?: string;
  /** nsqlookupd HTTP addresses (host:port) to discover nsqd through... */
  lookupd?: string[];
  /** ...or nsqd TCP addresses to connect to directly. */
  nsqd?: string[];
  /** An nsqd HTTP address to publish build events and dead letters to. */
  publishTo: string;
  concurrency: number;
  /** Deliveries of a message before it goes to the dead-letter topic. */
  maxAttempts: number;
  requeueDelayMs: number;
  /** The longest a build may take; must fit in nsqd's --max-msg-timeout. */
  buildTimeoutMs: number;
  /** Cancel an older build of the same branch when a newer push arrives. */
  supersede: boolean;
  eventsTopic: string;
  /**
   * Publish build output as numbered chunks (log-chunks.ts) for the CI server's live log.
   * Off by default: nothing consumes the topic without a server, and nsqd would keep every
   * chunk of every build forever.
   */
  liveLogs?: boolean;
  /** Where build output goes as numbered chunks. Default: lxcts.logs. */
  logsTopic?: string;
  /** After each job published here (e.g. the upload to the CI server); see BuildRequest. */
  afterPublish?: BuildRequest['afterPublish'];
  /** Where the CI server sends cancels. Default: lxcts.control. */
  controlTopic?: string;
  /** A fork's pull request is built only with a maintainer's approval (see the top of this file). */
  forkApproval?: boolean;
  /** Seals what it publishes and opens what it reads (message-seal.ts). Default: none, nsqd trusted. */
  seal?: MessageSeal;
  builder: Builder;
  store: BuildStore;
  log: Logger;
}

interface Running {
  message: Message;
  /** Set once the message is parsed. */
  request?: BuildMessage;
  abort: AbortController;
  buildIds: Set<number>;
  /** Per build: its key across machines and the number of its last event, as published (the CI server names a build by its key). */
  events: Map<number, { key: string; seq: number }>;
  /** The build key the live log chunks go to (the newest build of the message). */
  logsKey?: string;
  /** The builds' output, on its way to the logs topic. */
  logs?: LogChunks;
  /** The approved waiting build's key was taken by the build (its events go on under it). */
  adopted?: boolean;
  done: Promise<void>;
}

/** The branch a ref names, or null (tags, pull requests). */
function branchOf(ref: string): string | null {
  return ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null;
}

/**
 * What a newer request supersedes within: a branch (`main`), or a pull request (`#12`, its
 * ref refs/pull/12/head); null for tags.
 */
function laneOf(request: BuildMessage): string | null {
  return request.pull ? `#${request.pull.number}` : branchOf(request.ref);
}

/** How many closed pull requests a worker remembers (their queued builds are cancelled when they come). */
const CLOSED_MAX = 1000;

/** Resolves once nsqjs has written a message's FIN or REQ (it does so on the next tick). */
function responded(message: Message): Promise<void> {
  if ((message as unknown as { hasResponded: boolean }).hasResponded) return Promise.resolve();
  return once(message, 'respond').then(() => undefined);
}

export class Worker {
  #reader: Reader | undefined;
  /** Every push, for supersede (see the top of this file). */
  #watcher: Reader | undefined;
  /** The CI server's control topic (cancels). */
  #control: Reader | undefined;
  readonly #cancels = new CancelMemory();
  readonly #running = new Set<Running>();
  /** The newest push seen per repo and branch: pushes older than it are superseded. */
  readonly #newest = new Map<string, { after: string; receivedAt: number }>();
  /** When each pull request (repo and number) was last closed: its builds asked for before then are cancelled. */
  readonly #closed = new Map<string, number>();
  /** REQs sent on shutdown, to be on the wire before the connection closes. */
  readonly #requeued: Promise<void>[] = [];
  #stopping = false;
  #watch: NodeJS.Timeout | undefined;

  readonly #seal: MessageSeal;

  constructor(private readonly options: WorkerOptions) {
    this.#seal = options.seal ?? new MessageSeal(null);
  }

  get job(): string {
    return this.options.job ?? this.options.channel;
  }

  async start(): Promise<void> {
    const o = this.options;
    await this.checkMessageTimeout();
    // Builds a dead builder of this machine left running become errors, and the server is told.
    for (const build of await o.builder.sweep()) {
      o.log.warn({ build: build.id }, 'swept a build whose builder died');
      this.publishEvent({ type: 'finished', build, published: NOTHING_PUBLISHED });
    }
    // Durable from now on, on the nsqd we publish to: pushes made while this worker is down
    // are kept for it. (The receiver's --channel does the same before its first publish.)
    await createTopicAndChannels(o.publishTo, o.topic, [o.channel]).catch((err: Error) =>
      o.log.warn({ err: err.message }, 'could not create the channel on nsqd ahead of time'),
    );
    const discovery = { lookupdHTTPAddresses: o.lookupd ?? [], nsqdTCPAddresses: o.nsqd ?? [], lookupdPollInterval: 1 };
    this.#reader = new Reader(o.topic, o.channel, {
      ...discovery,
      maxInFlight: o.concurrency,
      // Attempts are counted here, to dead-letter with a reason instead of discarding.
      maxAttempts: 0,
      requeueDelay: o.requeueDelayMs / 1000,
    });
    // Without a listener, nsqjs's E_TOUCH_FAILED / E_FIN_FAILED would crash the process.
    this.#reader.on('error', (err: Error) => o.log.warn({ err: err.message }, 'nsq error'));
    this.#reader.on('nsqd_connected', (host: string, port: number) => o.log.info({ nsqd: `${host}:${port}` }, 'connected'));
    onSealedMessage(this.#reader, o.topic, this.#seal, o.log, (message) => this.onMessage(message));
    this.#reader.connect();
    if (o.supersede) {
      const channel = `${o.channel.slice(0, 30)}.watch-${randomBytes(4).toString('hex')}#ephemeral`;
      this.#watcher = new Reader(o.topic, channel, { ...discovery, maxInFlight: 100 });
      this.#watcher.on('error', (err: Error) => o.log.warn({ err: err.message }, 'nsq error (supersede watch)'));
      onSealedMessage(this.#watcher, o.topic, this.#seal, o.log, (message) => {
        message.finish();
        const parsed = buildRequestSchema.safeParse(message.json());
        // A push this worker would refuse to build must not cancel the builds it runs; a re-run, or a push
        // for other jobs only, cancels nothing.
        const forThisJob = parsed.success && !parsed.data.rerun && (parsed.data.jobs?.includes(this.job) ?? true);
        if (parsed.success && forThisJob) void this.refusal(parsed.data).then((refused) => refused === null && this.noteNewest(parsed.data));
      });
      this.#watcher.connect();
    }
    this.watchControl(discovery);
    // Builds cancelled by another worker (supersede) are noticed here.
    this.#watch = setInterval(() => this.stopCancelledBuilds(), 500);
    o.log.info({ topic: o.topic, channel: o.channel, job: this.job, concurrency: o.concurrency }, 'worker started');
  }

  /** Reads the control topic on an ephemeral channel of this worker's own: every worker sees every cancel. */
  private watchControl(discovery: { lookupdHTTPAddresses: string[]; nsqdTCPAddresses: string[]; lookupdPollInterval: number }): void {
    const o = this.options;
    const topic = o.controlTopic ?? CONTROL_TOPIC;
    // So that nsqlookupd knows the topic before the server's first cancel (SUB would make it only on the nsqd given).
    void createTopicAndChannels(o.publishTo, topic, []).catch((err: Error) => o.log.warn({ err: err.message }, 'could not create the control topic'));
    const channel = `${o.channel.slice(0, 30)}.control-${randomBytes(4).toString('hex')}#ephemeral`;
    this.#control = new Reader(topic, channel, { ...discovery, maxInFlight: 100 });
    this.#control.on('error', (err: Error) => o.log.warn({ err: err.message }, 'nsq error (control)'));
    onSealedMessage(this.#control, topic, this.#seal, o.log, (message) => {
      message.finish();
      let body: unknown;
      try {
        body = message.json();
      } catch {
        body = undefined; // not JSON: refused below like any other bad message
      }
      const parsed = controlMessageSchema.safeParse(body);
      if (!parsed.success) o.log.warn({ id: message.id, err: parsed.error.issues[0]?.message }, 'not a control message; dropped');
      else this.onControl(parsed.data);
    });
    this.#control.connect();
  }

  /** A cancel: remembered for later deliveries, and the running build it names is stopped. */
  private onControl(control: ControlMessage): void {
    if (control.job !== this.job) return;
    this.#cancels.remember(control);
    for (const r of this.#running) {
      const ours = [...r.events.values()].some((e) => e.key === control.key);
      if (!ours || r.abort.signal.aborted || r.request?.repo !== control.repo || r.request.after !== control.commit) continue;
      this.options.log.info({ repo: control.repo, commit: control.commit.slice(0, 12), by: control.by }, 'cancelled from the CI server');
      r.abort.abort(`cancelled by ${control.by}`);
    }
  }

  /**
   * Refuses to start when nsqd would hand a message out again before a build may end:
   * TOUCH cannot keep a message past nsqd's --max-msg-timeout.
   */
  private async checkMessageTimeout(): Promise<void> {
    const maxMsgTimeoutMs = await readMaxMsgTimeoutMs(this.options.publishTo);
    if (this.options.buildTimeoutMs > maxMsgTimeoutMs) {
      throw new Error(
        `builds may take ${this.options.buildTimeoutMs / 1000} s but nsqd ${this.options.publishTo} keeps a message at most ` +
          `${maxMsgTimeoutMs / 1000} s: start nsqd with --max-msg-timeout=${Math.ceil(this.options.buildTimeoutMs / 1000)}s ` +
          'or lower --build-timeout',
      );
    }
  }

  /**
   * Stops taking messages, lets running builds finish for `graceMs`, then cancels the
   * rest and requeues their messages for another worker.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    this.#reader?.pause();
    const all = Promise.all([...this.#running].map((r) => r.done));
    const timer = sleep(graceMs, 'late' as const, { ref: false });
    if ((await Promise.race([all.then(() => 'done' as const), timer])) === 'late') {
      this.options.log.warn({ running: this.#running.size }, 'grace period over: cancelling and requeueing');
      for (const r of this.#running) r.abort.abort('worker stopping');
      await all;
    }
    clearInterval(this.#watch);
    // nsqjs writes a REQ on the next tick, and close() destroys the socket at once: without
    // this wait the REQ was lost and the message came back only after nsqd's --msg-timeout.
    await Promise.all(this.#requeued);
    await sleep(100);
    this.#reader?.close();
    this.#watcher?.close();
    this.#control?.close();
  }

  /**
   * Remembers the newest push of each branch, and cancels this worker's running build of
   * an older push to that branch ("superseded by <sha>").
   */
  private noteNewest(request: BuildMessage): void {
    if (request.pull?.action === 'closed') return this.noteClosed(request);
    const branch = laneOf(request);
    if (!branch || !this.options.supersede || request.rerun) return;
    const key = `${request.repo}\0${branch}`;
    const known = this.#newest.get(key);
    if (!known || known.receivedAt < request.receivedAt) this.#newest.set(key, { after: request.after, receivedAt: request.receivedAt });
    for (const r of this.#running) {
      const older = r.request;
      if (!older || older.rerun || older.repo !== request.repo || older.ref !== request.ref || r.abort.signal.aborted) continue;
      if (older.receivedAt < request.receivedAt && older.after !== request.after) {
        this.options.log.info(
          { repo: older.repo, branch, older: older.after.slice(0, 12), newer: request.after.slice(0, 12) },
          'newer push: cancelling the older build',
        );
        r.abort.abort(`superseded by ${request.after.slice(0, 12)}`);
      }
    }
  }

  /**
   * A pull request was closed: its running builds asked for before are cancelled, and so
   * are its queued ones when they come (whatever --no-supersede says: nothing will look).
   */
  private noteClosed(request: BuildMessage): void {
    const key = `${request.repo}\0${laneOf(request)}`;
    this.#closed.delete(key);
    this.#closed.set(key, Math.max(request.receivedAt, this.#closed.get(key) ?? 0));
    for (const oldest of this.#closed.keys()) {
      if (this.#closed.size <= CLOSED_MAX) break;
      this.#closed.delete(oldest);
    }
    for (const r of this.#running) {
      const older = r.request;
      if (!older?.pull || older.repo !== request.repo || older.pull.number !== request.pull?.number || r.abort.signal.aborted) continue;
      if (older.receivedAt >= request.receivedAt) continue;
      this.options.log.info({ repo: older.repo, pull: older.pull.number }, 'pull request closed: cancelling its build');
      r.abort.abort(`cancelled by the close of #${older.pull.number}`);
    }
  }

  /** The close of the pull request that came after `request`, if any. */
  private closedAfter(request: BuildMessage): boolean {
    const closedAt = request.pull ? this.#closed.get(`${request.repo}\0${laneOf(request)}`) : undefined;
    return closedAt !== undefined && closedAt > request.receivedAt;
  }

  /**
   * Why the builder's source policy refuses the push's clone URL, or null; a lookup that
   * failed (DNS down) is not a refusal: the build retries it.
   */
  private async refusal(request: BuildMessage): Promise<string | null> {
    try {
      await this.options.builder.checkSource(request.cloneUrl);
      return null;
    } catch (err) {
      return isPermanentFailure(err) ? (err as Error).message : null;
    }
  }

  /** A newer push to the same branch and job than `request`, seen here or recorded on this machine. */
  private newerThan(request: BuildMessage, branch: string): string | undefined {
    const seen = this.newerSeen(request, branch);
    if (seen) return seen;
    const recorded = this.options.store.newerRequest({ repo: request.repo, branch, job: this.job, requestedAt: request.receivedAt });
    return recorded && recorded.commit !== request.after ? recorded.commit : undefined;
  }

  /** A newer push to the same branch or pull request (`lane`) that this worker saw. */
  private newerSeen(request: BuildMessage, lane: string): string | undefined {
    const seen = this.#newest.get(`${request.repo}\0${lane}`);
    return seen && seen.receivedAt > request.receivedAt && seen.after !== request.after ? seen.after : undefined;
  }

  private onMessage(message: Message): void {
    const running: Running = { message, abort: new AbortController(), buildIds: new Set(), events: new Map(), done: Promise.resolve() };
    running.done = this.handle(message, running).finally(() => this.#running.delete(running));
    this.#running.add(running);
  }

  private async handle(message: Message, running: Running): Promise<void> {
    const o = this.options;
    let request: BuildMessage;
    try {
      request = buildRequestSchema.parse(message.json());
    } catch (err) {
      o.log.error({ id: message.id, err: (err as Error).message }, 'not a build request; dropped');
      message.finish();
      return;
    }
    const refused = await this.refusal(request);
    if (refused !== null) {
      o.log.warn({ delivery: request.delivery, repo: request.repo, err: refused }, 'source refused by this worker; acknowledged, nothing recorded');
      message.finish();
      return;
    }
    if (request.jobs && !request.jobs.includes(this.job)) {
      o.log.info({ delivery: request.delivery, repo: request.repo, jobs: request.jobs }, 'not asked of this job; acknowledged');
      message.finish();
      return;
    }
    running.request = request;
    this.noteNewest(request);
    if (request.pull?.action === 'closed') {
      // What waits for approval of it on the server is cancelled there.
      if (o.forkApproval && request.pull.fork) this.publishWire({ type: 'pull-closed', worker: os.hostname(), at: Date.now(), job: this.job, request });
      o.log.info(
        { delivery: request.delivery, repo: request.repo, pull: request.pull.number },
        'pull request closed: its older builds cancelled; nothing to build',
      );
      message.finish();
      return;
    }
    const log = o.log.child({ delivery: request.delivery, repo: request.repo, after: request.after.slice(0, 12), attempt: message.attempts });
    // The build's output, besides its log file, as numbered chunks for the CI server.
    if (o.liveLogs) {
      running.logs = new LogChunks({
        send: (body) => this.#seal.publish(o.publishTo, o.logsTopic ?? LOGS_TOPIC, body),
        onLost: (err, chunk) => log.warn({ err: err.message, ...chunk }, 'log chunk not published (the local log has it)'),
      });
    }
    // Keep the message ours while the build runs: TOUCH well before nsqd's timeout.
    const touch = setInterval(() => message.touch(), Math.max(500, Math.min(30_000, (message as unknown as { msgTimeout: number }).msgTimeout / 2 || 30_000)));
    try {
      const branch = branchOf(request.ref);
      let supersededBy: string | undefined;
      const closed = this.closedAfter(request) ? `cancelled by the close of #${request.pull?.number}` : undefined;
      const cancelled = this.#cancels.covering(request, this.job);
      if (cancelled) log.info({ by: cancelled.by }, 'cancelled from the CI server before it started');
      if (request.pull && o.supersede && !request.rerun && !cancelled) {
        // Newer pushes to the pull request this worker saw (its watch channel); the store's
        // supersede keys on branches, which a pull request's builds have none of.
        supersededBy = this.newerSeen(request, `#${request.pull.number}`);
        if (supersededBy) log.info({ newer: supersededBy.slice(0, 12) }, 'superseded by a newer push to the pull request before it started');
      }
      if (branch && o.supersede && !request.rerun && !cancelled) {
        supersededBy = this.newerThan(request, branch);
        if (supersededBy) {
          log.info({ newer: supersededBy.slice(0, 12) }, 'superseded by a newer push before it started');
        } else {
          // Builds of this machine's other workers of the channel (they watch the store).
          const cancelled = o.store.supersede({ repo: request.repo, branch, job: this.job, commit: request.after, requestedAt: request.receivedAt });
          if (cancelled > 0) log.info({ cancelled }, 'older builds of this branch superseded');
        }
      }
      const skipped: string[] = [];
      let noSuchJob: string | undefined;
      let held = 0;
      const awaitsApproval = o.forkApproval === true && request.pull?.fork === true && request.approval === undefined;
      const results = await o.builder
        .build({
          source: request.cloneUrl,
          repo: request.repo,
          ref: request.ref,
          commit: request.after,
          job: this.job,
          honourBranches: true,
          supersededBy,
          cancelled: cancelled ? `cancelled by ${cancelled.by}` : closed,
          pull: request.pull && {
            number: request.pull.number,
            baseRef: request.pull.baseRef,
            baseSha: request.pull.baseSha,
            fork: request.pull.fork,
            mergeable: request.pull.mergeable,
          },
          // A re-run stands where its original did (branch pointers, supersede), and builds again what succeeded.
          requestedAt: request.rerun?.requestedAt ?? request.receivedAt,
          // An approved wait recorded nothing: built even when the commit's job was, so that its page goes on.
          force: request.rerun !== undefined || request.approval?.waiting !== undefined,
          forced: request.forced ?? false,
          secrets: secretsAllowed(request),
          signal: running.abort.signal,
          pusher: request.pusher,
          output: running.logs,
          afterPublish: o.afterPublish,
          onEvent: (event) => this.publishEvent(event, running),
          onSkipped: (s) => skipped.push(s.reason),
          hold: awaitsApproval
            ? (job) => {
                held += 1;
                this.publishWire({ type: 'waiting', key: waitingKey(request.delivery, job.job), worker: os.hostname(), at: Date.now(), ...job, request });
              }
            : undefined,
        })
        .catch((err: unknown) => {
          if ((err as Error).message?.startsWith(`no job "${this.job}"`)) {
            noSuchJob = (err as Error).message;
            return [];
          }
          throw err;
        });
      const [result] = results;
      if (!result) {
        if (held > 0) log.info({ job: this.job, fork: request.pull?.headRepo }, "a fork's pull request: awaiting approval on the CI server; acknowledged");
        else if (skipped.length > 0) log.info({ job: this.job, why: skipped[0] }, 'job not run for this push; acknowledged');
        else log.info({ job: this.job, why: noSuchJob }, 'no such job for this push; acknowledged');
        message.finish();
      } else if (result.status === 'cancelled' && this.#stopping && !/^(superseded|cancelled) by /.test(result.message ?? '')) {
        log.info({ build: result.buildId }, 'cancelled by shutdown; requeued for another worker');
        // No delay, no backoff: another worker should take it now.
        this.#requeued.push(responded(message));
        message.requeue(0, false);
      } else if (result.status === 'error') {
        this.retryOrDeadLetter(message, request, new BuildError(result.message ?? 'build error'), log, running);
      } else {
        log.info({ build: result.buildId, status: result.status, built: result.built, message: result.message }, 'build finished');
        message.finish();
      }
    } catch (err) {
      // A build this attempt told the server about must not stay "running" there.
      this.endUnfinished(running, `build failed: ${(err as Error).message}`);
      if (isPermanentFailure(err)) {
        log.warn({ err: (err as Error).message }, 'nothing to build; acknowledged');
        message.finish();
      } else {
        this.retryOrDeadLetter(message, request, err as Error, log, running);
      }
    } finally {
      clearInterval(touch);
      await running.logs?.close();
    }
  }

  private retryOrDeadLetter(message: Message, request: BuildMessage, err: Error, log: Logger, running: Running): void {
    const o = this.options;
    if (message.attempts >= o.maxAttempts) {
      log.error({ err: err.message, attempts: message.attempts }, 'giving up: sent to the dead-letter topic');
      const branch = request.ref.startsWith('refs/heads/') ? request.ref.slice('refs/heads/'.length) : null;
      const failed = o.store.list({ repo: request.repo, limit: 1000 }).find((b) => b.commit === request.after && b.job === this.job);
      if (!failed || !['error', 'failure'].includes(failed.status)) {
        const recorded = o.store.recordError(
          {
            repo: request.repo,
            cloneUrl: request.cloneUrl,
            commit: request.after,
            ref: request.ref,
            branch,
            job: this.job,
            requestedAt: request.receivedAt,
            pusher: oneLine(request.pusher, MAX_PERSON),
          },
          `gave up after ${message.attempts} attempts: ${err.message}`,
        );
        // The server hears of it too: its final status, not a push that vanished (or a
        // build page "running" forever when an attempt had started one). Queued first: its
        // (empty) log is this message's.
        this.publishEvent({ type: 'queued', build: recorded }, running);
        this.publishEvent({ type: 'finished', build: recorded, published: NOTHING_PUBLISHED }, running);
      }
      const letter = JSON.stringify({ request, reason: err.message, attempts: message.attempts, job: this.job, worker: os.hostname() });
      this.#seal.publish(o.publishTo, `${o.topic}.dead`, letter).then(
        () => message.finish(),
        (publishErr: Error) => {
          log.error({ err: publishErr.message }, 'dead-letter topic unreachable; requeueing');
          message.requeue(o.requeueDelayMs, false);
        },
      );
      return;
    }
    log.warn({ err: err.message, attempts: message.attempts }, 'infrastructure error; requeued');
    // backoff = false: one failed build must not slow the whole reader down.
    message.requeue(o.requeueDelayMs, false);
  }

  /**
   * Publishes a build event with the build's key (a UUID, the same on every machine) and
   * its number within the build, both kept in the store (`nextEvent`): the server applies an
   * event only when it is newer than what it has, so replays and reordering do not change
   * the outcome, and a process that sweeps the build after this one died still numbers its
   * final event after every earlier one. Without `running` (a swept build), the event says
   * nothing of the log: this process did not send it.
   */
  private publishEvent(event: BuildEvent, running?: Running): void {
    running?.buildIds.add(event.build.id);
    const approved = running?.request?.approval?.waiting;
    if (running && approved && event.type === 'queued' && !running.adopted) {
      this.options.store.adoptEventKey(event.build.id, approved);
      running.adopted = true;
    }
    const { key, seq } = this.options.store.nextEvent(event.build.id);
    running?.events.set(event.build.id, { key, seq });
    // Every build's first event is `queued`: from then on the output is that build's.
    if (running?.logs && event.type === 'queued') {
      running.logs.bind(key);
      running.logsKey = key;
    }
    const pull = running?.request?.pull;
    // A pull request's build says which (the server asks for it again as such on a re-run);
    // not a build of another request this one's builder swept.
    const ofPull = pull &&
      event.build.repo === running?.request?.repo &&
      event.build.ref?.startsWith(`refs/pull/${pull.number}/`) && {
        pull: { number: pull.number, baseRef: pull.baseRef, baseSha: pull.baseSha, headRepo: pull.headRepo, fork: pull.fork },
      };
    const wire = { ...event, ...ofPull, key, seq, worker: os.hostname(), job: this.job, at: Date.now() };
    if (event.type === 'step-started') running?.logs?.step(event.step);
    // The finished event says how much log there is: everything written before it is counted.
    const logs = running?.logsKey === key ? running.logs : undefined;
    const body = event.type === 'finished' && logs ? logs.settle().then((log) => JSON.stringify({ ...wire, log })) : Promise.resolve(JSON.stringify(wire));
    body
      .then((text) => this.#seal.publish(this.options.publishTo, this.options.eventsTopic, text))
      .catch((err: Error) => this.options.log.warn({ err: err.message }, 'build event not published'));
  }

  /** Publishes a message of the events topic that is not a build's event (a wait, a close). */
  private publishWire(message: object): void {
    this.#seal
      .publish(this.options.publishTo, this.options.eventsTopic, JSON.stringify(message))
      .catch((err: Error) => this.options.log.warn({ err: err.message }, 'event not published'));
  }

  /**
   * Records every build of this message still queued or running as an error and tells the
   * server, when the builder threw after it had started them.
   */
  private endUnfinished(running: Running, message: string): void {
    for (const id of running.buildIds) {
      const build = this.options.store.get(id);
      if (!build || !(UNFINISHED_STATUSES as readonly string[]).includes(build.status)) continue;
      this.options.store.finished(id, { status: 'error', message });
      this.publishEvent({ type: 'finished', build: this.options.store.get(id) ?? build, published: NOTHING_PUBLISHED }, running);
    }
  }

  private stopCancelledBuilds(): void {
    for (const r of this.#running) {
      for (const id of r.buildIds) {
        const build = this.options.store.get(id);
        // A re-run is never superseded (another worker of this machine may have marked it so).
        const supersededRerun = r.request?.rerun !== undefined && build?.message?.startsWith('superseded') === true;
        if (build?.status === 'cancelled' && !r.abort.signal.aborted && !supersededRerun) {
          this.options.log.info({ build: id, why: build.message }, 'cancelling');
          r.abort.abort(build.message ?? 'cancelled');
        }
      }
    }
  }
}

/** The build key of a request's wait for approval: the same for the same delivery and job, so that a redelivery changes nothing. */
function waitingKey(delivery: string, job: string): string {
  const hex = createHash('sha256').update(`waiting\0${delivery}\0${job}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
