/**
 * The statuses a build can have, listed once: the `BuildStatus` type, the builds table's
 * `CHECK` constraint and the `ci builds --status` choices all come from this list.
 * Adding one needs a migration that rebuilds the builds table (SQLite cannot change a
 * `CHECK` in place); the store's upgrade test fails until it exists.
 */
export const BUILD_STATUSES = ['queued', 'running', 'success', 'failure', 'error', 'cancelled'] as const;

export type BuildStatus = (typeof BUILD_STATUSES)[number];

/** Not finished yet: a builder holds it or will. */
export const UNFINISHED_STATUSES = ['queued', 'running'] as const satisfies readonly BuildStatus[];

/** Final: success, failure, error or cancelled. */
export function isFinishedStatus(status: BuildStatus): boolean {
  return !(UNFINISHED_STATUSES as readonly string[]).includes(status);
}

export function isBuildStatus(value: string): value is BuildStatus {
  return (BUILD_STATUSES as readonly string[]).includes(value);
}

/**
 * `('queued', 'running')` for an SQL `IN`: the statuses are our own constants, checked
 * here anyway so that nothing but plain words is ever spliced into SQL.
 */
export function sqlStatusList(statuses: readonly BuildStatus[]): string {
  return `(${statuses.map(sqlStatus).join(', ')})`;
}

/** `'queued'`: one status as an SQL string literal. */
export function sqlStatus(status: BuildStatus): string {
  if (!/^[a-z]+$/.test(status)) throw new Error(`not a plain status word: ${JSON.stringify(status)}`);
  return `'${status}'`;
}
