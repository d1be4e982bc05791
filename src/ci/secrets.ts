/**
 * Repository secrets: the rules for their names and values, who may have them, and their
 * encryption at rest (AES-256-GCM with a key file of the data directory).
 *
 * Each value is sealed with its own random 96-bit IV, and with the repository and the name
 * as additional authenticated data: a row copied to another repository or name, an edited
 * ciphertext or a different key file all fail authentication, and the failure is an error
 * that says so, never bytes handed to a build.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';

import { stepEnvironment } from './steps';
import { PrivateFileError, readPrivateFile } from './private-file';

/** A secret's name: what its environment variable is called. */
export const SECRET_NAME = /^[A-Z_][A-Z0-9_]*$/;
export const MAX_SECRET_NAME = 128;
/** The most bytes a value may have: a key or a token, not a file system. */
export const MAX_SECRET_VALUE = 64 * 1024;

/**
 * Names a secret may not take: the variables lxcts sets for every step (a secret would be
 * overridden, or would shadow what the build relies on), and those of the shell, the
 * dynamic linker and the locale, which change how every program of the step runs.
 */
const CI_VARIABLES = new Set(Object.keys(stepEnvironment({ env: {} }, 'job', { commit: '', branch: null })));
const SYSTEM_VARIABLES = new Set([
  'PATH',
  'HOME',
  'SHELL',
  'USER',
  'LOGNAME',
  'PWD',
  'OLDPWD',
  'TERM',
  'TMPDIR',
  'HOSTNAME',
  'LANG',
  'LANGUAGE',
  'IFS',
  'ENV',
  'BASH_ENV',
  'CDPATH',
  'PS1',
  'PS2',
  'PS4',
  'SHELLOPTS',
  'BASHOPTS',
  'PROMPT_COMMAND',
]);
const SYSTEM_PREFIXES = ['LXCTS_', 'LD_', 'LC_', 'BASH_FUNC_', 'GIT_'];

/** Why `name` cannot be a secret's name, or null. */
export function secretNameProblem(name: string): string | null {
  const shown = JSON.stringify(name.slice(0, MAX_SECRET_NAME + 1));
  if (name.length === 0 || name.length > MAX_SECRET_NAME || !SECRET_NAME.test(name))
    return `secret name ${shown} is not upper-case letters, digits and _ (starting with a letter or _, at most ${MAX_SECRET_NAME})`;
  if (CI_VARIABLES.has(name) || SYSTEM_VARIABLES.has(name) || SYSTEM_PREFIXES.some((prefix) => name.startsWith(prefix)))
    return `secret name ${shown} is a variable lxcts or the system sets (${[...new Set([...CI_VARIABLES, 'PATH', 'SHELL'])].join(', ')}, LD_*, LC_*, LXCTS_*, GIT_*...)`;
  return null;
}

/** Why `value` cannot be a secret's value, or null. */
export function secretValueProblem(value: Buffer): string | null {
  if (value.length === 0) return 'the value is empty';
  if (value.length > MAX_SECRET_VALUE) return `the value is ${value.length} bytes, more than ${MAX_SECRET_VALUE}`;
  if (value.includes(0)) return 'the value has a NUL byte (an environment variable cannot hold one)';
  // Steps get it as an environment variable, which Node passes as a UTF-8 string.
  if (!Buffer.from(value.toString('utf8')).equals(value)) return 'the value is not UTF-8 text';
  return null;
}

/** The build request, as far as trust goes: what `secretsAllowed` reads (push-event.ts's fields). */
export interface SecretTrust {
  kind: 'push' | 'pull_request';
  /** The base repository (owner/name). */
  repo: string;
  /** A pull request's build: its head repository (null: GitHub no longer knows it) and whether the receiver saw a fork. */
  pull?: { headRepo: string | null; fork: boolean };
}

/**
 * Whether a build may have its repository's secrets: pushes (only someone with write access
 * pushes), and pull requests whose head is known to be the same repository. A pull request
 * from a fork, or one nothing says is not from a fork, is someone else's code: no secrets.
 * (pull-request.ts's `isTrusted` takes the same `fork` flag for network and limits.)
 */
export function secretsAllowed(request: SecretTrust): boolean {
  if (request.kind === 'push') return request.pull === undefined;
  const pull = request.pull;
  if (request.kind !== 'pull_request' || pull === undefined || pull.fork) return false;
  return pull.headRepo !== null && pull.headRepo.toLowerCase() === request.repo.toLowerCase();
}

/**
 * A job names a secret the repository does not have, or may not have here: the user's
 * mistake, so the job's failure (errors.ts's UserFailure code; not imported, which would be a cycle).
 */
export class SecretUnavailableError extends Error {
  readonly code = 'USER_FAILURE';
}

/** A stored value failed authentication. */
export class SecretTamperedError extends Error {
  readonly code = 'SECRET_TAMPERED';
}

/** The key file is missing, of the wrong size, or readable by others. */
export class SecretKeyError extends Error {
  readonly code = 'SECRET_KEY';
}

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed value as stored. */
export interface SealedSecret {
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** What binds a sealed value to its place: the repository and the name. */
function additionalData(repo: string, name: string): Buffer {
  return Buffer.from(`lxcts-secret-v1\0${repo}\0${name}`);
}

export function sealSecret(key: Buffer, repo: string, name: string, value: Buffer): SealedSecret {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(repo, name));
  const ciphertext = Buffer.concat([cipher.update(value), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

export function openSecret(key: Buffer, repo: string, name: string, sealed: SealedSecret): Buffer {
  try {
    if (sealed.iv.length !== IV_BYTES || sealed.tag.length !== TAG_BYTES) throw new Error('wrong IV or tag length');
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(additionalData(repo, name));
    decipher.setAuthTag(sealed.tag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
  } catch (err) {
    throw new SecretTamperedError(
      `secret ${name} of ${repo} does not decrypt: its stored value was changed or copied from another repository or name, or the key file is not the one it was set with; set it again`,
      { cause: err },
    );
  }
}

/**
 * Reads the key file, refusing one that others may read, that is not a regular file of
 * ours, or that is not 32 bytes. With `create`, a missing file is made (32 random bytes,
 * mode 0600, never overwriting one another process made meanwhile).
 */
export function readSecretKey(file: string, options: { create?: boolean } = {}): Buffer {
  let key: Buffer;
  try {
    key = readPrivateFile(file, 'secret key');
  } catch (err) {
    if (!(err instanceof PrivateFileError)) throw err;
    if (err.problem === 'missing' && options.create) return createKey(file);
    if (err.problem === 'missing') throw new SecretKeyError(`no secret key ${file}: no secret was set with this data directory`);
    throw new SecretKeyError(err.problem === 'readable-by-others' ? `${err.message} (and consider setting every secret again)` : err.message);
  }
  if (key.length !== KEY_BYTES) throw new SecretKeyError(`the secret key ${file} has ${key.length} bytes, not ${KEY_BYTES}`);
  return key;
}

function createKey(file: string): Buffer {
  const key = randomBytes(KEY_BYTES);
  // Written whole under another name, then linked in place: a process reading at the same
  // time sees no file or the whole key, and link() never replaces one another process made.
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const fd = fs.openSync(temporary, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    try {
      // The umask only takes bits away; fchmod says 0600 whatever it is.
      fs.fchmodSync(fd, 0o600);
      fs.writeFileSync(fd, key);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(temporary, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readSecretKey(file);
      throw err;
    }
    return key;
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}
