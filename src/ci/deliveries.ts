/** Webhook deliveries already accepted, by X-GitHub-Delivery, kept across restarts. */
import type Database from 'better-sqlite3';

import { openDatabase } from './database';

export class DeliveryLog {
  readonly #db: Database.Database;

  constructor(file: string) {
    this.#db = openDatabase(file);
    this.#db.exec(`CREATE TABLE IF NOT EXISTS deliveries (
      id TEXT PRIMARY KEY,
      event TEXT NOT NULL,
      received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )`);
  }

  /** Records a delivery; false when it was recorded before (a redelivery). */
  record(id: string, event: string): boolean {
    return this.#db.prepare('INSERT OR IGNORE INTO deliveries (id, event) VALUES (?, ?)').run(id, event).changes === 1;
  }

  /** Forgets a delivery whose message could not be kept, so a redelivery is accepted. */
  forget(id: string): void {
    this.#db.prepare('DELETE FROM deliveries WHERE id = ?').run(id);
  }

  close(): void {
    this.#db.close();
  }
}
