/**
 * One `ci up` per data directory: a named lock in the builds database (store-lock.ts),
 * owned by this process's identity, so that the lock of a `ci up` killed with SIGKILL is
 * taken over instead of blocking the next start. The one that takes it over also stops
 * what the dead one left running (its children have their own process groups: nothing
 * else would end them, and nsqd's data directory stays locked while its nsqd lives).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { DataDir } from '../ci/data-dir';
import { isProcessAlive } from '../ci/process-identity';
import { BuildStore } from '../ci/store';
import { readJsonFile, readUpState, UP_PROCESSES_FILE, UpProcess } from './up-files';

const LOCK_NAME = 'ci-up';

export class UpRunningError extends Error {
  readonly code = 'UP_RUNNING';
}

export interface UpLock {
  release(): Promise<void>;
}

/** Takes the data directory's `ci up` lock at once, or throws UpRunningError naming the one that holds it. */
export async function lockDataDir(data: DataDir): Promise<UpLock> {
  const store = new BuildStore(data.database);
  let taken!: () => void;
  let release!: () => void;
  const tookIt = new Promise<void>((resolve) => (taken = resolve));
  const held = store.withLock(
    LOCK_NAME,
    () => {
      taken();
      return new Promise<void>((resolve) => (release = resolve));
    },
    0,
  );
  try {
    await Promise.race([tookIt, held]);
  } catch (err) {
    store.close();
    if (!/timed out waiting for the lock/.test((err as Error).message)) throw err;
    const state = readUpState(data.root);
    const who = state ? `lxcts ci up (pid ${state.pid}, dashboard ${state.dashboard})` : 'lxcts ci up (still starting)';
    throw new UpRunningError(`another ${who} is running on the data directory ${data.root}: stop it first (Ctrl-C in its terminal, or kill -TERM its pid)`);
  }
  return {
    release: async () => {
      release();
      await held;
      store.close();
    },
  };
}

/** How long a leftover child gets after SIGTERM before SIGKILL. */
const LEFTOVER_GRACE_MS = 30_000;

/**
 * Stops the children a dead `ci up` recorded (call only while holding the lock), the
 * last started first; `say` reports each. A recorded identity that is no longer alive
 * (or is another process now, pid reused) is left alone.
 */
export async function stopLeftovers(data: DataDir, say: (line: string) => void): Promise<void> {
  const file = path.join(data.root, UP_PROCESSES_FILE);
  const recorded = readJsonFile<UpProcess[]>(file) ?? [];
  for (const { name, identity } of [...recorded].reverse()) {
    if (!isProcessAlive(identity)) continue;
    const pid = Number(identity.split('/')[1]);
    say(`stopping ${name} (pid ${pid}), left running by a ci up that was killed`);
    signal(pid, 'SIGTERM');
    for (const deadline = Date.now() + LEFTOVER_GRACE_MS; isProcessAlive(identity) && Date.now() < deadline;) await sleep(100);
    if (isProcessAlive(identity)) signal(pid, 'SIGKILL');
    // Reaped by init once it is gone; bounded in case nobody reaps it.
    for (const deadline = Date.now() + 10_000; isProcessAlive(identity) && Date.now() < deadline;) await sleep(50);
  }
  fs.rmSync(file, { force: true });
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone meanwhile
  }
}
