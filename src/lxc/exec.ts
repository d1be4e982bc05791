/**
 * exec() and spawn() options, and exec()'s collection of a command's output.
 */
import { finished, Readable } from 'node:stream';

import * as fs from 'node:fs';

import { AttachOptions, checkAttachOptions, keptEnvironment } from './attach-options';
import { LxcError } from './errors';
import type { NativeAttachOptions } from './native';
import { longTimeout } from './process';
import type { ContainerProcess, ExitStatus } from './process';
import { describe, expectBoolean, expectOptionalStringWithoutNul, expectOptions, expectStringArray } from './validate';

export interface SpawnOptions extends AttachOptions {
  /** Extra environment variables: { KEY: 'value' }, a Map, or ['KEY=value']. */
  env?: Record<string, string> | Map<string, string> | string[];
  /**
   * Start from an empty environment (plus PATH) instead of this process's. Default: true.
   * With false, the command starts from `process.env` as it is when the call is made, then
   * `container=lxc` and the container's `lxc.environment`, then `env` (as
   * `lxc-attach --keep-env` orders them).
   */
  clearEnv?: boolean;
  /**
   * Working directory inside the container (an absolute path). Default: `/`, the
   * container's root, as go-lxc does; never this process's working directory, which names a
   * directory of the host (`lxc-attach` would keep it where the same path exists in the
   * container). When it cannot be entered, the command does not run: it exits with 126 and
   * a message on stderr, as `docker exec -w` does.
   */
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
   * `true` means 80x24. The terminal is one of the container's own devpts, as lxc-attach
   * gives: `tty` inside names it (/dev/pts/N) and it belongs to the command's user. Each
   * running command holds one of the container's `lxc.pty.max` terminals (busybox's
   * template leaves one free); when none is free, the call fails with LXC_EXEC_FAILED. Only
   * a container without a devpts of its own (`lxc.pty.max = 0`) gets a terminal of the
   * host, which has no name inside the container.
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
  if (!Array.isArray(argv) || argv.length === 0) {
    throw new TypeError(`Expected a non-empty array of strings for argv but received ${describe(argv)}`);
  }
  const args = expectStringArray(argv, 'argv');
  if ((args[0] ?? '').length === 0) throw new TypeError('argv[0] must name a program');
  return args;
}

function envEntries(env: unknown): [string, unknown][] {
  if (Array.isArray(env)) {
    return expectStringArray(env, 'env').map((e) => {
      const i = e.indexOf('=');
      if (i < 0) throw new TypeError(`Expected KEY=value strings in env but received ${describe(e)}`);
      return [e.slice(0, i), e.slice(i + 1)];
    });
  }
  if (env instanceof Map) return [...env.entries()];
  return Object.entries(expectOptions<Record<string, string>>(env, 'env'));
}

function checkEnv(env: unknown): string[] {
  if (env === undefined) return [];
  return envEntries(env).map(([key, value]) => {
    if (typeof key !== 'string' || key.length === 0 || key.includes('=') || key.includes('\0')) {
      throw new TypeError(`Invalid environment variable name ${typeof key === 'string' ? JSON.stringify(key) : describe(key)}`);
    }
    if (typeof value !== 'string' || value.includes('\0')) throw new TypeError(`Expected a string value for env.${key} but received ${describe(value)}`);
    return `${key}=${value}`;
  });
}

/**
 * process.env now, as KEY=VALUE. Read at each call, not once: a variable set or deleted
 * since the last exec counts. A name or value that C cannot carry (a NUL, a name with "=")
 * cannot be in a real environment either, and is left out.
 */
function callerEnvironment(): string[] {
  const vars: string[] = [];
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.length === 0 || key.includes('=') || key.includes('\0') || value.includes('\0')) continue;
    vars.push(`${key}=${value}`);
  }
  return vars;
}

/** The documented default is the container's root, whatever this process's cwd is. */
const DEFAULT_CWD = '/';

function checkCwd(value: unknown): string {
  const cwd = expectOptionalStringWithoutNul(value, 'cwd');
  if (cwd === undefined) return DEFAULT_CWD;
  if (!cwd.startsWith('/')) throw new TypeError(`Expected an absolute path for cwd but received ${JSON.stringify(cwd)}`);
  return cwd;
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
  const clearEnv = expectBoolean(o.clearEnv, 'clearEnv', true);
  const kept = keptEnvironment(o);
  return {
    native: {
      env: checkEnv(o.env),
      clearEnv,
      callerEnv: clearEnv ? kept : callerEnvironment(),
      pipeStdin,
      cwd: checkCwd(o.cwd),
      uid: checkId(o.uid, 'uid'),
      gid: checkId(o.gid, 'gid'),
      ...checkTty(o.tty),
      ...checkAttachOptions(o),
    },
    timeout: checkTimeout(o.timeout),
    signal: checkSignal(o.signal),
  };
}

/** Linux's limits on what one execve() takes (fs/exec.c, include/uapi/linux/binfmts.h). */
const MAX_ARG_STRLEN = 32 * 4096;
const ARG_MAX_FLOOR = 32 * 4096;
const STACK_LIMIT_CAP = ((8 * 1024 * 1024) / 4) * 3;
const NAME_MAX = 255;
const PATH_MAX = 4096;
/** Room for what is added on the way (container=lxc, the resolved program path). */
const EXEC_SLACK = 4096 + 64;

let cachedStackLimit: number | undefined;

/** This process's stack limit, which the attached command inherits; read once (exec is hot). */
function stackLimit(): number {
  cachedStackLimit ??= readStackLimit();
  return cachedStackLimit;
}

function readStackLimit(): number {
  try {
    const line = fs
      .readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max stack size'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return Infinity;
  }
}

