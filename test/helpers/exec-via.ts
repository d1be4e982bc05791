/**
 * Running one shell line on a chosen exec path: through the lxcts-attach helper, or
 * in-process (a request over the helper's 64 KiB is attached in-process). Suites that
 * check what a command gets run each case on both.
 */
import { buffer } from 'node:stream/consumers';

import type { Container, SpawnOptions } from '../../src';
import { native } from '../../src/lxc/native';
import { parentPid } from './procfs';

export type Via = 'helper' | 'in-process';

export const EXEC_PATHS: [string, Via][] = [
  ['through the lxcts-attach helper', 'helper'],
  ['in-process', 'in-process'],
];

/**
 * Runs a shell line and returns its stdout, after checking that it was attached where
 * `via` says; the command must exit 0 with nothing on stderr.
 */
export async function runVia(c: Container, script: string, options: SpawnOptions, via: Via): Promise<string> {
  const env = via === 'in-process' ? { ...(options.env as Record<string, string>), BIG: 'x'.repeat(70 * 1024) } : options.env;
  // The command waits for a line on stdin, so that its parent can be looked at while it runs.
  const proc = await c.spawn(['/bin/sh', '-c', `read go; ${script}`], { ...options, env });
  try {
    expect(parentPid(proc.pid)).toBe(via === 'helper' ? native().attachHelperPid() : process.pid);
  } finally {
    proc.stdin.end('go\n');
  }
  const [stdout, stderr, status] = await Promise.all([buffer(proc.stdout), buffer(proc.stderr), proc.wait()]);
  expect({ stderr: stderr.toString(), ...status }).toEqual({ stderr: '', exitCode: 0, signal: null });
  return stdout.toString().trim();
}
