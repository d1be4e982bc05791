/**
 * A build worker: consumes build requests from NSQ (nsqjs) and runs the builder.
 *
 * One channel per job kind, as Docker had "binaries" and "docs": every channel gets every
 * push, and a worker builds the job its channel is named after. Messages are kept alive
 * with TOUCH while the build runs and finished once the build has a final status; an
 * infrastructure error is requeued (without backing off the whole reader) and, after the
 * last attempt, sent to a dead-letter topic.
 */
import * as os from 'node:os';

import { Message, Reader } from 'nsqjs';

import { BuildError, isPermanentFailure } from './errors';
import { BuildEvent, Builder } from './builder';
import { Logger } from './logger';
import { publish } from './nsq-http';
import { buildRequestSchema, BuildMessage } from './push-event';
import { BuildStore } from './store';

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
  builder: Builder;
  store: BuildStore;
  log: Logger;
}

interface Running {
  message: Message;
  abort: AbortController;
  buildIds: Set<number>;
  done: Promise<void>;
}

export class Worker {
  #reader: Reader | undefined;
  readonly #running = new Set<Running>();
  #stopping = false;
  #watch: NodeJS.Timeout | undefined;

  constructor(private readonly options: WorkerOptions) {}

  get job(): string {
    return this.options.job ?? this.options.channel;
  }

