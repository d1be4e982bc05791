/**
 * Connecting a command in a container to this terminal: output streamed live, stdin
 * forwarded, a terminal put in raw mode for interactive shells, signals passed on, and the
 * command's status turned into this process's exit code (128+N for signal N, like a shell).
 */
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

import { ExecResult } from '../lxc/exec';
import { ContainerProcess, ExitStatus, exitCodeOf } from '../lxc/process';

/** Resolves once `stream` has ended, closed or failed: the output is over either way. */
function ended(stream: NodeJS.ReadableStream): Promise<void> {
  return finished(stream).catch(() => undefined);
}

/**
 * Streams a running command to this process's stdout/stderr until it exits and its output
 * is drained. With `forwardStdin`, this process's stdin feeds the command. With `terminal`
 * (a command started with tty), this terminal goes raw so keys such as Ctrl-C reach the
 * command, and window size changes follow.
 */
export async function attachToTerminal(proc: ContainerProcess, { forwardStdin, terminal }: { forwardStdin: boolean; terminal: boolean }): Promise<ExitStatus> {
  const stdin = process.stdin;
  const raw = terminal && stdin.isTTY;
  if (raw) stdin.setRawMode(true);
  if (forwardStdin) stdin.pipe(proc.stdin);
  proc.stdout.pipe(process.stdout, { end: false });
  proc.stderr.pipe(process.stderr, { end: false });

  const onResize = () => proc.resize(process.stdout.columns, process.stdout.rows);
  if (terminal && process.stdout.isTTY) process.stdout.on('resize', onResize);
  // Without a terminal, Ctrl-C and kill(1) reach lxcts: pass them on to the command.
  const forward = (signal: NodeJS.Signals) => proc.kill(signal);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, forward);
  try {
    const [status] = await Promise.all([proc.wait(), ended(proc.stdout), ended(proc.stderr)]);
    return status;
  } finally {
    for (const s of signals) process.off(s, forward);
    process.stdout.off('resize', onResize);
    if (forwardStdin) {
      stdin.unpipe(proc.stdin);
      stdin.pause();
    }
    if (raw) stdin.setRawMode(false);
  }
}

/** What `exec --json` and `execute --json` print: the command's status and its whole output. */
export interface CollectedOutput {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** The parts of an oclif command that showCommand needs. */
interface ShowingCommand {
  jsonEnabled(): boolean;
  exit(code: number): never;
}

/**
 * How `exec` and `execute` show a command run in a container. With --json: stdin (unless a
 * terminal) is its input, its output is collected and returned, and its status becomes the
 * exit code. Otherwise: it is attached to this terminal (see attachToTerminal) and lxcts
 * exits with its status when that is not 0.
 */
export async function showCommand(
  command: ShowingCommand,
  run: {
    collect: (input: Readable | undefined) => Promise<ExecResult>;
    spawn: () => Promise<ContainerProcess>;
    forwardStdin: boolean;
    terminal: boolean;
  },
): Promise<CollectedOutput | void> {
  if (command.jsonEnabled()) {
    const r = await run.collect(process.stdin.isTTY ? undefined : process.stdin);
    process.exitCode = exitCodeOf(r);
    return { exitCode: r.exitCode, signal: r.signal, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  }
  const status = await attachToTerminal(await run.spawn(), { forwardStdin: run.forwardStdin, terminal: run.terminal });
  const code = exitCodeOf(status);
  if (code !== 0) command.exit(code);
}
