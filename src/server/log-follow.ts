/**
 * `lxcts ci logs ID --server URL [--follow]`: a build's log read from the CI server.
 *
 * The raw bytes come from the paged API (`/api/builds/:id/log?offset=`), so a terminal gets
 * the build's own colours; the live page's event stream (`/builds/:id/events`) is only the
 * signal that something changed, so following never polls. After each signal the log is
 * read from where it stopped and the build is asked whether it has ended: finished, and
 * every byte of its log read (or the worker sends no log). A stream the server closed, or a
 * server restarting, is reconnected after a pause, from the offset reached.
 *
 * The server is trusted with nothing: no answer is read past what was asked for (a log page
 * of MAX_LOG_PAGE bytes, a summary of MAX_SUMMARY_BYTES, an event of MAX_EVENT_CHARS), and
 * the summary's names, which `ci logs` prints, are checked before anyone sees them.
 */
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { createParser } from 'eventsource-parser';
import { z } from 'zod';

import { isFinishedOnServer, SERVER_STATUSES, type ServerStatus } from '../ci/build-status';
import { JOB_NAME } from '../ci/build-file';
import { fullNameProblem, isCommitId } from '../ci/names';
import { MAX_LOG_PAGE } from './api';
import { boundedBody } from './bounded-body';

/** Pause before reconnecting to the server, and how many failed tries in a row end the follow. */
const RETRY_MS = 1000;
const MAX_FAILURES = 30;
/** A build's JSON: its artifacts' names (10,000 of 1 KiB at most, event-wire.ts) are the bulk. */
const MAX_SUMMARY_BYTES = 16 * 1024 * 1024;
/** One event of the live page: a log page of 64 KiB rendered as HTML, with room to spare. */
const MAX_EVENT_CHARS = 16 * 1024 * 1024;

export interface ServerBuildSummary {
  id: number;
  status: ServerStatus;
  repo: string;
  job: string;
  branch: string | null;
  commit: string;
  /** The log's totals once the worker said them; null without live logs or before the end. */
  log: { chunks: number; bytes: number } | null;
  logAvailable: number;
  logComplete: boolean;
}

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** What is taken of the server's /api/builds/:id: the names `ci logs` prints are names, not escape sequences. */
const summarySchema = z.object({
  id: count,
  status: z.enum(SERVER_STATUSES),
  repo: z.string().refine((r) => fullNameProblem(r) === null, 'not owner/name'),
  job: z.string().regex(JOB_NAME, 'not a job name'),
  branch: z.string().nullable(),
  commit: z.string().refine(isCommitId, 'not a commit id'),
  log: z.object({ chunks: count, bytes: count }).nullable(),
  logAvailable: count,
  logComplete: z.boolean(),
});

export interface FollowOptions {
  /** The server's base URL (http://host:port). */
  server: string;
  /** The server's number of the build. */
  id: number;
  /** Where the log's bytes go. */
  out: Writable;
  /** Keep reading until the build ends; otherwise print what the server has and stop. */
  follow: boolean;
  signal?: AbortSignal;
}

export interface FollowResult {
  build: ServerBuildSummary;
  /** Bytes of log written to `out`. */
  bytes: number;
}

/** Something the server said no to (no such build, a bad answer): not worth retrying. */
export class LogFollowError extends Error {
  constructor(
    message: string,
    readonly code: 'BUILD_NOT_FOUND' | 'SERVER_ERROR' | 'SERVER_UNREACHABLE',
  ) {
    super(message);
  }
}

const tooLarge = (max: number, what: string) => new LogFollowError(`the server sent more than ${max} bytes for ${what}`, 'SERVER_ERROR');

