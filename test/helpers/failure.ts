/** Rejections and throws as values, so a test can assert on `code` without instanceof. */

export async function failureOf(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (err) {
    return err as Record<string, unknown>;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export function failureOfSync(fn: () => unknown): Record<string, unknown> {
  try {
    fn();
  } catch (err) {
    return err as Record<string, unknown>;
  }
  throw new Error('expected the call to throw, but it returned');
}
