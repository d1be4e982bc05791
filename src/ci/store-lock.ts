/**
 * Named locks shared by every process using one SQLite file (the builds database): a row
 * in `locks` per held lock, owned by a process identity that survives pid reuse, so the
 * lock of a holder that died is taken over instead of blocking forever.
 */
import type Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { currentProcessIdentity, isProcessAlive } from './process-identity';

/** How often a waiter looks at the lock again. */
const POLL_MS = 50;

export class StoreLocks {
  readonly #take: (name: string, owner: string) => boolean;
  readonly #release: Database.Statement<[string, string]>;

  /** `db` must have the `locks` table (store-schema.ts). */
  constructor(db: Database.Database) {
    const holder = db.prepare<[string], { owner: string }>('SELECT owner FROM locks WHERE name = ?');
    const own = db.prepare<[string, string]>('INSERT OR REPLACE INTO locks (name, owner) VALUES (?, ?)');
    this.#release = db.prepare<[string, string]>('DELETE FROM locks WHERE name = ? AND owner = ?');
    const take = db.transaction((name: string, owner: string): boolean => {
      const held = holder.get(name);
      // An owner is "<boot id>/<pid>/<start time>/<random>": the first three name the process.
      if (held && isProcessAlive(held.owner.split('/').slice(0, 3).join('/'))) return false;
      own.run(name, owner);
      return true;
    });
    // IMMEDIATE: the check and the take are one write transaction, never two processes' reads.
    this.#take = (name, owner) => take.immediate(name, owner);
  }

  /**
   * Runs `fn` holding the lock `name`, one holder at a time across this process (each call
   * is its own owner) and every other process using the file. Throws after `timeoutMs`
   * without running `fn` when a live holder keeps it.
   */
  async withLock<T>(name: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
    const me = `${currentProcessIdentity()}/${randomUUID()}`;
    const deadline = Date.now() + timeoutMs;
    while (!this.#take(name, me)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${name}`);
      await sleep(POLL_MS);
    }
    try {
      return await fn();
    } finally {
      this.#release.run(name, me);
    }
  }
}
