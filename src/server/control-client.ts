/**
 * The client's side of re-run and cancel (`lxcts ci rerun|cancel`): one POST to the
 * server's API with the admin token, and a failure that says whether the server could not
 * be reached or refused (with its reason).
 */
import { z } from 'zod';

import { oneLine } from '../ci/commit-info';
import { boundedBody } from './bounded-body';
import type { ControlAction } from './control';

/** How long the server may take to answer (it answers once nsqd took the message). */
const CALL_TIMEOUT_MS = 30_000;
/** The server's answer is a sentence in JSON: anything larger is not an answer. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** What of the server's words reaches the terminal: one printable line (no escape sequences), this long at most. */
const MAX_SHOWN = 1000;

export class ControlError extends Error {
  constructor(
    message: string,
    readonly code: 'SERVER_UNREACHABLE' | 'SERVER_REFUSED',
    /** The server's HTTP status, when it answered. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

const answerSchema = z.object({
  action: z.enum(['rerun', 'cancel', 'approve']),
  build: z.number().int(),
  message: z.string(),
  delivery: z.string().optional(),
});

export type ControlAnswer = z.infer<typeof answerSchema>;

export async function requestControl(o: {
  server: string;
  token: string;
  action: ControlAction;
  build: number;
  by?: string;
  signal?: AbortSignal;
}): Promise<ControlAnswer> {
  const url = new URL(`/api/builds/${o.build}/${o.action}`, o.server);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${o.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(o.by === undefined ? {} : { by: o.by }),
      signal: o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]) : AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
    throw new ControlError(`cannot reach the CI server at ${url.origin}: ${cause}`, 'SERVER_UNREACHABLE');
  }
  let text: string;
  try {
    const tooLarge = () => new ControlError(`the CI server at ${url.origin} answered more than ${MAX_ANSWER_BYTES} bytes`, 'SERVER_REFUSED', response.status);
    text = (await boundedBody(response, MAX_ANSWER_BYTES, tooLarge)).toString('utf8');
  } catch (err) {
    if (err instanceof ControlError) throw err;
    throw new ControlError(`cannot read the answer of the CI server at ${url.origin}: ${(err as Error).message}`, 'SERVER_UNREACHABLE');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const reason = (body as { error?: unknown } | undefined)?.error;
    const said = oneLine(typeof reason === 'string' ? reason : text.slice(0, 200) || response.statusText, MAX_SHOWN);
    throw new ControlError(`the CI server at ${url.origin} refused (${response.status}): ${said}`, 'SERVER_REFUSED', response.status);
  }
  const answer = answerSchema.safeParse(body);
  if (!answer.success)
    throw new ControlError(
      `the CI server at ${url.origin} answered something else than a ${o.action}: ${oneLine(text.slice(0, 200), MAX_SHOWN)}`,
      'SERVER_REFUSED',
      response.status,
    );
  return { ...answer.data, message: oneLine(answer.data.message, MAX_SHOWN) };
}