  async start(): Promise<void> {
    const o = this.options;
    await this.checkMessageTimeout();
    this.#reader = new Reader(o.topic, o.channel, {
      lookupdHTTPAddresses: o.lookupd ?? [],
      nsqdTCPAddresses: o.nsqd ?? [],
      maxInFlight: o.concurrency,
      // Attempts are counted here, to dead-letter with a reason instead of discarding.
      maxAttempts: 0,
      lookupdPollInterval: 1,
      requeueDelay: o.requeueDelayMs / 1000,
    } as ConstructorParameters<typeof Reader>[2]);
    // Without a listener, nsqjs's E_TOUCH_FAILED / E_FIN_FAILED would crash the process.
    this.#reader.on('error', (err: Error) => o.log.warn({ err: err.message }, 'nsq error'));
    this.#reader.on('nsqd_connected', (host: string, port: number) => o.log.info({ nsqd: `${host}:${port}` }, 'connected'));
    this.#reader.on('message', (message: Message) => this.onMessage(message));
    this.#reader.connect();
    // Builds cancelled by another worker (supersede) are noticed here.
    this.#watch = setInterval(() => this.stopCancelledBuilds(), 500);
    o.log.info({ topic: o.topic, channel: o.channel, job: this.job, concurrency: o.concurrency }, 'worker started');
  }

  /**
   * Refuses to start when nsqd would hand a message out again before a build may end:
   * TOUCH cannot keep a message past nsqd's --max-msg-timeout.
   */
  private async checkMessageTimeout(): Promise<void> {
    const response = await fetch(`http://${this.options.publishTo}/config/max_msg_timeout`, { signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`cannot read max_msg_timeout from nsqd ${this.options.publishTo}: ${response.status}`);
    const maxMsgTimeoutMs = Number(await response.text()) / 1e6;
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
    const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), graceMs).unref());
    if ((await Promise.race([all.then(() => 'done' as const), timer])) === 'late') {
      this.options.log.warn({ running: this.#running.size }, 'grace period over: cancelling and requeueing');
      for (const r of this.#running) r.abort.abort('worker stopping');
      await all;
    }
    clearInterval(this.#watch);
    this.#reader?.close();
  }

  private onMessage(message: Message): void {
    const running: Running = { message, abort: new AbortController(), buildIds: new Set(), done: Promise.resolve() };
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
    const log = o.log.child({ delivery: request.delivery, repo: request.repo, after: request.after.slice(0, 12), attempt: message.attempts });
    // Keep the message ours while the build runs: TOUCH well before nsqd's timeout.
    const touch = setInterval(() => message.touch(), Math.max(500, Math.min(30_000, (message as unknown as { msgTimeout: number }).msgTimeout / 2 || 30_000)));
    try {
      const branch = request.ref.startsWith('refs/heads/') ? request.ref.slice('refs/heads/'.length) : null;
      if (branch && o.supersede) {
        const newer = o.store.newerRequest({ repo: request.repo, branch, job: this.job, requestedAt: request.receivedAt });
        if (newer) {
          log.info({ newer: newer.commit.slice(0, 12) }, 'superseded by a newer push before it started');
          message.finish();
          return;
        }
        const cancelled = o.store.supersede({ repo: request.repo, branch, job: this.job, commit: request.after, requestedAt: request.receivedAt });
        if (cancelled > 0) log.info({ cancelled }, 'older builds of this branch superseded');
      }
      const results = await o.builder.build({
        source: request.cloneUrl,
        repo: request.repo,
        ref: request.ref,
        commit: request.after,
        job: this.job,
        requestedAt: request.receivedAt,
        forced: request.forced ?? false,
        signal: running.abort.signal,
        onEvent: (event) => this.publishEvent(event, running),
      }).catch((err: unknown) => {
        if ((err as Error).message?.startsWith(`no job "${this.job}"`)) return [];
        throw err;
      });
      const [result] = results;
      if (!result) {
        log.info({ job: this.job }, 'no such job for this push; acknowledged');
        message.finish();
      } else if (result.status === 'cancelled' && this.#stopping) {
        log.info({ build: result.buildId }, 'cancelled by shutdown; requeued for another worker');
        message.requeue(0, false);
      } else if (result.status === 'error') {
        this.retryOrDeadLetter(message, request, new BuildError(result.message ?? 'build error'), log);
      } else {
        log.info({ build: result.buildId, status: result.status, built: result.built }, 'build finished');
        message.finish();
      }
    } catch (err) {
      if (isPermanentFailure(err)) {
        log.warn({ err: (err as Error).message }, 'nothing to build; acknowledged');
        message.finish();
      } else {
        this.retryOrDeadLetter(message, request, err as Error, log);
      }
    } finally {
      clearInterval(touch);
    }
  }

  private retryOrDeadLetter(message: Message, request: BuildMessage, err: Error, log: Logger): void {
    const o = this.options;
    if (message.attempts >= o.maxAttempts) {
      log.error({ err: err.message, attempts: message.attempts }, 'giving up: sent to the dead-letter topic');
      const branch = request.ref.startsWith('refs/heads/') ? request.ref.slice('refs/heads/'.length) : null;
      const failed = o.store.list({ repo: request.repo, limit: 1000 }).find((b) => b.commit === request.after && b.job === this.job);
      if (!failed || !['error', 'failure'].includes(failed.status)) {
        o.store.recordError(
          { repo: request.repo, cloneUrl: request.cloneUrl, commit: request.after, ref: request.ref, branch, job: this.job, requestedAt: request.receivedAt },
          `gave up after ${message.attempts} attempts: ${err.message}`,
        );
      }
      const letter = JSON.stringify({ request, reason: err.message, attempts: message.attempts, job: this.job, worker: os.hostname() });
      publish(o.publishTo, `${o.topic}.dead`, letter).then(
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

  private publishEvent(event: BuildEvent, running: Running): void {
    running.buildIds.add(event.build.id);
    const body = JSON.stringify({ ...event, worker: os.hostname(), job: this.job, at: Date.now() });
    publish(this.options.publishTo, this.options.eventsTopic, body).catch((err: Error) =>
      this.options.log.warn({ err: err.message }, 'build event not published'),
    );
  }

  private stopCancelledBuilds(): void {
    for (const r of this.#running) {
      for (const id of r.buildIds) {
        const build = this.options.store.get(id);
        if (build?.status === 'cancelled' && !r.abort.signal.aborted) {
          this.options.log.info({ build: id, why: build.message }, 'cancelling');
          r.abort.abort(build.message ?? 'cancelled');
        }
      }
    }
  }
}
