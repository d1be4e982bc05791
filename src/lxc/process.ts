import * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import { Readable, Writable } from 'node:stream';

import { AbortError, LxcError } from './errors';
import type { NativeAttached, NativeBinding, NativeOutput, NativeProcess } from './native';
import { PipeOutput } from './output-stream';
import { TerminalInput, TerminalOutput } from './terminal-streams';

export interface ExitStatus {
  /** The command's exit status, 0-255, or null when a signal killed it. */
  exitCode: number | null;
  /** The signal that killed the command, e.g. "SIGKILL", or null when it exited. */
  signal: NodeJS.Signals | null;
}

const signalNames = new Map<number, NodeJS.Signals>(Object.entries(osConstants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** Seconds between SIGTERM and SIGKILL when a timeout or abort stops a command. */
export const KILL_GRACE_SECONDS = 2;

export interface ProcessLimits {
  /** Seconds until the command is stopped and wait() rejects with LXC_TIMEOUT. */
  timeout?: number;
  /** Aborting stops the command and wait() rejects with an AbortError. */
  signal?: AbortSignal;
  /** For error messages: the call and the container. */
  op: string;
  container: string;
}

/** A status as a shell reports it: the exit code, or 128+N for a command killed by signal N. */
export function exitCodeOf(status: ExitStatus): number {
  return status.exitCode ?? 128 + (status.signal ? signalNumber(status.signal) : 0);
}

export function signalNumber(signal: NodeJS.Signals | number): number {
  if (typeof signal === 'number' && Number.isInteger(signal) && signal >= 0 && signal < 65) return signal;
  const n = typeof signal === 'string' ? osConstants.signals[signal] : undefined;
  if (n === undefined) throw new TypeError(`Expected a signal name such as "SIGTERM" but received ${String(signal)}`);
  return n;
}

/** What a running command is made of; see fromAttached() and execute.ts. */
export interface ProcessParts {
  pid: number;
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Sends a signal; false when the command has exited. */
  kill(signal: number): boolean;
  exited: Promise<ExitStatus>;
  /** Present when the command runs on a pseudo-terminal. */
  resize?(cols: number, rows: number): boolean;
  /** exec()'s output read whole by the addon; stdout and stderr are then placeholders, never read. */
  output?: NativeOutput;
  /**
   * Called when a deadline's SIGKILL has not ended the wait within the grace period: what
   * reports the command's end is not answering (resident-exec.ts kills the resident).
   */
  abandon?(): void;
}

/**
 * A command running inside a container. Its output is read by libuv from pipes as it
 * arrives, with back-pressure: stop reading `stdout` and the command blocks on its next
 * write instead of this process buffering without bound.
 */
export class ContainerProcess {
  /** The command's pid as seen from the host. */
  readonly pid: number;
  /** Write to the command's stdin; end() it to send end-of-file. */
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;

  /** @internal exec()'s output, read by the addon instead of through stdout and stderr. */
  readonly output: NativeOutput | undefined;

  readonly #kill: (signal: number) => boolean;
  readonly #resize: ProcessParts['resize'];
  readonly #exit: Promise<ExitStatus>;

  /** @internal Built by Container.spawn() and Container.spawnExecute(). */
  constructor(parts: ProcessParts, limits: ProcessLimits) {
    this.pid = parts.pid;
    this.stdin = parts.stdin;
    this.stdout = parts.stdout;
    this.stderr = parts.stderr;
    this.output = parts.output;
    this.#kill = parts.kill;
    this.#resize = parts.resize;
    // A command that exits without reading its input makes writes fail with EPIPE: that
    // is the command's choice and must not crash this process. write() callbacks still
    // receive the error.
    this.stdin.on('error', () => undefined);
    const exited = parts.exited.then((status) => {
      if (!this.stdin.writableEnded) this.stdin.destroy();
      return status;
    });
    this.#exit = superviseExit(this, exited, limits, parts.abandon);
    // Rejections (timeout, abort) are for whoever calls wait(); never unhandled.
    this.#exit.catch(() => undefined);
  }

  /** Sends a signal (default SIGTERM). False when the command has already exited. */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    return this.#kill(signalNumber(signal));
  }

  /** Changes the window size of a command started with `tty`. */
  resize(cols: number, rows: number): boolean {
    if (!this.#resize) throw new TypeError('resize() needs a command started with the tty option');
    return this.#resize(cols, rows);
  }

  /** Resolves when the command exits (its output may still be draining). */
  wait(): Promise<ExitStatus> {
    return this.#exit;
  }
}

/**
 * The parts of a command started by the addon's attach(): its pipes (or terminal) and its
 * pidfd. With `collect` (exec(), whose caller never sees the streams), the addon reads
 * stdout and stderr whole instead of two net.Sockets: see addon/output_gather.h.
 */
export function fromAttached(attached: NativeAttached, process: NativeProcess, binding: NativeBinding, collect = false): ProcessParts {
  const exited = process.wait().then(({ exitCode, signal }) => ({
    exitCode,
    signal: signal === null ? null : signalName(signal),
  }));
  const kill = (signal: number) => process.kill(signal);
  if (attached.tty) {
    // Neither direction blocks the event loop, and the output is read to its real end: see terminal-streams.ts.
    const stdout = new TerminalOutput(attached.stdout, binding);
    return {
      pid: attached.pid,
      stdout,
      stderr: Readable.from([]),
      stdin: new TerminalInput(attached.stdin, binding),
      kill,
      exited,
      resize: (cols, rows) => stdout.fd >= 0 && binding.resizeTerminal(stdout.fd, cols, rows),
    };
  }
  const stdin = attached.stdin >= 0 ? new net.Socket({ fd: attached.stdin, readable: false, writable: true }) : closedWritable();
  if (collect) {
    const output = new binding.OutputGather(attached.stdout, attached.stderr);
    const none = notRead();
    return { pid: attached.pid, stdout: none, stderr: none, stdin, kill, exited, output };
  }
  // One pair: a consumer merging both sees their chunks in the order they were read.
  const stdout = new PipeOutput(attached.stdout, binding);
  return {
    pid: attached.pid,
    stdout,
    stderr: new PipeOutput(attached.stderr, binding, stdout),
    stdin,
    kill,
    exited,
  };
}

export function signalName(signal: number): NodeJS.Signals | null {
  return signalNames.get(signal) ?? null;
}

/** stdin of a command that gets /dev/null: writes fail as on any destroyed stream. */
function closedWritable(): Writable {
  const stream = new Writable();
  stream.destroy();
  return stream;
}

let endedReadable: Readable | undefined;

/** What stands for stdout and stderr when the addon reads them: one ended stream, shared (nobody reads it). */
function notRead(): Readable {
  endedReadable ??= Readable.from([]);
  return endedReadable;
}

/**
 * Applies a timeout and an AbortSignal to a running command: either one sends SIGTERM,
 * then SIGKILL after a grace period. Resolves with the exit status, or rejects with
 * LXC_TIMEOUT / AbortError once the command is gone (never leaving it running).
 */
function superviseExit(proc: ContainerProcess, exited: Promise<ExitStatus>, limits: ProcessLimits, abandon?: () => void): Promise<ExitStatus> {
  const { timeout, signal, op, container } = limits;
  if (timeout === undefined && signal === undefined) return exited;
  let stopReason: Error | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  const stop = (reason: Error) => {
    if (stopReason) return;
    stopReason = reason;
    proc.kill('SIGTERM');
    graceTimer = setTimeout(() => {
      proc.kill('SIGKILL');
      graceTimer = abandon && setTimeout(abandon, KILL_GRACE_SECONDS * 1000);
    }, KILL_GRACE_SECONDS * 1000);
  };
  const timer =
    timeout === undefined
      ? undefined
      : longTimeout(
          () =>
            stop(
              new LxcError(`command in container "${container}" timed out after ${timeout} s`, {
                code: 'LXC_TIMEOUT',
                op,
                container,
              }),
            ),
          timeout * 1000,
        );
  const onAbort = () => stop(new AbortError(undefined, { cause: signal?.reason }));
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });

  return exited
    .finally(() => {
      timer?.clear();
      clearTimeout(graceTimer);
      signal?.removeEventListener('abort', onAbort);
    })
    .then(
      (status) => {
        if (stopReason) throw stopReason;
        return status;
      },
      (err: unknown) => {
        // Stopped, then whatever reported the command failed (a resident killed by abandon()): the deadline is why.
        throw stopReason ?? err;
      },
    );
}

/** Node's timers hold at most 2^31-1 ms (24.8 days); a longer delay fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * setTimeout for any delay: longer ones are a chain of timers of at most MAX_TIMER_MS,
 * each scheduled when the previous one fires. An infinite delay never fires.
 */
export function longTimeout(fn: () => void, ms: number): { clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const arm = (remaining: number) => {
    if (remaining === Infinity) return;
    if (remaining <= MAX_TIMER_MS) timer = setTimeout(fn, Math.max(remaining, 0));
    else timer = setTimeout(() => arm(remaining - MAX_TIMER_MS), MAX_TIMER_MS);
  };
  arm(ms);
  return { clear: () => clearTimeout(timer) };
}
