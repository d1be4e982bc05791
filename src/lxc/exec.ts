/**
 * exec() and spawn() options, and exec()'s collection of a command's output.
 */
import { Readable } from 'node:stream';

import type { NativeAttachOptions } from './native';
import type { ContainerProcess, ExitStatus } from './process';
import { describe, expectBoolean, expectOptionalString, expectOptions } from './validate';

export interface SpawnOptions {
  /** Extra environment variables: { KEY: 'value' } or ['KEY=value']. */
  env?: Record<string, string> | string[];
  /** Start from an empty environment (plus PATH) instead of this process's. Default: true. */
  clearEnv?: boolean;
  /** Working directory inside the container. */
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Seconds before the command is killed (SIGTERM, then SIGKILL) and the call fails with LXC_TIMEOUT. */
  timeout?: number;
  /** Aborting kills the command the same way and fails the call with an AbortError. */
  signal?: AbortSignal;
  /**
   * Run on a pseudo-terminal instead of pipes (for interactive shells): stdout carries
   * everything the command writes, stderr is empty, and resize() changes the window.
   * `true` means 80x24.
   */
  tty?: boolean | { cols: number; rows: number };
}

export interface ExecOptions extends SpawnOptions {
  /** Sent to the command's stdin, which then gets end-of-file. Default: /dev/null. */
  input?: Buffer | string | Readable;
}

export interface ExecResult extends ExitStatus {
  stdout: Buffer;
  stderr: Buffer;
}

export function checkArgv(argv: unknown): string[] {
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string')) {
    throw new TypeError(`Expected a non-empty array of strings for argv but received ${describe(argv)}`);
  }
  if (argv.some((a: string) => a.includes('\0'))) throw new TypeError('argv must not contain NUL characters');
  if (argv[0].length === 0) throw new TypeError('argv[0] must name a program');
  return [...argv];
}

function checkEnv(env: unknown): string[] {
  if (env === undefined) return [];
  const entries: [string, unknown][] = Array.isArray(env)
    ? env.map((e) => {
        if (typeof e !== 'string' || !e.includes('=')) throw new TypeError(`Expected KEY=value strings in env but received ${describe(e)}`);
        const i = e.indexOf('=');
        return [e.slice(0, i), e.slice(i + 1)];
      })
    : Object.entries(expectOptions<Record<string, string>>(env, 'env'));
  return entries.map(([key, value]) => {
    if (key.length === 0 || key.includes('=') || key.includes('\0')) throw new TypeError(`Invalid environment variable name ${JSON.stringify(key)}`);
    if (typeof value !== 'string' || value.includes('\0')) throw new TypeError(`Expected a string value for env.${key} but received ${describe(value)}`);
    return `${key}=${value}`;
  });
}

function checkId(value: unknown, what: string): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xfffffffe) {
    throw new TypeError(`Expected a non-negative integer for ${what} but received ${describe(value)}`);
  }
  return value;
}

function checkTimeout(value: unknown): number | undefined {
  if (value === undefined || value === Infinity) return undefined;
  if (typeof value !== 'number' || !(value > 0)) {
    throw new TypeError(`Expected a positive number of seconds for timeout but received ${describe(value)}`);
  }
  return value;
}

function checkSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw new TypeError(`Expected an AbortSignal for signal but received ${describe(value)}`);
  return value;
}

function checkInput(value: unknown): ExecOptions['input'] {
  if (value === undefined || typeof value === 'string' || Buffer.isBuffer(value) || value instanceof Readable) return value;
  throw new TypeError(`Expected a Buffer, string or Readable for input but received ${describe(value)}`);
}

export interface CheckedSpawn {
  native: NativeAttachOptions;
  timeout: number | undefined;
  signal: AbortSignal | undefined;
}

function checkTty(value: unknown): { tty: boolean; cols: number; rows: number } {
  if (value === undefined || value === false) return { tty: false, cols: 0, rows: 0 };
  if (value === true) return { tty: true, cols: 80, rows: 24 };
  const size = expectOptions<{ cols: number; rows: number }>(value, 'tty');
  for (const key of ['cols', 'rows'] as const) {
    const n = size[key];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
      throw new TypeError(`Expected an integer from 1 to 65535 for tty.${key} but received ${describe(n)}`);
    }
  }
  return { tty: true, cols: size.cols!, rows: size.rows! };
}

export function checkSpawnOptions(options: unknown, pipeStdin: boolean): CheckedSpawn {
  const o = expectOptions<SpawnOptions>(options, 'exec options');
  return {
    native: {
      env: checkEnv(o.env),
      clearEnv: expectBoolean(o.clearEnv, 'clearEnv', true),
      pipeStdin,
      cwd: expectOptionalString(o.cwd, 'cwd') ?? null,
      uid: checkId(o.uid, 'uid'),
      gid: checkId(o.gid, 'gid'),
      ...checkTty(o.tty),
    },
    timeout: checkTimeout(o.timeout),
    signal: checkSignal(o.signal),
  };
}

export function checkExecInput(options: unknown): ExecOptions['input'] {
  return checkInput(expectOptions<ExecOptions>(options, 'exec options').input);
}

function collect(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('error', reject);
    stream.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

function feed(proc: ContainerProcess, input: ExecOptions['input']): void {
  if (input instanceof Readable) {
    input.on('error', () => proc.stdin.destroy());
    input.pipe(proc.stdin);
  } else {
    proc.stdin.end(input);
  }
}

/** Feeds input, reads stdout and stderr to the end, and waits for the exit status. */
export async function collectExec(proc: ContainerProcess, input: ExecOptions['input']): Promise<ExecResult> {
  if (input !== undefined) feed(proc, input);
  const exited = proc.wait().catch((err: unknown) => {
    // Timed out or aborted: what a surviving grandchild still writes is not waited for.
    proc.stdout.destroy();
    proc.stderr.destroy();
    throw err;
  });
  const [stdout, stderr, status] = await Promise.all([collect(proc.stdout), collect(proc.stderr), exited]);
  return { ...status, stdout, stderr };
}
