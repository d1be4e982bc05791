/**
 * A build event as a worker publishes it on the events topic (worker.ts `publishEvent`),
 * checked field by field: the server takes nothing from the topic on trust.
 */
import { z } from 'zod';

import { BUILD_STATUSES } from '../ci/build-status';
import { buildKeySchema } from '../ci/log-chunks';
import { MAX_PERSON, MAX_SUBJECT, oneLine } from '../ci/commit-info';
import { JOB_NAME } from '../ci/build-file';
import { branchProblem, fullNameProblem, isCommitId, refProblem } from '../ci/names';
import { buildRequestSchema, pullFields } from '../ci/push-event';

const text = (max: number) => z.string().max(max);
const int = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** Text people read (commit-info.ts): refused past 4 UTF-16 units per character allowed, else cleaned and cut. */
const shownText = (max: number) =>
  z
    .string()
    .max(max * 4)
    .transform((t) => oneLine(t, max))
    .nullable()
    .optional()
    .transform((t) => t || null);

/** The worker's build record (store.ts `BuildRecord`), as much of it as the server keeps. */
const recordSchema = z.object({
  id: int,
  repo: text(200).refine((r) => fullNameProblem(r) === null, 'not owner/name'),
  cloneUrl: text(2048),
  commit: z.string().refine(isCommitId, 'not a full commit id'),
  ref: text(1024)
    .refine((r) => refProblem(r) === null, 'not a git ref')
    .nullable(),
  branch: text(1024).nullable(),
  job: text(100).min(1),
  status: z.enum(BUILD_STATUSES),
  createdAt: text(40),
  startedAt: text(40).nullable(),
  finishedAt: text(40).nullable(),
  exitCode: z.number().int().nullable(),
  message: text(4096).nullable(),
  artifacts: z.array(text(1024)).max(10_000),
  // Written by whoever pushed (absent from workers older than them): whatever a worker sends
  // is made one bounded, printable line here again, never taken as it came.
  subject: shownText(MAX_SUBJECT),
  author: shownText(MAX_PERSON),
  pusher: shownText(MAX_PERSON),
});

const common = {
  key: buildKeySchema,
  seq: int,
  worker: text(255).min(1),
  at: int,
  build: recordSchema,
  /** A pull request's head commit (build-events.ts `PullHead`), where its statuses go; absent for pushes. */
  head: z.string().refine(isCommitId, 'not a full commit id').optional(),
  /**
   * A pull request's build: the pull request as the request named it, so that the server can
   * ask for it again (a re-run is a pull request's request, a fork's still a fork's).
   */
  pull: pullFields
    .pick({ number: true, baseRef: true, baseSha: true, headRepo: true, fork: true })
    .strict()
    .refine((p) => branchProblem(p.baseRef) === null && isCommitId(p.baseSha) && (p.headRepo === null || fullNameProblem(p.headRepo) === null), {
      message: 'not a pull request: base branch, base commit or head repository malformed',
    })
    .optional(),
};

/**
 * A fork's pull request a worker started with --fork-approval did not build: the request
 * as it came, for the server to hold until a maintainer approves it (src/server/approval.ts).
 * `commit` is what would be built (GitHub's merge or the head), `head` the pull request's head.
 */
const waitingSchema = z
  .object({
    type: z.literal('waiting'),
    /** The wait's build key; the wait is the build's event 0 (the approved build's go on from 1). */
    key: buildKeySchema,
    worker: text(255).min(1),
    at: int,
    job: z.string().regex(JOB_NAME, 'not a job name'),
    commit: z.string().refine(isCommitId, 'not a full commit id'),
    ref: text(1024).refine((r) => refProblem(r) === null, 'not a git ref'),
    subject: shownText(MAX_SUBJECT),
    author: shownText(MAX_PERSON),
    request: buildRequestSchema,
  })
  .refine((w) => w.request.pull?.fork === true && w.request.pull.action !== 'closed' && w.request.approval === undefined, {
    message: "only a fork's pull request, opened or updated and not approved, waits for approval",
  })
  .refine((w) => w.ref.startsWith('refs/pull/'), { message: "not a pull request's ref", path: ['ref'] });

/**
 * A pull request was closed (its request, as a worker started with --fork-approval saw it):
 * the server cancels the builds of it that still wait for approval.
 */
const pullClosedSchema = z
  .object({
    type: z.literal('pull-closed'),
    worker: text(255).min(1),
    at: int,
    job: z.string().regex(JOB_NAME, 'not a job name'),
    request: buildRequestSchema,
  })
  .refine((c) => c.request.pull?.action === 'closed', { message: 'not a close', path: ['request'] });

export const buildEventWireSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.enum(['queued', 'started']), ...common }),
    z.object({
      type: z.literal('finished'),
      ...common,
      published: z.object({ binaries: text(4096).nullable(), docs: text(4096).nullable() }),
      /** How much log the worker sent (absent from workers older than the log chunks). */
      log: z.object({ chunks: int, bytes: int }).optional(),
    }),
    z.object({
      type: z.enum(['step-started', 'step-finished']),
      ...common,
      step: z.number().int().min(1).max(100_000),
      command: text(64 * 1024),
      exitCode: z.number().int().optional(),
      seconds: z.number().min(0).optional(),
    }),
  ])
  // A push's statuses go to the commit built: a head is for pull requests' builds only.
  .refine((e) => e.head === undefined || e.build.ref?.startsWith('refs/pull/') === true, { message: 'only a pull request build names a head', path: ['head'] })
  .refine((e) => e.pull === undefined || e.build.ref?.startsWith('refs/pull/') === true, {
    message: 'only a pull request build names a pull request',
    path: ['pull'],
  });

export type BuildEventWire = z.infer<typeof buildEventWireSchema>;

/** Everything on the events topic: a build's events, and the waits and closes of forks' pull requests. */
export const eventsTopicSchema = z.union([buildEventWireSchema, waitingSchema, pullClosedSchema]);

export type EventsTopicWire = z.infer<typeof eventsTopicSchema>;
export type WaitingWire = z.infer<typeof waitingSchema>;
export type PullClosedWire = z.infer<typeof pullClosedSchema>;
