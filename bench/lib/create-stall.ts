/**
 * Issue 13, item 9: how long the event loop stalls while 4 containers go through create
 * (from the busybox template, which forks), start, stop and destroy at once. Measured by
 * test/fixtures/event-loop-probe.js in a Node process of its own, of ordinary size (as an
 * application's), from the built library: the bench builds dist/ before it runs.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

import type { Stalls } from '../../test/fixtures/stall-meter';
import { ROOT } from './paths';
import type { Target } from './report';
import type { Result } from './workloads';

export const CREATE_STALL = 'event-loop stall, 4 lifecycles at once, each creating from the busybox template';
export const CREATE_STALL_LIMIT_MS = 50;
const LIFECYCLES = 4;

const probe = path.join(ROOT, 'test', 'fixtures', 'event-loop-probe.js');

/** `runs` probe runs; the worst run's numbers are reported. */
export async function runCreateStall(lxcpath: string, runs: number): Promise<Result> {
  const unit = 'ms of stall';
  try {
    let worst: Stalls | undefined;
    const maxima: number[] = [];
    for (let i = 0; i < runs; i++) {
      const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', probe, lxcpath, String(LIFECYCLES), '--no-freeze'], {
        timeout: 180_000,
      });
      const stalls = JSON.parse(stdout) as Stalls;
      maxima.push(stalls.maxMs);
      if (!worst || stalls.maxMs > worst.maxMs) worst = stalls;
    }
    if (!worst) throw new Error('no probe run');
    return {
      workload: CREATE_STALL,
      peer: 'lxcts',
      unit,
      summary: { n: worst.samples, median: worst.p50Ms, p95: NaN, p99: worst.p99Ms, min: NaN, max: worst.maxMs },
      extra: { p999Ms: worst.p999Ms, runs, maxima },
    };
  } catch (err) {
    return { workload: CREATE_STALL, peer: 'lxcts', unit, error: (err as Error).message };
  }
}

/** Target: the largest stall under 50 ms (p99.9 shown with it). */
export function createStallTarget(results: Result[]): Target {
  const target = `event-loop stall max < ${CREATE_STALL_LIMIT_MS} ms, 4 lifecycles creating from a template at once`;
  const r = results.find((x) => x.workload === CREATE_STALL && x.peer === 'lxcts');
  if (!r?.summary) return { target, measured: r?.error ?? 'not measured', met: null };
  const p999 = (r.extra as { p999Ms: number }).p999Ms;
  return { target, measured: `max ${r.summary.max.toFixed(1)} ms, p99.9 ${p999.toFixed(1)} ms`, met: r.summary.max < CREATE_STALL_LIMIT_MS };
}
