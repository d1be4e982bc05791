/**
 * @tier unit
 * The receiver's deliveries file (deliveries.ts) has numbered migrations like the other
 * stores: a file made before versions were numbered keeps every delivery it knew (a
 * redelivery after the upgrade is still recognised), and a file from a newer lxcts is
 * refused untouched.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { DELIVERY_MIGRATIONS, DeliveryLog } from '../../src/ci/deliveries';
import { failureOfSync as failureOf } from '../helpers/failure';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-deliveries-'));
  file = path.join(dir, 'deliveries.sqlite');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function raw<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(file);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const push = { repo: 'alice/tool', ref: 'refs/heads/main', before: '1'.repeat(40), after: '2'.repeat(40) };

test('a file made before versions were numbered is adopted with what it knew', () => {
  // What the receiver wrote before migrations: the same tables, user_version 0.
  raw((db) =>
    db.exec(`CREATE TABLE deliveries (id TEXT PRIMARY KEY, event TEXT NOT NULL, received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
      CREATE TABLE pushes (repo TEXT NOT NULL, ref TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL, pushed_at TEXT NOT NULL, delivery TEXT NOT NULL, PRIMARY KEY (repo, ref, before, after, pushed_at));
      INSERT INTO deliveries (id, event) VALUES ('old-1', 'push');
      INSERT INTO pushes VALUES ('alice/tool', 'refs/heads/main', '${push.before}', '${push.after}', '', 'old-1');`),
  );
  const log = new DeliveryLog(file);
  try {
    expect(log.record('old-1', 'push', push)).toBe('redelivery');
    expect(log.record('new-1', 'push', push)).toBe('replay');
  } finally {
    log.close();
  }
  expect(raw((db) => db.pragma('user_version', { simple: true }))).toBe(DELIVERY_MIGRATIONS.length);
});

test('a file from a newer lxcts is refused with a clear error and left untouched', () => {
  raw((db) => db.pragma(`user_version = ${DELIVERY_MIGRATIONS.length + 1}`));
  const err = failureOf(() => new DeliveryLog(file));
  expect(err).toMatchObject({ code: 'SCHEMA_TOO_NEW' });
  expect(String(err.message)).toContain(`${file} has schema version ${DELIVERY_MIGRATIONS.length + 1}`);
  raw((db) => expect(db.prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").all()).toEqual([]));
});