/**
 * The command would fail in execve() with E2BIG or ENAMETOOLONG: refused here with the
 * reason, since inside the container all it could report is an exit status. The
 * kernel's rules: one string holds at most 128 KiB; all strings and their pointers at
 * most a quarter of the stack limit (within [128 KiB, 6 MiB]); a path component holds 255
 * bytes and a path 4095. Near the limit, where what liblxc adds decides, the command
 * exits 126 with the reason on stderr instead.
 */
export function checkExecSize(argv: string[], options: NativeAttachOptions, op: string, container: string): void {
  const file = argv[0] ?? '';
  const fail = (reason: string) => {
    throw new LxcError(`cannot run ${JSON.stringify(file.slice(0, 80))} in container "${container}": ${reason}`, {
      code: 'LXC_EXEC_FAILED',
      op,
      container,
    });
  };
  const program = Buffer.from(file);
  if (program.length >= PATH_MAX) fail(`the program path is ${program.length} bytes, over the limit of ${PATH_MAX - 1} (ENAMETOOLONG)`);
  const longest = Math.max(...file.split('/').map((part) => Buffer.byteLength(part)));
  if (longest > NAME_MAX) fail(`a part of the program path is ${longest} bytes, over the limit of ${NAME_MAX} (ENAMETOOLONG)`);
  const env = [...options.callerEnv, ...options.env];
  let bytes = 0;
  for (const s of [...argv, ...env]) {
    const size = Buffer.byteLength(s) + 1;
    if (size > MAX_ARG_STRLEN) {
      fail(
        `one ${argv.includes(s) ? 'argument' : 'environment variable'} is ${size - 1} bytes, over the kernel's limit of ${MAX_ARG_STRLEN - 1} for one string (E2BIG, argument list too long)`,
      );
    }
    bytes += size;
  }
  const limit = Math.max(Math.min(STACK_LIMIT_CAP, stackLimit() / 4), ARG_MAX_FLOOR);
  const total = bytes + (argv.length + env.length + 2) * 8 + EXEC_SLACK;
  if (total > limit) {
    fail(`the arguments and environment take ${total} bytes, over the kernel's limit of ${limit} for one command (E2BIG, argument list too long)`);
  }
}

export function checkExecInput(options: unknown): ExecOptions['input'] {
  return checkInput(expectOptions<ExecOptions>(options, 'exec options').input);
}

function feed(proc: ContainerProcess, input: ExecOptions['input']): void {
  if (input instanceof Readable) {
    input.on('error', () => proc.stdin.destroy());
    input.pipe(proc.stdin);
  } else {
    proc.stdin.end(input);
  }
}

/** exec()'s `timeout`, which also bounds the wait for the output after the command exits. */
export interface OutputDeadline {
  timeout: number | undefined;
  op: string;
  container: string;
}

/**
 * Feeds input, reads stdout and stderr to the end, and waits for the exit status. It
 * resolves once the command has exited and both outputs have reached end-of-file: a process
 * the command started in the background that keeps them open holds the result (what it
 * writes is part of it), as with a shell's `$(...)`. With a `timeout`, that wait ends at the
 * same deadline as the command's: the outputs are closed and the call fails with LXC_TIMEOUT.
 */
/**
 * A stream's bytes as one Buffer: the chunks kept as they come, copied once at the end.
 * Not stream/consumers' buffer(): that goes through an async iterator and a Blob, and
 * copies twice; measured, it was 9 of the 32 KB that each exec of /bin/true allocated,
 * and the allocation rate is what grows V8's young generation (and the RSS) under load.
 * Fails as buffer() did: with the stream's error, or a premature close when destroyed.
 */
function gather(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer | string) => chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    finished(stream, { writable: false }, (err) => (err ? reject(err) : resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))));
  });
}

export async function collectExec(proc: ContainerProcess, input: ExecOptions['input'], deadline?: OutputDeadline): Promise<ExecResult> {
  const started = Date.now();
  if (input !== undefined) feed(proc, input);
  const { output } = proc;
  const close = output
    ? () => output.close()
    : () => {
        proc.stdout.destroy();
        proc.stderr.destroy();
      };
  const exited = proc.wait().catch((err: unknown) => {
    // Timed out or aborted: what a surviving grandchild still writes is not waited for.
    close();
    throw err;
  });
  // The addon's reader fails at once when closed; the streams failed a tick later, after the
  // exit status's own failure (timeout, abort) had been reported. Kept that way: a failed
  // read reports after the exit, and the exit's failure comes first.
  const outputs = output
    ? output.done().catch((err: unknown) => exited.then(() => Promise.reject(err instanceof Error ? err : new Error(String(err)))))
    : Promise.all([gather(proc.stdout), gather(proc.stderr)]);
  let settled = false;
  let late: { clear(): void } | undefined;
  const timeout = deadline?.timeout;
  const bounded =
    timeout === undefined
      ? outputs
      : Promise.race([
          outputs,
          exited.then(
            (status) =>
              new Promise<never>((_, reject) => {
                if (settled) return;
                late = longTimeout(
                  () => {
                    close();
                    const how = status.exitCode === null ? `was killed by ${status.signal}` : `exited with status ${status.exitCode}`;
                    reject(
                      new LxcError(
                        `command in container "${deadline!.container}" ${how}, but its output was still open after ${timeout} s: a process it started keeps its stdout or stderr open`,
                        { code: 'LXC_TIMEOUT', op: deadline!.op, container: deadline!.container },
                      ),
                    );
                  },
                  started + timeout * 1000 - Date.now(),
                );
              }),
          ),
        ]);
  try {
    const [[stdout, stderr], status] = await Promise.all([bounded, exited]);
    return { ...status, stdout, stderr };
  } finally {
    settled = true;
    late?.clear();
  }
}
