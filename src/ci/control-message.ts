/**
 * What the CI server tells the workers on the control topic (`lxcts.control`): today one
 * kind of message, "cancel this build". Every worker reads the topic through an ephemeral
 * channel of its own (worker.ts), so each sees every message; the worker running the build
 * stops it, and every worker remembers the cancel for a while, so that a redelivery of the
 * same push (requeued by a stopping worker, retried after an error) is recorded cancelled
 * instead of built.
 *
 * The topic is as open as nsqd is: whoever can publish to nsqd can cancel builds (as they
 * can already publish pushes). The message is checked field by field like a push, and
 * names nothing a worker turns into a path or an argument.
 */
import { z } from 'zod';

import { JOB_NAME } from './build-file';
import { buildKeySchema } from './log-chunks';
import { fullNameProblem, isCommitId } from './names';

export const CONTROL_TOPIC = 'lxcts.control';

/** Who asked, as shown in the build's message ("cancelled by admin"): printable, short. */
export const MAX_REQUESTER = 100;
/** The longest `by` the server's API takes: its messages say "admin (BY)", itself a requester. */
export const MAX_API_REQUESTER = MAX_REQUESTER - 'admin ()'.length;
export const requesterSchema = z
  .string()
  .min(1)
  .max(MAX_REQUESTER)
  .regex(/^[\x20-\x7e]+$/, 'printable ASCII only');

export const controlMessageSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('cancel'),
      /** The build's key (its worker gave it; events carry it): which running build to stop. */
      key: buildKeySchema,
      repo: z.string().refine((r) => fullNameProblem(r) === null, 'not owner/name'),
      commit: z.string().refine(isCommitId, 'not a full commit id'),
      job: z.string().regex(JOB_NAME, 'not a job name'),
      by: requesterSchema,
      /** When the server sent it (ms since the epoch): pushes received before it are cancelled when they come. */
      at: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    })
    .strict(),
]);

export type ControlMessage = z.infer<typeof controlMessageSchema>;
export type CancelMessage = Extract<ControlMessage, { type: 'cancel' }>;

/** How long a worker remembers a cancel, and how many it keeps (the oldest go first). */
const REMEMBER_MS = 60 * 60_000;
const REMEMBER_MAX = 1000;
/**
 * How far ahead of this worker's clock a cancel's `at` is taken. `at` is the sender's word,
 * and whoever can publish to nsqd sends one: dated in the far future, a cancel would never
 * grow old (every push and re-run of the commit cancelled until a restart) and would keep
 * the cancels remembered after it from being forgotten.
 */
const MAX_AHEAD_MS = 5 * 60_000;

/**
 * The cancels a worker has seen, by repository, commit and job: a push of that commit
 * received before the cancel was sent is cancelled when it comes. A re-run (received after)
 * is not. Receivers and the server may sit on machines whose clocks differ: a skew larger
 * than the time between a push and its cancel lets a redelivered push build.
 */
export class CancelMemory {
  readonly #cancels = new Map<string, CancelMessage>();

  constructor(private readonly now: () => number = Date.now) {}

  remember(cancel: CancelMessage): void {
    const key = memoryKey(cancel.repo, cancel.commit, cancel.job);
    this.#cancels.delete(key);
    this.#cancels.set(key, { ...cancel, at: Math.min(cancel.at, this.now() + MAX_AHEAD_MS) });
    this.#forgetOld();
  }

  /** The cancel that covers a push of `commit` received at `receivedAt`, if any. */
  covering(request: { repo: string; after: string; receivedAt: number }, job: string): CancelMessage | undefined {
    this.#forgetOld();
    const cancel = this.#cancels.get(memoryKey(request.repo, request.after, job));
    return cancel && request.receivedAt < cancel.at ? cancel : undefined;
  }

  #forgetOld(): void {
    const oldest = this.now() - REMEMBER_MS;
    for (const [key, cancel] of this.#cancels) {
      // Insertion order is arrival order: stop at the first one still kept.
      if (this.#cancels.size <= REMEMBER_MAX && cancel.at >= oldest) break;
      this.#cancels.delete(key);
    }
  }
}

const memoryKey = (repo: string, commit: string, job: string) => `${repo}\0${commit}\0${job}`;
