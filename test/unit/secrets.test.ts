/**
 * @tier unit
 * Secrets at rest (src/ci/secrets.ts, secret-store.ts): AES-256-GCM round trip, tampered
 * ciphertext, tag or IV and a value moved to another repository or name all refuse with
 * SECRET_TAMPERED; the key file is made 0600 and refused when others may read it; names
 * and values are checked; who may have secrets.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import Database from 'better-sqlite3';

import { parseBuildFile } from '../../src/ci/build-file';
import { SecretStore, secretFiles } from '../../src/ci/secret-store';
import { openSecret, readSecretKey, sealSecret, secretNameProblem, secretsAllowed, secretValueProblem } from '../../src/ci/secrets';
import { stepEnvironment } from '../../src/ci/steps';

const KEY = randomBytes(32);
const VALUE = Buffer.from('ghp_not-a-real-token-0123456789');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-secrets-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function code(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return (err as { code?: unknown }).code;
  }
  return 'no error';
}

describe('sealing', () => {
  test('a value opens with the same key, repository and name', () => {
    const sealed = sealSecret(KEY, 'octo/hello', 'TOKEN', VALUE);
    expect(sealed.iv).toHaveLength(12);
    expect(sealed.ciphertext.includes(VALUE)).toBe(false);
    expect(openSecret(KEY, 'octo/hello', 'TOKEN', sealed)).toEqual(VALUE);
    // A fresh IV each time: the same value never seals to the same bytes.
    expect(sealSecret(KEY, 'octo/hello', 'TOKEN', VALUE).ciphertext.equals(sealed.ciphertext)).toBe(false);
  });

  test('a changed ciphertext, tag or IV is refused, never opened to other bytes', () => {
    const sealed = sealSecret(KEY, 'octo/hello', 'TOKEN', VALUE);
    const flipped = (b: Buffer, at = 0) => Buffer.from(b.map((x, i) => (i === at ? x ^ 1 : x)));
    for (const bad of [
      { ...sealed, ciphertext: flipped(sealed.ciphertext, 5) },
      { ...sealed, tag: flipped(sealed.tag) },
      { ...sealed, iv: flipped(sealed.iv) },
      { ...sealed, ciphertext: sealed.ciphertext.subarray(1) },
      { ...sealed, tag: sealed.tag.subarray(0, 12) },
    ]) {
      expect(code(() => openSecret(KEY, 'octo/hello', 'TOKEN', bad))).toBe('SECRET_TAMPERED');
    }
    expect(code(() => openSecret(randomBytes(32), 'octo/hello', 'TOKEN', sealed))).toBe('SECRET_TAMPERED');
  });

  test('a value moved to another repository or name does not open there', () => {
    const sealed = sealSecret(KEY, 'octo/hello', 'TOKEN', VALUE);
    expect(code(() => openSecret(KEY, 'evil/hello', 'TOKEN', sealed))).toBe('SECRET_TAMPERED');
    expect(code(() => openSecret(KEY, 'octo/hello', 'OTHER', sealed))).toBe('SECRET_TAMPERED');
    // The separator keeps "octo/hel" + "loTOKEN" from being the same place.
    expect(code(() => openSecret(KEY, 'octo/hel', 'LOTOKEN', sealed))).toBe('SECRET_TAMPERED');
  });
});

describe('the key file', () => {
  test('created 0600 with 32 bytes whatever the umask, then read back the same', () => {
    const file = path.join(dir, 'secrets.key');
    const umask = process.umask(0);
    try {
      const key = readSecretKey(file, { create: true });
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(key).toHaveLength(32);
      expect(readSecretKey(file)).toEqual(key);
      expect(readSecretKey(file, { create: true })).toEqual(key);
    } finally {
      process.umask(umask);
    }
    // No temporary file is left beside it.
    expect(fs.readdirSync(dir)).toEqual(['secrets.key']);
  });

  test('refused when group or others may read it, when it is a link, or of the wrong size', () => {
    const file = path.join(dir, 'secrets.key');
    readSecretKey(file, { create: true });
    fs.chmodSync(file, 0o640);
    expect(() => readSecretKey(file)).toThrow(/mode 640: others may read it; chmod 600/);
    fs.chmodSync(file, 0o604);
    expect(code(() => readSecretKey(file))).toBe('SECRET_KEY');
    fs.chmodSync(file, 0o600);
    fs.symlinkSync(file, path.join(dir, 'link.key'));
    expect(code(() => readSecretKey(path.join(dir, 'link.key')))).toBe('SECRET_KEY');
    fs.writeFileSync(path.join(dir, 'short.key'), randomBytes(16), { mode: 0o600 });
    expect(() => readSecretKey(path.join(dir, 'short.key'))).toThrow(/16 bytes, not 32/);
    expect(() => readSecretKey(path.join(dir, 'missing.key'))).toThrow(/no secret key/);
  });
});

describe('the store', () => {
  test('set, list (no values), values for a build, remove; the files are 0600 and hold no plaintext', () => {
    const store = new SecretStore(dir);
    try {
      store.set('octo/hello', 'TOKEN', VALUE);
      store.set('octo/hello', 'OTHER', Buffer.from('second value'));
      store.set('octo/hello', 'TOKEN', Buffer.from('replaced value'));
      store.set('octo/world', 'TOKEN', Buffer.from('another repo'));
      expect(store.list('octo/hello').map((s) => s.name)).toEqual(['OTHER', 'TOKEN']);
      expect(JSON.stringify(store.list('octo/hello'))).not.toMatch(/value/);
      expect(store.values('octo/hello', ['TOKEN', 'OTHER'])).toEqual({ TOKEN: 'replaced value', OTHER: 'second value' });
      expect(() => store.values('octo/hello', ['TOKEN', 'NOPE', 'ALSO'])).toThrow(/octo\/hello has no secret NOPE, ALSO/);
      expect(code(() => store.values('octo/hello', ['NOPE']))).toBe('USER_FAILURE');
      expect(store.remove('octo/hello', 'OTHER')).toBe(true);
      expect(store.remove('octo/hello', 'OTHER')).toBe(false);
    } finally {
      store.close();
    }
    const files = secretFiles(dir);
    for (const file of [files.database, files.key]) expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    for (const name of fs.readdirSync(dir)) {
      const bytes = fs.readFileSync(path.join(dir, name));
      for (const plain of ['replaced value', 'second value', 'another repo', VALUE.toString()]) expect(bytes.includes(plain)).toBe(false);
    }
  });

  test('a row moved to another repository in the database is refused when a build reads it', () => {
    const store = new SecretStore(dir);
    try {
      store.set('octo/hello', 'TOKEN', VALUE);
      const db = new Database(secretFiles(dir).database);
      db.prepare("UPDATE secrets SET repo = 'evil/fork' WHERE repo = 'octo/hello'").run();
      db.close();
      expect(() => store.values('evil/fork', ['TOKEN'])).toThrow(/does not decrypt/);
    } finally {
      store.close();
    }
  });

  test('names and values are checked before anything is stored', () => {
    const store = new SecretStore(dir);
    try {
      expect(code(() => store.set('octo/hello', 'lower', VALUE))).toBe('INVALID_NAME');
      expect(code(() => store.set('../etc', 'TOKEN', VALUE))).toBe('INVALID_NAME');
      expect(code(() => store.set('octo/hello', 'TOKEN', Buffer.alloc(0)))).toBe('INVALID_NAME');
      expect(store.list('octo/hello')).toEqual([]);
      // Nothing was set: no key was made either.
      expect(fs.existsSync(secretFiles(dir).key)).toBe(false);
    } finally {
      store.close();
    }
  });
});

test('secret names: upper-case variables, none that lxcts or the system sets', () => {
  for (const good of ['DEPLOY_KEY', '_X', 'A1']) expect(secretNameProblem(good)).toBeNull();
  const reserved = Object.keys(stepEnvironment({ env: {} }, 'j', { commit: 'c', branch: 'b' }));
  expect(reserved).toEqual(expect.arrayContaining(['CI', 'LXCTS_COMMIT', 'HOME']));
  for (const bad of ['', 'lower', '1ABC', 'A-B', 'A B', 'X'.repeat(129), 'PATH', 'LD_PRELOAD', 'LC_ALL', 'LXCTS_ANY', 'BASH_ENV', ...reserved]) {
    expect(secretNameProblem(bad)).not.toBeNull();
  }
});

test('secret values: not empty, at most 64 KiB, no NUL, UTF-8', () => {
  expect(secretValueProblem(Buffer.from('ok\nmulti-line'))).toBeNull();
  expect(secretValueProblem(Buffer.alloc(64 * 1024, 'a'))).toBeNull();
  expect(secretValueProblem(Buffer.alloc(64 * 1024 + 1, 'a'))).toMatch(/more than 65536/);
  expect(secretValueProblem(Buffer.from('a\0b'))).toMatch(/NUL/);
  expect(secretValueProblem(Buffer.from([0xff, 0xfe]))).toMatch(/UTF-8/);
});

test('a build file names secrets by valid names, each once', () => {
  const file = (secrets: string) => `jobs:\n  deploy:\n    steps: [make deploy]\n    secrets: ${secrets}\n`;
  expect(parseBuildFile(file('[DEPLOY_KEY, TOKEN]')).jobs.deploy?.secrets).toEqual(['DEPLOY_KEY', 'TOKEN']);
  expect(() => parseBuildFile(file('[deploy_key]'))).toThrow(/\.lxcts\.yml:4:\d+: jobs\.deploy\.secrets\.0: secret name "deploy_key"/);
  expect(() => parseBuildFile(file('[PATH]'))).toThrow(/a variable lxcts or the system sets/);
  expect(() => parseBuildFile(file('[A, A]'))).toThrow(/each secret once/);
});

test('secrets for pushes and pull requests from the repository itself only', () => {
  expect(secretsAllowed({ kind: 'push', repo: 'octo/hello' })).toBe(true);
  expect(secretsAllowed({ kind: 'pull_request', repo: 'octo/hello', pull: { headRepo: 'Octo/Hello', fork: false } })).toBe(true);
  // A push that claims a pull request is not a push.
  expect(secretsAllowed({ kind: 'push', repo: 'octo/hello', pull: { headRepo: 'octo/hello', fork: false } })).toBe(false);
  // A fork, or nothing known about the head: untrusted.
  expect(secretsAllowed({ kind: 'pull_request', repo: 'octo/hello', pull: { headRepo: 'evil/hello', fork: false } })).toBe(false);
  expect(secretsAllowed({ kind: 'pull_request', repo: 'octo/hello', pull: { headRepo: null, fork: false } })).toBe(false);
  expect(secretsAllowed({ kind: 'pull_request', repo: 'octo/hello' })).toBe(false);
  expect(secretsAllowed({ kind: 'pull_request', repo: 'octo/hello', pull: { headRepo: 'octo/hello', fork: true } })).toBe(false);
});
