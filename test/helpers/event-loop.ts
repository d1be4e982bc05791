import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { startStallMeter, Stalls } from '../fixtures/stall-meter';

export type { Stalls };

/**
 * A full garbage collection now, so that one of a jest worker's large heap does not land
 * inside a measurement and pass for a stall of the code under test.
 */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** How long the event loop stalled while `work` ran. */
export async function stallsDuring(work: () => Promise<void>): Promise<Stalls> {
  collectGarbage();
  const meter = startStallMeter();
  try {
    await work();
  } catch (err) {
    meter.stop();
    throw err;
  }
  return meter.stop();
}

/** The longest stall of the event loop while `work` ran, in milliseconds. */
export async function largestTimerDelay(work: () => Promise<void>): Promise<number> {
  return (await stallsDuring(work)).maxMs;
}
