/** Opens the CI's SQLite files the way every process sharing them must. */
import Database from 'better-sqlite3';

export function openDatabase(file: string): Database.Database {
  const db = new Database(file);
  // Several processes (builders, workers, the receiver) share a file: WAL lets readers run
  // beside a writer, and a busy timeout waits for a writer's lock instead of failing.
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  return db;
}
