/**
 * The files `ci up` keeps in the data directory: the webhook secret, the admin token and
 * the NSQ message key (made once, mode 0600, kept across runs), `up.json` (where everything listens, for
 * scripts such as the demo; present only while all is ready) and `up-processes.json` (the
 * children of the running `ci up`, so that a later one can stop what a killed one left).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { PrivateFileError, readPrivateFile } from '../ci/private-file';

export const WEBHOOK_SECRET_FILE = 'webhook-secret';
export const ADMIN_TOKEN_FILE = 'admin-token';
/** The key every message on nsqd is signed with (src/ci/message-seal.ts), passed to every component. */
export const MESSAGE_KEY_FILE = 'message-key';
export const UP_STATE_FILE = 'up.json';
export const UP_PROCESSES_FILE = 'up-processes.json';

/** What up.json holds: the addresses of a running `ci up` and its pid. */
export interface UpState {
  /** The dashboard's URL (ci server). */
  dashboard: string;
  /** The URL to give GitHub or `ci hook install --url`. */
  webhook: string;
  /** nsqd's TCP and HTTP addresses, nsqlookupd's HTTP address (host:port). */
  nsqdTcp: string;
  nsqdHttp: string;
  lookupdHttp: string;
  webhookSecretFile: string;
  adminTokenFile: string;
  messageKeyFile: string;
  /** The `ci up` process. */
  pid: number;
}

/** A child of `ci up`: its name and its process identity (process-identity.ts). */
export interface UpProcess {
  name: string;
  identity: string;
}

/**
 * `file` holding a random secret: kept as it is when it exists and is not empty (an
 * operator's own secret, or the one a hook was installed with), else made (32 random
 * bytes as hex, mode 0600). `created` says which. A kept one must be a regular file of
 * this user that no one else may read: a secret others can read is no secret, and saying
 * so beats using it.
 */
export function ensureSecretFile(file: string, what = 'secret file'): { file: string; created: boolean } {
  if (keptSecretFile(file, what)) return { file, created: false };
  // Made 0600 before the secret is in it, then renamed over an empty file left there: never readable by others.
  writeFileAtomically(file, `${randomBytes(32).toString('hex')}\n`, 0o600);
  return { file, created: true };
}

/** Whether `file` holds a secret to keep; throws when it does but is not private (private-file.ts). */
function keptSecretFile(file: string, what: string): boolean {
  try {
    return readPrivateFile(file, what).toString('utf8').trim() !== '';
  } catch (err) {
    if (!(err instanceof PrivateFileError)) throw err;
    if (err.problem === 'missing') return false;
    // An empty file holds no secret to protect: made afresh, as a missing one.
    if (err.problem === 'readable-by-others' && fs.readFileSync(file, 'utf8').trim() === '') return false;
    throw err;
  }
}

/** Writes `text` to `file` so that a reader sees the old file or the whole new one. */
function writeFileAtomically(file: string, text: string, mode = 0o644): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(temporary, text, { mode, flag: 'w' });
  fs.chmodSync(temporary, mode); // a temporary left by a killed run keeps its mode otherwise
  fs.renameSync(temporary, file);
}

/** Writes `value` as JSON to `file` so that a reader sees the old file or the whole new one. */
export function writeJsonAtomically(file: string, value: unknown): void {
  writeFileAtomically(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** The JSON in `file`, or null when it is missing or unreadable. */
export function readJsonFile<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** up.json of the data directory `root`, or null. Its `pid` may be dead: a `ci up` killed with SIGKILL leaves it. */
export function readUpState(root: string): UpState | null {
  return readJsonFile<UpState>(path.join(root, UP_STATE_FILE));
}
