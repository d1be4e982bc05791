/**
 * Container.execute(): a command as the init of an application container (lxc-execute),
 * run through the single-threaded lxcts-execute helper, since liblxc runs a container in
 * the foreground only in a process without threads.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';

import { LxcError, LxcErrorCode } from './errors';
import { ExitStatus, ProcessParts, signalName } from './process';
import { describe, expectOptions } from './validate';
import { executeHelperPath, native } from './native';

export interface ExecuteOptions {
  /**
   * Config items for this run only, applied in order ("" clears a key). For a container
   * that does not exist they complete liblxc's default config: an application container
   * over the host's root filesystem.
   */
  config?: Record<string, string> | Array<[string, string]>;
  /** Environment variables of the command (lxc.environment). */
  env?: Record<string, string>;
  /** Sent to the command's stdin, which then gets end-of-file. Default: /dev/null. */
  input?: Buffer | string | Readable;
  /**
   * Seconds before the command is stopped and the call fails with LXC_TIMEOUT. As with
   * exec(), execute() also waits no longer for the output: a process that outlives the
   * container (one in a pid namespace it shares) and keeps stdout or stderr open.
   */
  timeout?: number;
  signal?: AbortSignal;
}

const HELPER_ERRORS: Record<string, LxcErrorCode> = {
  usage: 'LXC_INTERNAL',
  open: 'LXC_OPEN_FAILED',
  config: 'LXC_INVALID_CONFIG_VALUE',
  running: 'LXC_ALREADY_RUNNING',
  start: 'LXC_START_FAILED',
};

/** Config items as helper arguments, checked the way setConfigItem() checks them. */
export function executeConfigItems(options: unknown, container: string): string[] {
  const o = expectOptions<ExecuteOptions>(options, 'execute options');
  const pairs: Array<[string, unknown]> = Array.isArray(o.config) ? o.config : Object.entries(expectOptions(o.config, 'config'));
  const env = Object.entries(expectOptions<Record<string, string>>(o.env, 'env')).map(([k, v]): [string, unknown] => {
    if (typeof v !== 'string' || !/^[^=\0]+$/.test(k)) throw new TypeError(`Invalid environment variable ${JSON.stringify(k)}`);
    return ['lxc.environment', `${k}=${v}`];
  });
  return [...pairs, ...env].map(([key, value]) => {
    if (typeof key !== 'string' || typeof value !== 'string') {
      throw new TypeError(`Expected string config keys and values but received ${describe(key)} = ${describe(value)}`);
    }
    if (!native().configItemSupported(key) || /[\n\r\0]/.test(key)) {
      throw new LxcError(`unknown config key "${key}"`, { code: 'LXC_INVALID_CONFIG_KEY', op: 'execute', container });
    }
    if (/[\n\r\0]/.test(value)) {
      throw new LxcError(`invalid config value ${JSON.stringify(value)}`, { code: 'LXC_INVALID_CONFIG_VALUE', op: 'execute', container });
    }
    return `${key}=${value}`;
  });
}

/**
 * A helper's pipe read to its end. A read error counts as an empty pipe, so a lost status
 * line is reported as the helper ending without a status (LXC_EXEC_FAILED), like a crash.
 */
function readAll(stream: Readable): Promise<string> {
  return text(stream).catch(() => '');
}

/**
 * Starts the helper. `stopContainer` is how SIGKILL is delivered: killing the helper
 * would orphan the running container, so the container is stopped through liblxc instead.
 */
export function startExecute(name: string, lxcpath: string | undefined, items: string[], argv: string[], stopContainer: () => Promise<void>): ProcessParts {
  const child = spawn(executeHelperPath(), [name, lxcpath ?? '', ...items, '--', ...argv], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
  });
  const [stdin, stdout, stderr, statusPipe, logPipe] = child.stdio as [NodeJS.WritableStream, Readable, Readable, Readable, Readable];
  const status = readAll(statusPipe);
  const log = readAll(logPipe);
  const closed = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
  const exited = Promise.all([closed, status, log]).then(([, line, logText]): ExitStatus => {
    const [kind, value, ...rest] = line.trim().split(' ');
    if (kind === 'exit') return { exitCode: Number(value), signal: null };
    if (kind === 'signal') return { exitCode: null, signal: signalName(Number(value)) };
    const details = logText.split('\n').filter((l) => l.length > 0);
    const message = kind === 'error' ? rest.join(' ') : 'the lxcts-execute helper ended without a status';
    throw new LxcError(`execute in container "${name}": ${message}`, {
      code: kind === 'error' ? ((value !== undefined ? HELPER_ERRORS[value] : undefined) ?? 'LXC_EXEC_FAILED') : 'LXC_EXEC_FAILED',
      op: 'execute',
      container: name,
      details,
    });
  });
  let done = false;
  exited.then(
    () => (done = true),
    () => (done = true),
  );
  return {
    pid: child.pid ?? -1,
    stdin: stdin as unknown as ProcessParts['stdin'],
    stdout,
    stderr,
    kill: (signal) => {
      if (done) return false;
      if (signal === 9) {
        void stopContainer().catch(() => undefined);
        return true;
      }
      // The helper forwards signals to the container's init, which passes them on.
      return child.kill(signal);
    },
    exited,
  };
}
