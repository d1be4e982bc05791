import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection now, so that one of a jest worker's large heap does not land
 * inside a measurement and pass for a stall of the code under test.
 */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Largest delay of a 5 ms interval timer while `work` runs: how long the event loop stalled. */
export async function largestTimerDelay(work: () => Promise<void>): Promise<number> {
  collectGarbage();
  const interval = 5;
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - interval);
    last = now;
  }, interval);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return worst;
}
