/**
 * The statuses a build can have, listed once: the `BuildStatus` type, the builds table's
 * `CHECK` constraint and the `ci builds --status` choices all come from this list.
 * Adding one needs a migration that rebuilds the builds table (SQLite cannot change a
 * `CHECK` in place); the store's upgrade test fails until it exists.
 */
export const BUILD_STATUSES = ['queued', 'running', 'success', 'failure', 'error', 'cancelled'] as const;

export type BuildStatus = (typeof BUILD_STATUSES)[number];

/**
 * The CI server's statuses: the workers' and `waiting`, a fork's pull request held until a
 * maintainer approves it (`ci worker --fork-approval`, src/server/approval.ts). Only the
 * server records it: a worker builds nothing and keeps nothing for it, so its builds
 * database never holds it. Not a failure, and not final: approved, the build goes on.
 */
export const SERVER_STATUSES = [...BUILD_STATUSES, 'waiting'] as const;

export type ServerStatus = (typeof SERVER_STATUSES)[number];

/** The server's statuses that are not final (the workers' and `waiting`). */
export const SERVER_UNFINISHED_STATUSES = ['waiting', 'queued', 'running'] as const satisfies readonly ServerStatus[];

/** Final on the server: not waiting, queued nor running. */
export function isFinishedOnServer(status: ServerStatus): boolean {
  return !(SERVER_UNFINISHED_STATUSES as readonly string[]).includes(status);
}

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
export function sqlStatusList(statuses: readonly ServerStatus[]): string {
  return `(${statuses.map(sqlStatus).join(', ')})`;
}

/** `'queued'`: one status as an SQL string literal. */
export function sqlStatus(status: ServerStatus): string {
  if (!/^[a-z]+$/.test(status)) throw new Error(`not a plain status word: ${JSON.stringify(status)}`);
  return `'${status}'`;
}
