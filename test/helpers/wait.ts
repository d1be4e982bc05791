/** The one polling loop of the tests (and the bench): wait until a condition holds, or fail saying what never happened. */

export interface WaitOptions {
  /** Give up after this long. Default: 15 s. */
  seconds?: number;
  /** Time between checks. Default: 50 ms. */
  everyMs?: number;
}

/**
 * Resolves once `check` returns true; rejects after `seconds` with "timed out waiting for
 * <what>". `what` may be a function, called only then, to add what was seen (a screen, a log).
 */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string | (() => string), options: WaitOptions = {}): Promise<void> {
  const { seconds = 15, everyMs = 50 } = options;
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what} (${seconds} s)`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
