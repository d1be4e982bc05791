/**
 * What a build tells the world while it runs (the NSQ events topic, live views): every event
 * carries the build's record as the store has it at that moment.
 */
import type { BuildRecord, BuildStore } from './store';

/** Where a worker keeps what a build published (no shared disk is assumed). */
export interface Published {
  binaries: string | null;
  docs: string | null;
}

export const NOTHING_PUBLISHED: Readonly<Published> = { binaries: null, docs: null };

export type StepEvent = { type: 'step-started' | 'step-finished'; step: number; command: string; exitCode?: number; seconds?: number };

export type BuildEvent = (
  | { type: 'queued' | 'started'; build: BuildRecord }
  /** `published` says where the worker that built it keeps binaries and docs. */
  | { type: 'finished'; build: BuildRecord; published: Published }
  | (StepEvent & { build: BuildRecord })
) &
  PullHead;

/**
 * A pull request's build names the pull request's head commit: the commit built may be
 * GitHub's merge of it (pull-request.ts), but GitHub shows the head on the pull request,
 * so that is where its commit statuses go. Absent for pushes.
 */
export interface PullHead {
  head?: string;
}

/** `listener`, with every event it gets naming the pull request's head commit `head`. */
export function withPullHead(listener: ((event: BuildEvent) => void) | undefined, head: string): ((event: BuildEvent) => void) | undefined {
  return listener && ((event) => listener({ ...event, head }));
}

/** An event of build `id`, without its record: `buildEvents` adds the current one. */
export type BuildEventOf = StepEvent | { type: 'queued' | 'started' } | { type: 'finished'; published: Published };

/** Emits build `id`'s events to `listener`, each with the record read from the store then. */
export function buildEvents(store: BuildStore, id: number, listener: ((event: BuildEvent) => void) | undefined): (event: BuildEventOf) => void {
  return (event) => {
    const build = store.get(id);
    if (!build) throw new Error(`build ${id} is not in the store`);
    listener?.({ ...event, build });
  };
}
