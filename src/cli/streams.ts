/**
 * Connecting a command in a container to this terminal: output streamed live, stdin
 * forwarded, a terminal put in raw mode for interactive shells, signals passed on, and the
 * command's status turned into this process's exit code (128+N for signal N, like a shell).
 */
import { ContainerProcess, ExitStatus } from '../lxc/process';

export { exitCodeOf } from '../lxc/process';

function ended(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
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
