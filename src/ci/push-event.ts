/**
 * What travels through NSQ: a small build request made from a GitHub push (or pull request)
 * event, never the whole payload (webhooks reach 25 MB, nsqd's messages 1 MiB).
 */
import { z } from 'zod';

import { JOB_NAME } from './build-file';
import { buildKeySchema } from './log-chunks';
import { parseCloneUrl } from './clone-url';
import { branchProblem, fullNameProblem, isCommitId, pushRefProblem } from './names';

/** The topic of build requests: what the receiver publishes and the workers read (their --topic). */
export const PUSH_TOPIC = 'lxcts.pushes';

export const ZERO_SHA = '0000000000000000000000000000000000000000';

/**
 * GitHub sends no push event for refs/pull/*: one that comes is forged or confused. Built as
 * a push it would be trusted (secrets) and filed under the pull request's pages.
 */
const PUSH_TO_PULL_REF = 'a push to refs/pull/... is refused: pull requests come as pull_request events, never as pushes';

/**
 * Why a build request cannot be built, or null: every name in it is checked against
 * GitHub's and git's rules before anything makes a path or an argument of it.
 */
export function buildRequestProblem(r: {
  kind?: 'push' | 'pull_request';
  repo: string;
  cloneUrl: string;
  ref: string;
  before: string;
  after: string;
  delivery: string;
  pull?: PullRequestFields;
  approval?: unknown;
}): string | null {
  // eslint-disable-next-line no-control-regex
  if (r.delivery.length > 200 || /[\x00-\x1f\x7f]/.test(r.delivery)) return 'the delivery id is longer than 200 characters or has control characters';
  const name = fullNameProblem(r.repo);
  if (name) return name;
  const ref = pushRefProblem(r.ref);
  if (ref) return ref;
  if (!isCommitId(r.before)) return `before ${JSON.stringify(r.before.slice(0, 80))} is not a full commit id`;
  if (!isCommitId(r.after) || r.after === ZERO_SHA) return `after ${JSON.stringify(r.after.slice(0, 80))} is not a full commit id`;
  try {
    parseCloneUrl(r.cloneUrl);
  } catch (err) {
    return (err as Error).message;
  }
  // Without its pull request, a build of refs/pull/N/head could not tell a fork (untrusted)
  // nor its base (whose build file decides): such a request is refused, never guessed at.
  if (r.kind === 'pull_request' && !r.pull) return 'a pull request build request names no pull request (number, base, head repository)';
  if (r.kind === 'push' && r.pull) return 'a push names no pull request';
  if (!r.pull && r.ref.startsWith('refs/pull/')) return PUSH_TO_PULL_REF;
  // Only a fork waits for approval: one on anything else is forged or confused, never obeyed.
  if (r.approval && !r.pull?.fork) return "an approval is for a fork's pull request only";
  return r.pull ? pullProblem(r.pull, r.ref, r.before) : null;
}

/** The pull request's own names, checked like a push's. */
function pullProblem(pull: PullRequestFields, ref: string, before: string): string | null {
  if (ref !== `refs/pull/${pull.number}/head`) return `ref ${JSON.stringify(ref.slice(0, 80))} is not the head of pull request #${pull.number}`;
  const base = branchProblem(pull.baseRef);
  if (base) return `base branch: ${base}`;
  if (!isCommitId(pull.baseSha) || pull.baseSha !== before) return `the base commit ${JSON.stringify(pull.baseSha.slice(0, 80))} is not a full commit id`;
  if (pull.headRepo !== null) {
    const head = fullNameProblem(pull.headRepo);
    if (head) return `head repository: ${head}`;
  }
  return null;
}

/** The actions a pull request is built for; `closed` only cancels its builds. */
export const PULL_ACTIONS = ['opened', 'reopened', 'synchronize', 'closed'] as const;

export const pullFields = z
  .object({
    number: z
      .number()
      .int()
      .min(1)
      .max(2 ** 31),
    action: z.enum(PULL_ACTIONS),
    /** The branch it would merge into (a name, not a ref): its build file says which jobs run. */
    baseRef: z.string(),
    /** That branch's commit when the event was sent: the build file is read there, never from the head. */
    baseSha: z.string(),
    /** owner/name of the head's repository; null when GitHub no longer knows it (a deleted fork). */
    headRepo: z.string().nullable(),
    /**
     * The head lives in another repository than the base, or in one GitHub no longer knows:
     * untrusted (no secrets, no network, default limits, never the branch locations).
     */
    fork: z.boolean(),
    /** GitHub's `mergeable`: null while GitHub has not computed it. */
    mergeable: z.boolean().nullable(),
  })
  .strict();

export type PullRequestFields = z.infer<typeof pullFields>;

