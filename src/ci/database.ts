/**
 * Opens the CI's SQLite files the way every process sharing them must, and brings their
 * schema up to date with numbered migrations (`PRAGMA user_version` says how many ran).
 */
import Database from 'better-sqlite3';

export function openDatabase(file: string): Database.Database {
  const db = new Database(file);
  // Several processes (builders, workers, the receiver) share a file: WAL lets readers run
  // beside a writer, and a busy timeout waits for a writer's lock instead of failing.
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  return db;
}

/**
 * One step of a schema's history. Version N is the schema after migrations 1..N ran; a
 * migration, once released, never changes (databases out there already ran it): a change
 * is a new migration at the end of the list.
 */
export interface Migration {
  version: number;
  /** What it changes, in a few words (shown when it fails). */
  description: string;
  up(db: Database.Database): void;
}

/** The database was written by a newer lxcts: older code must not write to it. */
export class SchemaTooNewError extends Error {
  readonly code = 'SCHEMA_TOO_NEW';
}

function userVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Runs the migrations `db` has not run yet, each in its own write transaction together
 * with the version it reaches, so that a crash leaves the database at a whole version and
 * processes opening the same file at once run each migration exactly once. `what` names
 * the file in errors.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[], what: string): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`${what}: migration ${i + 1} is numbered ${m.version}: migrations are numbered 1, 2, 3... in order`);
  });
  const latest = migrations.length;
  const refuseNewer = (found: number): void => {
    if (found > latest)
      throw new SchemaTooNewError(
        `${what} has schema version ${found}, newer than this lxcts knows (${latest}): it was written by a newer lxcts; run that version, or move the file aside to start afresh`,
      );
  };
  const found = userVersion(db);
  refuseNewer(found);
  // An up-to-date database (every open but the first) only reads the version: no write lock.
  if (found === latest) return;
  for (const m of migrations) {
    db.transaction(() => {
      // Read again under the write lock: another process may have migrated meanwhile.
      const now = userVersion(db);
      refuseNewer(now);
      if (now >= m.version) return;
      try {
        m.up(db);
      } catch (err) {
        throw new Error(`${what}: migration ${m.version} (${m.description}) failed: ${(err as Error).message}`, { cause: err });
      }
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}
