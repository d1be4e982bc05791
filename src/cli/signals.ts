/** Waiting for the signals that end a long-running command (Ctrl-C, kill, a supervisor). */
import { once } from 'node:events';

/**
 * An AbortSignal that aborts at the first of `signals` to reach this process. The listeners
 * go away then, or when `stop` is called: a second signal gets its default action (ends
 * the process), as it would without lxcts's handlers.
 */
export function abortOn(signals: readonly NodeJS.Signals[]): { signal: AbortSignal; stop: () => void } {
  const controller = new AbortController();
  const stop = () => {
    for (const s of signals) process.off(s, abort);
  };
  const abort = (s: NodeJS.Signals) => {
    stop();
    controller.abort(s);
  };
  for (const s of signals) process.once(s, abort);
  return { signal: controller.signal, stop };
}

/** Resolves at the first SIGINT or SIGTERM: the moment a service starts its graceful stop. */
export async function untilStopSignal(): Promise<void> {
  const { signal } = abortOn(['SIGINT', 'SIGTERM']);
  await once(signal, 'abort');
}
