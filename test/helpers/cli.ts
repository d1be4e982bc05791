/** Runs the built `lxcts` command (bin/run.js) as a user would, against one lxcpath. */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { ROOT } from './root';

export const binRun = path.join(ROOT, 'bin', 'run.js');

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function lxcts(lxcpath: string, args: string[], options: { input?: string; timeout?: number; env?: Record<string, string> } = {}): CliRun {
  const run = spawnSync(process.execPath, [binRun, ...args], {
    encoding: 'utf8',
    input: options.input ?? '',
    timeout: options.timeout ?? 60_000,
    env: { ...process.env, LXCTS_LXCPATH: lxcpath, NO_COLOR: '1', ...options.env },
  });
  return {
    status: run.status,
    stdout: run.stdout,
    stderr: run.stderr,
    json: () => {
      try {
        return JSON.parse(run.stdout);
      } catch {
        // Say what the command did, not just that its output was not JSON.
        throw new Error(`lxcts ${args.join(' ')} exited ${run.status}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
      }
    },
  };
}
