/**
 * How a failure is shown to a person or a script: one message, a stable code, a suggestion
 * where one exists, liblxc's log lines, and the exit status (1 for failures, 2 for usage).
 */
import { isLxcError, LxcErrorCode } from '../lxc/errors';
import { missingToolSuggestion } from '../lxc/missing-tools';

export interface CliFailure {
  message: string;
  code: string;
  suggestion?: string;
  details: string[];
  exit: number;
}

const USAGE_CODES = new Set<string>(['LXC_INVALID_NAME']);

function suggestionFor(code: LxcErrorCode, container: string | null): string | undefined {
  const name = container ?? 'NAME';
  switch (code) {
    case 'LXC_NOT_RUNNING':
      return `lxcts start ${name}`;
    case 'LXC_ALREADY_RUNNING':
      return `lxcts stop ${name}`;
    case 'LXC_RUNNING':
      return `lxcts stop ${name}, or lxcts destroy ${name} --force`;
    case 'LXC_NOT_DEFINED':
      return `lxcts create ${name} -t busybox, or lxcts list to see what exists`;
    case 'LXC_ALREADY_DEFINED':
      return `another name, or lxcts destroy ${name} first`;
    case 'LXC_HAS_SNAPSHOTS':
      return `lxcts snapshot list ${name}, or lxcts destroy ${name} --force`;
    case 'LXC_INVALID_CONFIG_KEY':
      return 'man 5 lxc.container.conf lists the keys';
    case 'LXC_START_FAILED':
    case 'LXC_CREATE_FAILED':
      return "the same command with --verbose shows liblxc's reasons";
    default:
      return undefined;
  }
}

export function describeFailure(err: unknown): CliFailure {
  if (isLxcError(err)) {
    return {
      message: err.message,
      code: err.code,
      suggestion: missingToolSuggestion(err.details) ?? suggestionFor(err.code, err.container),
      details: err.details,
      exit: USAGE_CODES.has(err.code) ? 2 : 1,
    };
  }
  const e = err as Error & { code?: string; oclif?: { exit?: number } };
  if (e instanceof TypeError) return { message: e.message, code: 'INVALID_ARGUMENT', details: [], exit: 2 };
  if (e?.name === 'AbortError') return { message: 'interrupted', code: 'ABORT_ERR', details: [], exit: 130 };
  if (e?.oclif?.exit !== undefined) {
    return { message: e.message, code: e.code ?? 'USAGE', details: [], exit: e.oclif.exit };
  }
  return { message: e?.message ?? String(err), code: e?.code ?? 'ERROR', details: [], exit: 1 };
}

/** The human form: `Error: …`, the suggestion, and with `verbose` the liblxc log lines. */
export function formatFailure(failure: CliFailure, verbose: boolean): string {
  const lines = [`Error: ${failure.message} (${failure.code})`];
  if (failure.suggestion) lines.push(`Try: ${failure.suggestion}`);
  if (verbose && failure.details.length > 0) {
    lines.push('liblxc said:', ...failure.details.map((line) => `  ${line}`));
  } else if (failure.details.length > 0) {
    lines.push(`(${failure.details.length} liblxc log line${failure.details.length === 1 ? '' : 's'}: --verbose shows them)`);
  }
  return lines.join('\n');
}
