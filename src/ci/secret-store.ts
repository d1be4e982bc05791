/**
 * Where secrets are kept: `<data-dir>/secrets.sqlite` (mode 0600), one row per repository
 * and name with the sealed value (secrets.ts), and the key in `<data-dir>/secrets.key`.
 * Only `ci secret set` creates the key; a builder only reads it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type Database from 'better-sqlite3';

import { Migration, migrate, openDatabase } from './database';
import { parseFullName } from './names';
import { openSecret, readSecretKey, SecretUnavailableError, sealSecret, secretNameProblem, secretValueProblem } from './secrets';
import { InvalidNameError } from './names';

export const SECRET_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'the secrets table',
    up: (db) =>
      db.exec(`CREATE TABLE secrets (
        repo TEXT NOT NULL,
        name TEXT NOT NULL,
        iv BLOB NOT NULL,
        tag BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (repo, name)
      ) STRICT`),
  },
];

/** A secret as `ci secret list` shows it: never its value. */
export interface SecretEntry {
  name: string;
  createdAt: string;
  updatedAt: string;
}

export function secretFiles(dataRoot: string): { database: string; key: string } {
  return { database: path.join(dataRoot, 'secrets.sqlite'), key: path.join(dataRoot, 'secrets.key') };
}

export class SecretStore {
  readonly #db: Database.Database;
  readonly #keyFile: string;

  /** Opens (or creates, mode 0600) the secrets of the data directory at `dataRoot`. */
  constructor(dataRoot: string) {
    const files = secretFiles(dataRoot);
    this.#keyFile = files.key;
    // Made 0600 before SQLite opens it: its rows are ciphertext, but names and times are nobody else's business.
    fs.closeSync(fs.openSync(files.database, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600));
    fs.chmodSync(files.database, 0o600);
    this.#db = openDatabase(files.database);
    migrate(this.#db, SECRET_MIGRATIONS, files.database);
  }

  /** Sets (or replaces) a secret; the key file is created on the first. */
  set(repo: string, name: string, value: Buffer): void {
    checkPlace(repo, name);
    const problem = secretValueProblem(value);
    if (problem) throw new InvalidNameError(`secret ${name}: ${problem}`);
    const sealed = sealSecret(readSecretKey(this.#keyFile, { create: true }), repo, name, value);
    const now = new Date().toISOString();
    this.#db
      .prepare(
        `INSERT INTO secrets (repo, name, iv, tag, ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (repo, name) DO UPDATE SET iv = excluded.iv, tag = excluded.tag, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
      )
      .run(repo, name, sealed.iv, sealed.tag, sealed.ciphertext, now, now);
  }

  list(repo: string): SecretEntry[] {
    parseFullName(repo);
    return this.#db
      .prepare<[string], SecretEntry>('SELECT name, created_at AS createdAt, updated_at AS updatedAt FROM secrets WHERE repo = ? ORDER BY name')
      .all(repo);
  }

  /** Removes a secret; false when there was none. */
  remove(repo: string, name: string): boolean {
    checkPlace(repo, name);
    return this.#db.prepare('DELETE FROM secrets WHERE repo = ? AND name = ?').run(repo, name).changes > 0;
  }

  /**
   * The values of `names` for a build of `repo`. A name the repository has no secret for is
   * a SecretUnavailableError naming every one missing; a value that does not decrypt is a
   * SecretTamperedError.
   */
  values(repo: string, names: readonly string[]): Record<string, string> {
    if (names.length === 0) return {};
    const get = this.#db.prepare<[string, string], { iv: Buffer; tag: Buffer; ciphertext: Buffer }>(
      'SELECT iv, tag, ciphertext FROM secrets WHERE repo = ? AND name = ?',
    );
    const rows = names.map((name) => [name, get.get(repo, name)] as const);
    const missing = rows.filter(([, row]) => row === undefined).map(([name]) => name);
    if (missing.length > 0)
      throw new SecretUnavailableError(`${repo} has no secret ${missing.join(', ')}: set it with \`lxcts ci secret set ${repo} ${missing[0]}\``);
    const key = readSecretKey(this.#keyFile);
    return Object.fromEntries(rows.map(([name, row]) => [name, openSecret(key, repo, name, row!).toString('utf8')]));
  }

  close(): void {
    this.#db.close();
  }
}

function checkPlace(repo: string, name: string): void {
  parseFullName(repo);
  const problem = secretNameProblem(name);
  if (problem) throw new InvalidNameError(problem);
}
