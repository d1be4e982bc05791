/** Largest delay of a 5 ms interval timer while `work` runs: how long the event loop stalled. */
export async function largestTimerDelay(work: () => Promise<void>): Promise<number> {
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