const requestFields = z.object({
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
  /** A pull request's build (kind pull_request): `ref` is refs/pull/<number>/head, `before` the base commit. */
  pull: pullFields.optional(),
  /** Only these jobs build it (a re-run of one job); absent: every job the build file runs for the ref. */
  jobs: z.array(z.string().regex(JOB_NAME, 'not a job name')).min(1).max(100).optional(),
  /**
   * A re-run asked for on the CI server (src/server/control.ts): built again even when the
   * commit's job already succeeded, never superseding nor superseded, and recorded as
   * requested when the build it repeats was (`requestedAt`), so that branch pointers and
   * supersede see it where the original stood.
   */
  rerun: z
    .object({
      /** The server's number of the build it repeats. */
      of: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
      requestedAt: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    })
    .strict()
    .optional(),
  /**
   * A maintainer's approval of a fork's pull request (src/server/approval.ts): workers started
   * with --fork-approval build a fork's request only when it carries one. It grants nothing
   * else: the build is still a fork's (no secrets, no network, default limits). A plain field
   * of the request, so that whatever signs requests signs it too; whoever can publish to an
   * unsigned nsqd can forge it, as they can forge the request itself.
   */
  approval: z
    .object({
      /** Who approved, as the build shows it ("admin", "admin (alice)", "fork approved by admin"). */
      by: z
        .string()
        .min(1)
        .max(100)
        .regex(/^[\x20-\x7e]+$/, 'printable ASCII only'),
      at: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      /**
       * The build key of the server's waiting build this approves: the build's events go on
       * under it (numbered from 1, the wait was 0), so its page turns from waiting to
       * running. Absent for a re-run of a fork's build (a new build, asked for by an admin).
       */
      waiting: buildKeySchema.optional(),
    })
    .strict()
    .optional(),
});

/** A message from the topic: its shape, then its names (a worker drops what fails, recording nothing). */
export const buildRequestSchema = requestFields.superRefine((request, ctx) => {
  const problem = buildRequestProblem(request);
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

export type BuildMessage = z.infer<typeof requestFields>;

const pushSchema = z.object({
  ref: z.string(),
  before: z.string(),
  after: z.string(),
  deleted: z.boolean().optional(),
  forced: z.boolean().optional(),
  repository: z.object({ full_name: z.string(), clone_url: z.string(), pushed_at: z.union([z.number(), z.string()]).optional() }),
  pusher: z.object({ name: z.string() }).optional(),
  sender: z.object({ login: z.string() }).optional(),
});

const pullRequestSchema = z.object({
  action: z.string(),
  number: z.number(),
  pull_request: z.object({
    head: z.object({ sha: z.string(), ref: z.string(), repo: z.object({ full_name: z.string(), clone_url: z.string() }).nullable() }),
    base: z.object({ sha: z.string(), ref: z.string(), repo: z.object({ full_name: z.string() }) }),
    user: z.object({ login: z.string() }),
    mergeable: z.boolean().nullable().optional(),
    updated_at: z.string().optional(),
  }),
  repository: z.object({ full_name: z.string(), clone_url: z.string() }),
});

export type EventOutcome =
  /** pushedAt: repository.pushed_at, when the server sends it (GitHub, the lxcts hook). */
  | { build: BuildMessage; pushedAt?: string }
  | { ignore: string }
  /** The event says it is a push or pull request but cannot be built as one (answered 422). */
  | { invalid: string };

function checked(build: BuildMessage, pushedAt?: string | number): EventOutcome {
  const problem = buildRequestProblem(build);
  if (problem) return { invalid: problem };
  return pushedAt === undefined ? { build } : { build, pushedAt: String(pushedAt) };
}

/** Turns a GitHub-format event into a build request, or says why there is nothing to build. */
export function toBuildMessage(event: string, delivery: string, payload: unknown, receivedAt = Date.now()): EventOutcome {
  if (event === 'push') {
    const push = pushSchema.safeParse(payload);
    if (!push.success) return { invalid: `not a push payload: ${push.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
    const p = push.data;
    if (p.ref.startsWith('refs/pull/')) return { invalid: PUSH_TO_PULL_REF };
    if (p.deleted || p.after === ZERO_SHA) {
      const ref = pushRefProblem(p.ref);
      return ref ? { invalid: ref } : { ignore: `branch deleted: ${p.ref}` };
    }
    return checked(
      {
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
      p.repository.pushed_at,
    );
  }
  if (event === 'pull_request') {
    const pr = pullRequestSchema.safeParse(payload);
    if (!pr.success) return { invalid: `not a pull_request payload: ${pr.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
    const p = pr.data;
    const action = PULL_ACTIONS.find((a) => a === p.action);
    if (!action) return { ignore: `pull request ${p.action}` };
    const { head, base } = p.pull_request;
    const headRepo = head.repo?.full_name ?? null;
    // The pushed-at part of the replay key: each action on the pull request is an event of
    // its own (a close after an open names the same commits).
    return checked(
      {
        kind: 'pull_request',
        delivery,
        // Always the base repository: it is cloned, and its build file decides.
        repo: p.repository.full_name,
        cloneUrl: p.repository.clone_url,
        ref: `refs/pull/${p.number}/head`,
        before: base.sha,
        after: head.sha,
        pusher: p.pull_request.user.login,
        receivedAt,
        pull: {
          number: p.number,
          action,
          baseRef: base.ref,
          baseSha: base.sha,
          headRepo,
          // Unknown (a deleted fork) counts as a fork. Names compare as GitHub does, without case.
          fork:
            headRepo === null ||
            headRepo.toLowerCase() !== base.repo.full_name.toLowerCase() ||
            base.repo.full_name.toLowerCase() !== p.repository.full_name.toLowerCase(),
          mergeable: p.pull_request.mergeable ?? null,
        },
      },
      `${action} ${p.pull_request.updated_at ?? receivedAt}`,
    );
  }
  return { ignore: `event ${event} is not built` };
}
