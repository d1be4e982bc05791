/**
 * Cleanup with the lxc-* tools, not lxcts: it must work even when the code under test is
 * broken. Best effort by design: a container that is not running or already gone is fine.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

function quiet(command: string, args: string[]): void {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 30_000 });
  } catch {
    // Not running / already gone.
  }
}

/** Kills and destroys one container, with its snapshots. */
export function destroyWithTools(lxcpath: string, name: string): void {
  quiet('lxc-stop', ['-P', lxcpath, '-n', name, '-k']);
  quiet('lxc-destroy', ['-P', lxcpath, '-n', name, '-s']);
}

/** Names of the containers that have a config in `lxcpath`. */
export function containersIn(lxcpath: string): string[] {
  if (!fs.existsSync(lxcpath)) return [];
  return fs.readdirSync(lxcpath).filter((n) => fs.existsSync(path.join(lxcpath, n, 'config')));
}

/**
 * Kills and destroys every container in `lxcpath`, then removes the directory and the lock
 * files liblxc keeps for it under /run/lxc/lock (one per container, never removed by liblxc).
 */
export function destroyAllWithTools(lxcpath: string): void {
  for (const name of containersIn(lxcpath)) destroyWithTools(lxcpath, name);
  fs.rmSync(lxcpath, { recursive: true, force: true });
  const locks = path.join('/run/lxc/lock', path.resolve(lxcpath));
  if (path.resolve(lxcpath) !== '/') fs.rmSync(locks, { recursive: true, force: true });
}
