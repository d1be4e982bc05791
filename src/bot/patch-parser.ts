/**
 * `lxcts ci worker --channel patch-parser`: Docker's patch-parser bot on lxcts's pipeline.
 * It reads the push topic like a build worker, takes only pull requests (opened, reopened,
 * synchronize: what the receiver publishes), and for each one reads the pull request from
 * GitHub, plans the writes (plan.ts) and makes them (pull-request.ts).
 *
 * Delivery is at least once: the same event may come twice, or a retried one after a newer
 * one. Both are harmless: every write is compared with what GitHub shows first, and an event
 * whose head is no longer the pull request's head is acknowledged without a write (the newer
 * event does the work). A failure (GitHub down beyond the client's retries) requeues the
 * message; after the last attempt it is dropped with an error in the log: the next push to
 * the pull request tries again.
 */
import { Message, Reader } from 'nsqjs';

import type { Logger } from '../ci/logger';
import { MessageSeal, onSealedMessage } from '../ci/message-seal';
import { createTopicAndChannels } from '../ci/nsq-api';
import { buildRequestSchema, type BuildMessage } from '../ci/push-event';
import { plan } from './plan';
import { apply, readConfig, readState, type PullRequestRef, type Requester } from './pull-request';

export const PATCH_PARSER_CHANNEL = 'patch-parser';

/** nsqd's default --max-req-timeout: a longer requeue delay is refused. */
const MAX_REQUEUE_MS = 60 * 60_000;

export interface PatchParserOptions {
  topic: string;
  channel: string;
  lookupd?: string[];
  nsqd?: string[];
  /** An nsqd HTTP address: the channel is created there at start, to keep what comes while the bot is down. */
  publishTo: string;
  /** A client acting on a repository (src/github/client.ts's forRepo). */
  github: { forRepo(owner: string, repo: string): Promise<Requester> };
  /** Only comments by this account are the bot's (the login of the token's user, or `<app-slug>[bot]`). */
  botLogin?: string;
  maxAttempts: number;
  requeueDelayMs: number;
  /** Opens what it reads (message-seal.ts). Default: none, nsqd trusted. */
  seal?: MessageSeal;
  log: Logger;
}

/** The pull request a build request names (its ref is refs/pull/N/head), or null for a push or a closed pull request. */
export function pullRequestOf(request: BuildMessage): PullRequestRef | null {
  const match = /^refs\/pull\/([1-9][0-9]{0,9})\/head$/.exec(request.ref);
  if (request.kind !== 'pull_request' || !match) return null;
  // Requests that say their pull request's action (branch pulls) include `closed`: nothing to check then.
  if ((request as { pull?: { action?: string } }).pull?.action === 'closed') return null;
  const [owner, repo] = request.repo.split('/') as [string, string];
  return { owner, repo, number: Number(match[1]), headSha: request.after, baseSha: request.before };
}

/** Reads, plans and writes for one pull request; returns what it wrote (for the log). */
export async function parsePullRequest(api: Requester, pr: PullRequestRef, log: Logger, botLogin?: string): Promise<string[]> {
  const state = await readState(api, pr, botLogin);
  if (state === null) {
    log.info('the pull request has a newer head: left to its own event');
    return [];
  }
  const { config, problem } = await readConfig(api, pr);
  if (problem) log.warn({ problem }, "the base branch's build file is not usable; the patch parser's defaults apply");
  const actions = plan(state, config);
  await apply(api, pr, actions);
  return actions.map((a) => a.kind);
}

export class PatchParser {
  #reader: Reader | undefined;
  readonly #running = new Set<Promise<void>>();

  constructor(private readonly options: PatchParserOptions) {}

  async start(): Promise<void> {
    const o = this.options;
    await createTopicAndChannels(o.publishTo, o.topic, [o.channel]).catch((err: Error) =>
      o.log.warn({ err: err.message }, 'could not create the channel on nsqd ahead of time'),
    );
    // One pull request at a time: two events of the same one must not race to post a comment.
    this.#reader = new Reader(o.topic, o.channel, {
      lookupdHTTPAddresses: o.lookupd ?? [],
      nsqdTCPAddresses: o.nsqd ?? [],
      lookupdPollInterval: 1,
      maxInFlight: 1,
      maxAttempts: 0,
      requeueDelay: o.requeueDelayMs / 1000,
    });
    this.#reader.on('error', (err: Error) => o.log.warn({ err: err.message }, 'nsq error'));
    onSealedMessage(this.#reader, o.topic, o.seal ?? new MessageSeal(null), o.log, (message) => {
      const done = this.onMessage(message).finally(() => this.#running.delete(done));
      this.#running.add(done);
    });
    this.#reader.connect();
    o.log.info({ topic: o.topic, channel: o.channel }, 'patch parser started');
  }

  async stop(): Promise<void> {
    this.#reader?.pause();
    await Promise.allSettled([...this.#running]);
    this.#reader?.close();
  }

  private async onMessage(message: Message): Promise<void> {
    const o = this.options;
    let body: unknown;
    try {
      body = message.json();
    } catch {
      message.finish(); // not JSON: no build request at all
      return;
    }
    const parsed = buildRequestSchema.safeParse(body);
    const pr = parsed.success ? pullRequestOf(parsed.data) : null;
    if (!parsed.success || !pr) {
      message.finish();
      return;
    }
    const log = o.log.child({ delivery: parsed.data.delivery, repo: parsed.data.repo, pull: pr.number, head: pr.headSha.slice(0, 12) });
    // The client waits out rate limits inside a call: keep the message ours meanwhile.
    const touch = setInterval(() => message.touch(), 15_000);
    try {
      const api = await o.github.forRepo(pr.owner, pr.repo);
      const wrote = await parsePullRequest(api, pr, log, o.botLogin);
      log.info({ wrote }, wrote.length > 0 ? 'pull request parsed' : 'pull request parsed: nothing to change');
      message.finish();
    } catch (err) {
      if (message.attempts >= o.maxAttempts) {
        log.error({ err: (err as Error).message, attempts: message.attempts }, 'giving up on this event');
        message.finish();
      } else {
        // A rate limit longer than the client waits in a call: come back when GitHub said (within nsqd's default --max-req-timeout, 1 h).
        const retryAt = (err as { retryAt?: unknown }).retryAt;
        const delay = typeof retryAt === 'number' ? Math.min(MAX_REQUEUE_MS, Math.max(o.requeueDelayMs, retryAt - Date.now())) : o.requeueDelayMs;
        log.warn({ err: (err as Error).message, attempts: message.attempts, delayMs: delay }, 'GitHub failed; requeued');
        message.requeue(delay, false);
      }
    } finally {
      clearInterval(touch);
    }
  }
}
