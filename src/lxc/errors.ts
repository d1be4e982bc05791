/**
 * Every failure of a liblxc call surfaces as an LxcError with a stable `code`.
 * Compare `err.code`, not `instanceof` (jest and worker realms have their own classes).
 */
export type LxcErrorCode =
  | 'LXC_NOT_DEFINED'
  | 'LXC_ALREADY_DEFINED'
  | 'LXC_NOT_RUNNING'
  | 'LXC_ALREADY_RUNNING'
  | 'LXC_RUNNING'
  | 'LXC_HAS_SNAPSHOTS'
  | 'LXC_START_FAILED'
  | 'LXC_STOP_FAILED'
  | 'LXC_SHUTDOWN_FAILED'
  | 'LXC_REBOOT_FAILED'
  | 'LXC_CREATE_FAILED'
  | 'LXC_DESTROY_FAILED'
  | 'LXC_FREEZE_FAILED'
  | 'LXC_UNFREEZE_FAILED'
  | 'LXC_INVALID_NAME'
  | 'LXC_INVALID_CONFIG_KEY'
  | 'LXC_INVALID_CONFIG_VALUE'
  | 'LXC_CONFIG_FAILED'
  | 'LXC_SAVE_FAILED'
  | 'LXC_CGROUP_FAILED'
  | 'LXC_OPEN_FAILED'
  | 'LXC_LIST_FAILED'
  | 'LXC_EXEC_FAILED'
  | 'LXC_STAT_UNAVAILABLE'
  | 'LXC_CLONE_FAILED'
  | 'LXC_SNAPSHOT_FAILED'
  | 'LXC_NETWORK_FAILED'
  | 'LXC_RENAME_FAILED'
  | 'LXC_PIDFD_FAILED'
  | 'LXC_UNSUPPORTED'
  | 'LXC_BACKEND_UNAVAILABLE'
  | 'LXC_DEVICE_FAILED'
  | 'LXC_CHECKPOINT_FAILED'
  | 'LXC_CRIU_UNAVAILABLE'
  | 'LXC_TIMEOUT'
  | 'LXC_RELEASED'
  | 'LXC_BUSY'
  | 'LXC_LOCK_FAILED'
  | 'LXC_CONSOLE_BUSY'
  | 'LXC_CONSOLE_FAILED'
  | 'LXC_CONSOLE_LOG_UNAVAILABLE'
  | 'LXC_MONITOR_FAILED'
  | 'LXC_FILE_FAILED'
  | 'LXC_FILE_REFUSED'
  | 'LXC_INTERNAL';

export interface LxcErrorProps {
  code: LxcErrorCode;
  /** The library call that failed, e.g. `start`. */
  op: string;
  /** The container's name, or null for calls not about one container. */
  container?: string | null;
  /** liblxc's log lines written during the failed call, oldest first. */
  details?: string[];
}

export class LxcError extends Error {
  readonly code: LxcErrorCode;
  readonly op: string;
  readonly container: string | null;
  readonly details: string[];

  constructor(message: string, props: LxcErrorProps) {
    super(message);
    this.name = 'LxcError';
    this.code = props.code;
    this.op = props.op;
    this.container = props.container ?? null;
    this.details = props.details ?? [];
  }
}

/** True for any LxcError, whichever realm created it. */
export function isLxcError(value: unknown): value is LxcError {
  return value instanceof Error && value.name === 'LxcError' && typeof (value as LxcError).code === 'string';
}

/** Rejection of a call cancelled through its AbortSignal (same shape as Node's own). */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';

  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}
