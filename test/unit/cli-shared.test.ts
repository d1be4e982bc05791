/**
 * @tier unit
 * The pieces the commands share (src/cli/): the secret file's checks and the signal waits
 * of the long-running commands (`ci webhook`, `ci worker`, `stats --watch`). Signals are
 * emitted on `process` rather than sent: jest gives each test file its own process object,
 * so a real signal would find no listener and end jest (real ones: test/pipeline.test.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { readSecretFile } from '../../src/cli/secret-file';
import { abortOn, untilStopSignal } from '../../src/cli/signals';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-cli-shared-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function refusal(file: string): { code?: string; exit?: number; message: string } {
  try {
    readSecretFile(file);
  } catch (err) {
    const e = err as Error & { code?: string; oclif?: { exit?: number } };
    return { code: e.code, exit: e.oclif?.exit, message: e.message };
  }
  throw new Error(`${file} was accepted`);
}

test('a secret file is read without its surrounding white space', () => {
  const file = path.join(dir, 'secret');
  fs.writeFileSync(file, '  s3cret value\n');
  expect(readSecretFile(file)).toBe('s3cret value');
});

test('a missing or blank secret file is refused with NO_SECRET and exit 1', () => {
  const blank = path.join(dir, 'blank');
  fs.writeFileSync(blank, ' \n\t\n');
  for (const file of [blank, path.join(dir, 'missing')]) {
    expect(refusal(file)).toEqual({ code: 'NO_SECRET', exit: 1, message: `the secret file ${file} is missing or empty` });
  }
});

test('abortOn aborts at the signal with its name and then leaves the signal alone', async () => {
  const before = process.listenerCount('SIGUSR2');
  const { signal } = abortOn(['SIGUSR2', 'SIGWINCH']);
  expect(process.listenerCount('SIGUSR2')).toBe(before + 1);
  process.emit('SIGUSR2', 'SIGUSR2');
  expect(signal.reason).toBe('SIGUSR2');
  // Both listeners are gone: a second signal gets its default action again.
  expect(process.listenerCount('SIGUSR2')).toBe(before);
  expect(process.listenerCount('SIGWINCH')).toBe(0);
});

test('abortOn stop() removes the listeners without aborting', () => {
  const { signal, stop } = abortOn(['SIGUSR2']);
  stop();
  expect(process.listenerCount('SIGUSR2')).toBe(0);
  expect(signal.aborted).toBe(false);
});

test('untilStopSignal resolves at SIGTERM and removes its SIGINT and SIGTERM listeners', async () => {
  const [int, term] = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
  const stopped = untilStopSignal();
  expect(process.listenerCount('SIGTERM')).toBe(term + 1);
  process.emit('SIGTERM', 'SIGTERM');
  await stopped;
  expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).toEqual([int, term]);
});
