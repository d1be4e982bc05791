/**
 * A build event as a worker publishes it on the events topic (worker.ts `publishEvent`),
 * checked field by field: the server takes nothing from the topic on trust.
 */
import { z } from 'zod';

import { BUILD_STATUSES } from '../ci/build-status';
import { buildKeySchema } from '../ci/log-chunks';
import { MAX_PERSON, MAX_SUBJECT, oneLine } from '../ci/commit-info';
import { fullNameProblem, isCommitId, refProblem } from '../ci/names';

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
};

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
  .refine((e) => e.head === undefined || e.build.ref?.startsWith('refs/pull/') === true, { message: 'only a pull request build names a head', path: ['head'] });

export type BuildEventWire = z.infer<typeof buildEventWireSchema>;
