/**
 * Forks' pull requests held for a maintainer's approval, as GitHub Actions ("approve and
 * run" for first-time contributors) and Woodpecker ("blocked" pipelines) do.
 *
 * Workers started with `--fork-approval` build nothing of a fork's pull request whose
 * request carries no approval: they tell the server which jobs would run (a `waiting` event,
 * event-wire.ts) and finish the message. The server shows the build as `waiting` (GitHub:
 * `pending`, "awaiting approval"), with an Approve button for the admin
 * (`POST /api/builds/:id/approve`, `lxcts ci approve ID`, control.ts). Approving:
 *
 * - marks the build queued ("approved by admin") and sends the request it held to the push
 *   topic again, for its job only, with `approval` (push-event.ts): the worker builds it,
 *   still as a fork's (no secrets, no network, default limits), and its events go on under
 *   the waiting build's key, so the same page turns running;
 * - remembers the fork (its repository and the pull request's author, for the base
 *   repository: `fork_approvals`, server-schema.ts migration 5): a later waiting build of
 *   theirs is approved as it arrives (`approveKnownForks`), without a second click. Like
 *   Actions' rule, the approval is of a contributor, not of each commit: whoever pushes to
 *   that fork's pull request later is built too.
 *
 * A newer push to the pull request or its close cancels what still waits (server-store.ts),
 * and a worker that saw them cancels an approved build of an older push when it comes.
 *
 * Sent twice: when a publish fails after nsqd took the message (the answer lost), the
 * approval is undone and the build waits again, so a second approval (a click, or the
 * auto-approval's retry) sends a second request; both are built (an approved wait is
 * built with `force`), their events both going to the waiting build's page. Not cheaply idempotent:
 * the workers' stores are per host, so a worker cannot tell that another already took
 * the first. Rare (nsqd acknowledges a PUB in one round trip) and harmless to trust (the
 * same fork's commit, built as a fork's twice).
 *
 * The trust boundary: the approval is a field of a request on nsqd. Whoever can publish to
 * the push topic can forge one, as they can forge any request; requests signed by the server
 * and checked by the workers (not this module) close that. A worker obeys an approval only
 * on a fork's pull request (push-event.ts refuses it on anything else).
 */
import type { Logger } from '../ci/logger';
import { type BuildMessage, buildRequestSchema, PUSH_TOPIC } from '../ci/push-event';
import type { LiveStore } from './live-store';
import type { ForkApproval, ServerBuild, ServerStore } from './server-store';

export interface ApprovalOptions {
  store: ServerStore;
  /** Publishes one message to an NSQ topic. */
  publish: (topic: string, body: string) => Promise<void>;
  /** Where approved requests go. Default: lxcts.pushes. */
  pushTopic?: string;
}

export type ApprovalOutcome =
  { ok: true; status: 202; message: string; build: ServerBuild; delivery: string } | { ok: false; status: 409 | 503; message: string };

/** The request a waiting build held, approved by `by` for its job only; or why it cannot be. */
export function approvedRequest(store: ServerStore, build: ServerBuild, by: string, now = Date.now()): BuildMessage | string {
  if (build.status !== 'waiting') return `build ${build.id} does not wait for approval (it is ${build.status})`;
  const held = store.heldRequest(build.key);
  if (!held) return `build ${build.id} holds no request to approve`;
  const request: BuildMessage = { ...held, jobs: [build.job], approval: { by, at: now, waiting: build.key } };
  // The row's request came from a worker's event: checked again like any request, before nsqd.
  const checked = buildRequestSchema.safeParse(request);
  return checked.success ? checked.data : `build ${build.id} cannot be approved: ${checked.error.issues[0]?.message ?? 'invalid'}`;
}

/**
 * Approves waiting build `build` on behalf of `by`: queued, the request sent to the workers,
 * and (`remember`) its fork remembered. Nothing changes when nsqd cannot be reached.
 */
