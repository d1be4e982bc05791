/**
 * Where the CI keeps its state: `--data-dir`, else LXCTS_DATA_DIR, else /var/lib/lxcts for
 * root and $XDG_DATA_HOME/lxcts (~/.local/share/lxcts) for anyone else.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface DataDir {
  root: string;
  /** SQLite database of builds. */
  database: string;
  /** Bare mirrors of the repositories built. */
  mirrors: string;
  /** Per-build checkouts, removed after each build. */
  workspaces: string;
  /** lxcpath of the base containers. */
  bases: string;
  /** lxcpath of the build containers (each destroyed after its build). */
  containers: string;
  logs: string;
  binaries: string;
  docs: string;
}

export function defaultDataDir(): string {
  if (process.env.LXCTS_DATA_DIR) return path.resolve(process.env.LXCTS_DATA_DIR);
  if (process.getuid?.() === 0) return '/var/lib/lxcts';
  const xdg = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(xdg, 'lxcts');
}

export function openDataDir(root = defaultDataDir()): DataDir {
  const r = path.resolve(root);
  const dir: DataDir = {
    root: r,
    database: path.join(r, 'builds.sqlite'),
    mirrors: path.join(r, 'mirrors'),
    workspaces: path.join(r, 'workspaces'),
    bases: path.join(r, 'bases'),
    containers: path.join(r, 'containers'),
    logs: path.join(r, 'logs'),
    binaries: path.join(r, 'binaries'),
    docs: path.join(r, 'docs'),
  };
  for (const p of [dir.mirrors, dir.workspaces, dir.bases, dir.containers, dir.logs, dir.binaries, dir.docs]) {
    fs.mkdirSync(p, { recursive: true });
  }
  return dir;
}
