/**
 * @tier unit
 * Key files (src/ci/private-file.ts): a FIFO where the key should be is refused at once as
 * not a regular file, instead of blocking start-up until someone writes to it.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { PrivateFileError, readPrivateFile } from '../../src/ci/private-file';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-private-file-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a FIFO is refused as not a regular file, without waiting for a writer', () => {
  const fifo = path.join(dir, 'key');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  let err: unknown;
  try {
    readPrivateFile(fifo, 'secret key');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PrivateFileError);
  expect((err as PrivateFileError).problem).toBe('not-a-file');
});

test('a private regular file is still read', () => {
  const file = path.join(dir, 'key');
  fs.writeFileSync(file, 'k3y', { mode: 0o600 });
  expect(readPrivateFile(file, 'secret key').toString()).toBe('k3y');
});
