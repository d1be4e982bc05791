/**
 * The pushes the server has seen and not yet seen built, so that the queue page can list
 * each waiting push and say why it waits (queue-explain.ts).
 *
 * Where they come from: the server reads the push topic (the receiver's build requests) on
 * an ephemeral channel of its own, `server#ephemeral`. Ephemeral, because nothing here is
 * worth keeping while the server is down (nsqd would otherwise pile every push up for it),
 * and because no worker can ever take that name (worker channels are checked against
 * NSQ_NAME, which has no `#`), so the server never takes a job's messages.
 *
 * When a push stops waiting on a job channel: when a build event for its (repo, commit,
 * job) arrives (the worker of that channel took it), or when a reading of nsqd taken after
 * the push was seen shows that channel holding nothing (no message waiting, deferred or in
 * flight): the push was taken and needed no build (no such job in its build file, or a
 * branch filter). Memory only and bounded: after a restart, pushes made before it are
 * counted per channel but not listed.
 */
import { Reader } from 'nsqjs';

import { MAX_PERSON, oneLine } from '../ci/commit-info';
import type { Logger } from '../ci/logger';
import { MessageSeal, onSealedMessage } from '../ci/message-seal';
import { buildRequestSchema, type BuildMessage } from '../ci/push-event';

/** The server's channel on the push topic. */
export const PUSH_WATCH_CHANNEL = 'server#ephemeral';

/** Pushes kept (oldest forgotten first) and builds remembered for pushes that come late. */
const MAX_PUSHES = 10_000;
const MAX_BUILDS = 10_000;
/**
 * The longest ref kept, as the events topic takes it (event-wire.ts): git sets refs no
 * length, nsqd lets a message reach 1 MiB, and 10,000 of those would be 10 GiB.
 */
const MAX_REF = 1024;

export interface SeenPush {
  delivery: string;
  kind: BuildMessage['kind'];
  repo: string;
  ref: string;
  after: string;
  pusher: string;
  /** When the receiver took it (ms since the epoch, the receiver's clock). */
  receivedAt: number;
  /** When this server saw it (its own clock: compared with its own readings). */
  seenAt: number;
}

interface Entry {
  push: SeenPush;
  /** Channels (jobs) it no longer waits on. */
  done: Set<string>;
}

/** What pushes and builds are matched on: one commit of one repository. */
const commitKey = (repo: string, commit: string) => `${repo}\0${commit}`;

export class PushQueue {
  /** By delivery id, oldest first (Map order). */
  readonly #pushes = new Map<string, Entry>();
  /** The deliveries of #pushes by commit: a build finds its pushes without a scan. */
  readonly #pushesByCommit = new Map<string, Set<string>>();
  /**
   * Jobs built per commit, oldest commit first, for a push whose message arrives after its
   * build's event. At most MAX_BUILDS jobs in all (#buildCount).
   */
  readonly #builds = new Map<string, Set<string>>();
  #buildCount = 0;

  /** Records a push (a redelivery of the same delivery id changes nothing). */
  add(request: BuildMessage, seenAt = Date.now()): void {
    // Never built into an event the server takes: nothing to show.
    if (this.#pushes.has(request.delivery) || request.ref.length > MAX_REF) return;
    const { delivery, kind, repo, ref, after, receivedAt } = request;
    // As the worker records it: one printable line, a copy of its own (a slice would hold on to the megabyte).
    const pusher = oneLine(request.pusher, MAX_PERSON);
    const key = commitKey(repo, after);
    const entry: Entry = { push: { delivery, kind, repo, ref, after, pusher, receivedAt, seenAt }, done: new Set(this.#builds.get(key)) };
    this.#pushes.set(delivery, entry);
    setIn(this.#pushesByCommit, key, delivery);
    // Oldest forgotten first.
    for (const [oldest, { push }] of this.#pushes) {
      if (this.#pushes.size <= MAX_PUSHES) break;
      this.#pushes.delete(oldest);
      deleteFrom(this.#pushesByCommit, commitKey(push.repo, push.after), oldest);
    }
  }

  /** A build of (repo, commit, job) exists: its push no longer waits on that job's channel. */
  noteBuild(build: { repo: string; commit: string; job: string }): void {
    const key = commitKey(build.repo, build.commit);
    // Known already: the pushes it resolves were resolved then, or by add() since.
    if (this.#builds.get(key)?.has(build.job)) return;
    setIn(this.#builds, key, build.job);
    this.#buildCount++;
    for (const [oldest, jobs] of this.#builds) {
      if (this.#buildCount <= MAX_BUILDS) break;
      this.#builds.delete(oldest);
      this.#buildCount -= jobs.size;
    }
    for (const delivery of this.#pushesByCommit.get(key) ?? []) this.#pushes.get(delivery)?.done.add(build.job);
  }

  /** A reading taken at `readAt` found `channel` holding nothing: every push seen before waits no more there. */
  noteChannelEmpty(channel: string, readAt: number): void {
    for (const { push, done } of this.#pushes.values()) if (push.seenAt <= readAt) done.add(channel);
  }

  /** The push that asked for (repo, commit), the newest seen. */
  find(repo: string, commit: string): SeenPush | undefined {
    let found: SeenPush | undefined;
    for (const delivery of this.#pushesByCommit.get(commitKey(repo, commit)) ?? []) found = this.#pushes.get(delivery)?.push ?? found;
    return found;
  }

  /** Pushes still waiting on one of `channels`, oldest first, with the channels they wait on. */
  waiting(channels: readonly string[]): Array<{ push: SeenPush; channels: string[] }> {
    const out: Array<{ push: SeenPush; channels: string[] }> = [];
    for (const { push, done } of this.#pushes.values()) {
      const on = channels.filter((c) => !done.has(c));
      if (on.length > 0) out.push({ push, channels: on });
    }
    return out;
  }
}

function setIn(index: Map<string, Set<string>>, key: string, value: string): void {
  const values = index.get(key);
  if (values) values.add(value);
  else index.set(key, new Set([value]));
}

function deleteFrom(index: Map<string, Set<string>>, key: string, value: string): void {
  const values = index.get(key);
  values?.delete(value);
  if (values?.size === 0) index.delete(key);
}

export interface PushWatchOptions {
  queue: PushQueue;
  topic: string;
  lookupd?: readonly string[];
  nsqdTcp?: readonly string[];
  /** Opens what it reads (message-seal.ts): a forged push is not listed. Default: none, nsqd trusted. */
  seal?: MessageSeal;
  log: Logger;
}

/** Reads the push topic on the server's ephemeral channel into `queue`; returns the reader's close. */
export function watchPushes(o: PushWatchOptions): () => void {
  const reader = new Reader(o.topic, PUSH_WATCH_CHANNEL, {
    lookupdHTTPAddresses: [...(o.lookupd ?? [])],
    nsqdTCPAddresses: [...(o.nsqdTcp ?? [])],
    lookupdPollInterval: 1,
    maxInFlight: 100,
    outputBufferTimeout: 25,
  });
  reader.on('error', (err: Error) => o.log.warn({ topic: o.topic, err: err.message }, 'nsq error (push watch)'));
  onSealedMessage(reader, o.topic, o.seal ?? new MessageSeal(null), o.log, (message) => {
    message.finish();
    const parsed = buildRequestSchema.safeParse(parseJson(message.body.toString('utf8')));
    if (parsed.success) o.queue.add(parsed.data);
  });
  reader.connect();
  return () => reader.close();
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