export async function followServerLog(o: FollowOptions): Promise<FollowResult> {
  const base = new URL(o.server);
  const url = (p: string) => new URL(p, base).href;
  let offset = 0;
  let failures = 0;

  const notFound = `the server at ${base.origin} has no build ${o.id}`;
  /** A request, retried while the server cannot be reached (it may be restarting). */
  const request = async (p: string): Promise<Response> => {
    for (;;) {
      try {
        const response = await fetch(url(p), { signal: o.signal });
        failures = 0;
        if (response.status === 404) throw new LogFollowError(notFound, 'BUILD_NOT_FOUND');
        if (!response.ok) throw new LogFollowError(`${p}: the server answered ${response.status}`, 'SERVER_ERROR');
        return response;
      } catch (err) {
        if (err instanceof LogFollowError || o.signal?.aborted) throw err;
        if (++failures >= MAX_FAILURES) throw new LogFollowError(`cannot reach the server at ${base.origin}: ${(err as Error).message}`, 'SERVER_UNREACHABLE');
        await sleep(RETRY_MS, undefined, { signal: o.signal });
      }
    }
  };

  const summary = async (): Promise<ServerBuildSummary> => {
    const body = await boundedBody(await request(`/api/builds/${o.id}`), MAX_SUMMARY_BYTES, () => tooLarge(MAX_SUMMARY_BYTES, `build ${o.id}`));
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      // not JSON: refused below
    }
    const parsed = summarySchema.safeParse(json);
    if (!parsed.success) throw new LogFollowError(`the server's answer for build ${o.id} is not a build`, 'SERVER_ERROR');
    return parsed.data;
  };

  /** Writes every byte the server has past `offset`; returns how many it has in all. */
  const drain = async (): Promise<number> => {
    for (;;) {
      const response = await request(`/api/builds/${o.id}/log?offset=${offset}&limit=${MAX_LOG_PAGE}`);
      const data = await boundedBody(response, MAX_LOG_PAGE, () => tooLarge(MAX_LOG_PAGE, `a log page of build ${o.id}`));
      const next = Number(response.headers.get('X-Log-Next-Offset'));
      const available = Number(response.headers.get('X-Log-Available'));
      if (!Number.isSafeInteger(next) || !Number.isSafeInteger(available) || next !== offset + data.length) {
        throw new LogFollowError(`the server's log page for build ${o.id} does not add up`, 'SERVER_ERROR');
      }
      if (data.length > 0 && !o.out.write(data)) await new Promise((resolve) => o.out.once('drain', resolve));
      offset = next;
      if (data.length === 0 || offset >= available) return available;
    }
  };

  const ended = (build: ServerBuildSummary, available: number) =>
    isFinishedOnServer(build.status) && (build.logComplete || build.log === null) && offset >= available;

  if (!o.follow) {
    const build = await summary();
    await drain();
    return { build, bytes: offset };
  }

  // The event stream is opened before the first read, so no change after that read is missed.
  const changes = new ChangeSignal();
  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
  const connected = watchEvents(url(`/builds/${o.id}/events`), notFound, () => offset, changes, signal);
  try {
    await connected.first;
    for (;;) {
      await drain();
      const build = await summary();
      // Bytes that arrived while asking: once the build has ended, this read takes the last.
      const available = await drain();
      if (ended(build, available)) return { build, bytes: offset };
      await changes.next(signal);
    }
  } finally {
    stop.abort();
    await connected.done.catch(() => undefined);
  }
}

/** A flag set by the event stream and taken by the reader: a change is never lost, only merged. */
class ChangeSignal {
  #pending = false;
  #failure: Error | null = null;
  #wake: (() => void) | null = null;

  notify(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** The stream is gone for good: the reader's next wait throws `err`. */
  fail(err: Error): void {
    this.#failure = err;
    this.notify();
  }

  async next(signal: AbortSignal): Promise<void> {
    this.#throwIfFailed();
    if (!this.#pending) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal.reason as Error);
        this.#wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        if (signal.aborted) onAbort();
      }).finally(() => (this.#wake = null));
    }
    this.#pending = false;
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }
}

/**
 * Reads the build's event stream, notifying `changes` on every event (and when the stream
 * ends, so the reader looks again), reconnecting from the current offset until `signal`.
 * `first` settles once the first connection answered (or failed for good).
 */
function watchEvents(
  eventsUrl: string,
  notFound: string,
  offset: () => number,
  changes: ChangeSignal,
  signal: AbortSignal,
): { first: Promise<void>; done: Promise<void> } {
  let connectedOnce: () => void = () => undefined;
  let failedOnce: (err: Error) => void = () => undefined;
  const first = new Promise<void>((resolve, reject) => {
    connectedOnce = resolve;
    failedOnce = reject;
  });
  const done = (async () => {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const response = await fetch(`${eventsUrl}?from=${offset()}`, { signal, headers: { Accept: 'text/event-stream' } });
        if (response.status === 404) throw new LogFollowError(notFound, 'BUILD_NOT_FOUND');
        if (!response.ok || !response.body) throw new Error(`the event stream answered ${response.status}`);
        failures = 0;
        connectedOnce();
        let overflowed = false;
        const parser = createParser({
          onEvent: () => changes.notify(),
          maxBufferSize: MAX_EVENT_CHARS,
          onError: (e) => (overflowed ||= e.type === 'max-buffer-size-exceeded'),
        });
        for await (const text of response.body.pipeThrough(new TextDecoderStream())) {
          parser.feed(text);
          // An event that never ends is a broken or hostile server: no reconnecting for more of it.
          if (overflowed) throw new LogFollowError(`the event stream ${eventsUrl} sent an event of more than ${MAX_EVENT_CHARS} characters`, 'SERVER_ERROR');
        }
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof LogFollowError || ++failures >= MAX_FAILURES) {
          const failure =
            err instanceof LogFollowError ? err : new LogFollowError(`cannot reach ${eventsUrl}: ${(err as Error).message}`, 'SERVER_UNREACHABLE');
          failedOnce(failure);
          changes.fail(failure);
          return;
        }
      }
      // The stream ended (the build ended, or the server is stopping): look again, then reconnect.
      changes.notify();
      await sleep(RETRY_MS, undefined, { signal }).catch(() => undefined);
    }
  })();
  return { first, done };
}
