/**
 * @tier unit
 * A hostile cancel on the control topic (anyone who can publish to nsqd): every worker
 * remembers a cancel (control-message.ts CancelMemory) and records cancelled, without
 * building, each push of that commit and job received before the cancel's `at`. `at` is
 * the sender's word: one far in the future must not turn a cancel into a ban of the commit
 * that outlives the hour a cancel is kept, re-runs included, nor keep older cancels from
 * being forgotten.
 */
import { CancelMemory, type CancelMessage, controlMessageSchema } from '../../src/ci/control-message';

const A = 'a'.repeat(40);
const HOUR = 60 * 60_000;
const cancel = (extra: Partial<CancelMessage> = {}): CancelMessage =>
  controlMessageSchema.parse({
    type: 'cancel',
    key: '0b4c9a5e-1d2f-4a3b-8c7d-9e0f1a2b3c4d',
    repo: 'octo/hello',
    commit: A,
    job: 'binaries',
    by: 'admin',
    at: 1_000_000,
    ...extra,
  });

test('a cancel dated in the far future covers no push received after it is forgotten', () => {
  let now = 1_800_000_000_000;
  const memory = new CancelMemory(() => now);
  memory.remember(cancel({ at: Number.MAX_SAFE_INTEGER }));
  // Cancelled while it is fresh, as any cancel:
  expect(memory.covering({ repo: 'octo/hello', after: A, receivedAt: now - 1 }, 'binaries')).toBeDefined();
  // A day later, an admin's re-run of the commit (received now) builds.
  now += 24 * HOUR;
  expect(memory.covering({ repo: 'octo/hello', after: A, receivedAt: now }, 'binaries')).toBeUndefined();
});

test('a cancel dated in the far future does not keep older ones from being forgotten', () => {
  let now = 1_800_000_000_000;
  const memory = new CancelMemory(() => now);
  memory.remember(cancel({ at: Number.MAX_SAFE_INTEGER, commit: 'f'.repeat(40) }));
  memory.remember(cancel({ at: now }));
  now += 2 * HOUR;
  expect(memory.covering({ repo: 'octo/hello', after: A, receivedAt: 0 }, 'binaries')).toBeUndefined();
});
