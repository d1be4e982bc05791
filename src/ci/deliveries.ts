/**
 * Webhook deliveries already accepted, kept across restarts: by X-GitHub-Delivery, and by
 * the push they carry. The signature covers the body but not the delivery header, so a
 * body replayed under a new delivery id is recognised by its (repository, ref, before,
 * after): it builds nothing new and, published again, would cancel newer builds. When the
 * server says when the push happened (repository.pushed_at), that is part of the key too:
 * force-pushing a branch back and forth (A to B, B to A, A to B) makes the same
 * (before, after) twice, and the second is a real push.
 */
import type Database from 'better-sqlite3';

import { migrate, type Migration, openDatabase } from './database';

/** The deliveries file's schema history (database.ts): a change is a new migration at the end. */
export const DELIVERY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'deliveries and pushes tables',
    // Also adopts the files made before versions were numbered (version 0): same tables.
    up(db: Database.Database) {
      db.exec(`CREATE TABLE IF NOT EXISTS deliveries (
        id TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      );
      CREATE TABLE IF NOT EXISTS pushes (
        repo TEXT NOT NULL,
        ref TEXT NOT NULL,
        before TEXT NOT NULL,
        after TEXT NOT NULL,
        pushed_at TEXT NOT NULL,
        delivery TEXT NOT NULL,
        PRIMARY KEY (repo, ref, before, after, pushed_at)
      )`);
    },
  },
];

export interface PushKey {
  repo: string;
  ref: string;
  before: string;
  after: string;
  /** repository.pushed_at, when the event has it. */
  pushedAt?: string;
}

/** new: publish it; redelivery: this delivery id was seen; replay: this push was seen under another id. */
export type DeliveryOutcome = 'new' | 'redelivery' | 'replay';

export class DeliveryLog {
  readonly #db: Database.Database;

  constructor(file: string) {
    this.#db = openDatabase(file);
    migrate(this.#db, DELIVERY_MIGRATIONS, file);
  }

  /** Records a delivery and, when given, the push it carries. */
  record(id: string, event: string, push?: PushKey): DeliveryOutcome {
    return this.#db
      .transaction((): DeliveryOutcome => {
        if (this.#db.prepare('INSERT OR IGNORE INTO deliveries (id, event) VALUES (?, ?)').run(id, event).changes === 0) return 'redelivery';
        if (!push) return 'new';
        const inserted = this.#db
          .prepare('INSERT OR IGNORE INTO pushes (repo, ref, before, after, pushed_at, delivery) VALUES (?, ?, ?, ?, ?, ?)')
          .run(push.repo, push.ref, push.before, push.after, push.pushedAt ?? '', id).changes;
        return inserted === 1 ? 'new' : 'replay';
      })
      .immediate();
  }

  /** Forgets a delivery whose message could not be kept, so a redelivery is accepted. */
  forget(id: string): void {
    this.#db
      .transaction(() => {
        this.#db.prepare('DELETE FROM deliveries WHERE id = ?').run(id);
        this.#db.prepare('DELETE FROM pushes WHERE delivery = ?').run(id);
      })
      .immediate();
  }

  close(): void {
    this.#db.close();
  }
}
