/**
 * For values a test expects to be there (an array's item, a map's entry, a regex group):
 * fail with what was missing instead of a TypeError on `undefined` three lines later.
 */

/** `value`, or an error naming `what` when it is null or undefined. */
export function must<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`expected ${what}, got ${value}`);
  return value;
}

/** `items[index]`, or an error saying how many items there were. */
export function at<T>(items: readonly T[], index: number): T {
  // By entries, not items[index]: an item may itself be undefined, and no cast is needed.
  for (const [i, item] of items.entries()) if (i === index) return item;
  throw new Error(`expected an item at index ${index}, got ${items.length} item(s)`);
}