export async function approve(o: ApprovalOptions, build: ServerBuild, by: string, remember = true): Promise<ApprovalOutcome> {
  const now = Date.now();
  const request = approvedRequest(o.store, build, by, now);
  if (typeof request === 'string') return { ok: false, status: 409, message: request };
  // Queued first, and only if it still waits: two approvals at once send one request.
  if (!o.store.approveWaiting(build.key, by, now)) return { ok: false, status: 409, message: `build ${build.id} no longer waits for approval` };
  try {
    await o.publish(o.pushTopic ?? PUSH_TOPIC, JSON.stringify(request));
  } catch (err) {
    o.store.unapproveWaiting(build.key, 0, build.message);
    return { ok: false, status: 503, message: `could not reach nsqd: ${(err as Error).message}` };
  }
  const fork = request.pull?.headRepo ?? null;
  // A deleted fork (no head repository) cannot be recognised again: only this build is approved.
  if (remember && fork !== null) {
    o.store.approveFork(request.repo, fork, request.pusher, by, now);
    // What already waits of theirs (the pull request's other jobs, their other pull requests) goes too.
    for (const other of o.store.waitingIn(request.repo)) {
      if (forkOf(o.store, other)) void approve(o, other, `fork approved by ${by}`.slice(0, 100), false);
    }
  }
  const who = fork === null ? '' : `; later pull requests from ${fork} by ${request.pusher} are approved as they come`;
  return { ok: true, status: 202, build, delivery: request.delivery, message: `build ${build.id} approved: sent to the workers${who}` };
}

/** The approval of the fork (and author) a waiting build's request came from, if it was approved. */
function forkOf(store: ServerStore, build: ServerBuild): ForkApproval | undefined {
  const held = store.heldRequest(build.key);
  const fork = held?.pull?.headRepo;
  return held && fork ? store.forkApproval(held.repo, fork, held.pusher) : undefined;
}

/** When a remembered fork's build could not be sent: the first retry's delay, and the longest. */
export interface ApprovalRetry {
  firstMs: number;
  maxMs: number;
}

const RETRY: ApprovalRetry = { firstMs: 1000, maxMs: 60_000 };

/**
 * Approves each waiting build as it arrives when its fork was approved before (the live
 * store's change signal). `close()` stops watching.
 *
 * When nsqd cannot be reached, `approve` undoes the approval, and the undo is itself a
 * change of the build: answered at once, it would publish again at once, thousands of times
 * a second. A key that failed is left to its own timer instead (doubling from `firstMs` to
 * `maxMs`, for as long as the build waits), and its changes are ignored until then; once
 * nsqd is back, the next try approves it.
 */
export function approveKnownForks(o: ApprovalOptions & { store: LiveStore; log: Logger; retry?: ApprovalRetry }): { close(): void } {
  const log = o.log.child({ component: 'fork-approval' });
  const retry = o.retry ?? RETRY;
  /** Keys being approved or waiting for a retry: their failures so far, and the retry's timer. */
  const trying = new Map<string, { failures: number; timer?: NodeJS.Timeout }>();
  let closed = false;
  const attempt = (key: string) => {
    const build = o.store.getByKey(key);
    const known = build?.status === 'waiting' ? forkOf(o.store, build) : undefined;
    if (!build || !known) {
      trying.delete(key);
      return;
    }
    const state = trying.get(key) ?? { failures: 0 };
    state.timer = undefined;
    // Set before approving: the changes approve makes (queued, then undone) come back here.
    trying.set(key, state);
    const by = `fork approved by ${known.approvedBy}`.slice(0, 100);
    void approve(o, build, by, false).then((outcome) => {
      if (closed) return;
      if (outcome.ok || outcome.status !== 503) {
        trying.delete(key);
        if (outcome.ok) log.info({ build: build.id, repo: build.repo, pusher: build.pusher }, 'approved: a fork approved before');
        else log.warn({ build: build.id, err: outcome.message }, 'could not approve a build of an approved fork');
        return;
      }
      const delay = Math.min(retry.maxMs, retry.firstMs * 2 ** Math.min(state.failures, 30));
      state.failures += 1;
      log.warn({ build: build.id, err: outcome.message, retryInMs: delay }, 'could not approve a build of an approved fork; trying again later');
      state.timer = setTimeout(() => attempt(key), delay);
    });
  };
  const onChange = (key: string) => {
    if (!trying.has(key)) attempt(key);
  };
  o.store.changes.on('build', onChange);
  return {
    close: () => {
      closed = true;
      o.store.changes.off('build', onChange);
      for (const { timer } of trying.values()) clearTimeout(timer);
      trying.clear();
    },
  };
}
