/**
 * @tier unit
 * The tests' one polling helper.
 */
import { waitFor } from '../helpers/wait';

test('resolves once the check holds, sync or async', async () => {
  let n = 0;
  await waitFor(() => ++n >= 3, 'three checks', { everyMs: 1 });
  expect(n).toBe(3);
  await waitFor(async () => true, 'an async check');
});

test('fails after the deadline saying what never happened, with what was seen then', async () => {
  let seen = 0;
  const err = await waitFor(
    () => (seen++, false),
    () => `the flag (checked ${seen} times)`,
    { seconds: 0.05, everyMs: 5 },
  ).catch((e: Error) => e);
  expect((err as Error).message).toMatch(/^timed out waiting for the flag \(checked \d+ times\) \(0\.05 s\)$/);
  expect(seen).toBeGreaterThan(1);
});
