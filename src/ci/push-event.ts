/**
 * What travels through NSQ: a small build request made from a GitHub push (or pull request)
 * event, never the whole payload (webhooks reach 25 MB, nsqd's messages 1 MiB).
 */
import { z } from 'zod';

export const ZERO_SHA = '0000000000000000000000000000000000000000';

export const buildRequestSchema = z.object({
  kind: z.enum(['push', 'pull_request']),
  delivery: z.string(),
  /** owner/name */
  repo: z.string(),
  cloneUrl: z.string(),
  ref: z.string(),
  before: z.string(),
  after: z.string(),
  pusher: z.string(),
  /** Time the webhook was received (ms since the epoch): for latency and supersede. */
  receivedAt: z.number(),
  /** A force-push (GitHub's `forced`): branch pointers may move to a non-descendant. */
  forced: z.boolean().optional(),
});

export type BuildMessage = z.infer<typeof buildRequestSchema>;

const pushSchema = z.object({
  ref: z.string(),
  before: z.string(),
  after: z.string(),
  deleted: z.boolean().optional(),
  forced: z.boolean().optional(),
  repository: z.object({ full_name: z.string(), clone_url: z.string() }),
  pusher: z.object({ name: z.string() }).optional(),
  sender: z.object({ login: z.string() }).optional(),
});

const pullRequestSchema = z.object({
  action: z.string(),
  number: z.number(),
  pull_request: z.object({
    head: z.object({ sha: z.string(), ref: z.string(), repo: z.object({ clone_url: z.string() }).nullable() }),
    base: z.object({ sha: z.string() }),
    user: z.object({ login: z.string() }),
  }),
  repository: z.object({ full_name: z.string(), clone_url: z.string() }),
});

export type EventOutcome =
  | { build: BuildMessage }
  | { ignore: string };

/** Turns a GitHub-format event into a build request, or says why there is nothing to build. */
export function toBuildMessage(event: string, delivery: string, payload: unknown, receivedAt = Date.now()): EventOutcome {
  if (event === 'push') {
    const push = pushSchema.safeParse(payload);
    if (!push.success) return { ignore: 'not a push payload' };
    const p = push.data;
    if (p.deleted || p.after === ZERO_SHA) return { ignore: `branch deleted: ${p.ref}` };
    return {
      build: {
        kind: 'push',
        delivery,
        repo: p.repository.full_name,
        cloneUrl: p.repository.clone_url,
        ref: p.ref,
        before: p.before,
        after: p.after,
        pusher: p.pusher?.name ?? p.sender?.login ?? 'unknown',
        receivedAt,
        forced: p.forced === true,
      },
    };
  }
  if (event === 'pull_request') {
    const pr = pullRequestSchema.safeParse(payload);
    if (!pr.success) return { ignore: 'not a pull_request payload' };
    const p = pr.data;
    if (!['opened', 'synchronize', 'reopened'].includes(p.action)) return { ignore: `pull request ${p.action}` };
    return {
      build: {
        kind: 'pull_request',
        delivery,
        repo: p.repository.full_name,
        cloneUrl: p.repository.clone_url,
        ref: `refs/pull/${p.number}/head`,
        before: p.pull_request.base.sha,
        after: p.pull_request.head.sha,
        pusher: p.pull_request.user.login,
        receivedAt,
      },
    };
  }
  return { ignore: `event ${event} is not built` };
}
