/** A CI data directory per test file, cleaned up with the lxc tools whatever happened. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { buildFirewallFor } from '../../src/ci/build-firewall';
import { Builder, BuilderOptions } from '../../src/ci/builder';
import { DataDir, openDataDir } from '../../src/ci/data-dir';
import { BuildStore } from '../../src/ci/store';
import { containersIn, destroyWithTools } from './lxc-tools';

export class CiSandbox {
  readonly data: DataDir;
  readonly store: BuildStore;

  constructor(label: string) {
    this.data = openDataDir(fs.mkdtempSync(path.join(os.tmpdir(), `lxcts-ci-${label}-`)));
    this.store = new BuildStore(this.data.database);
  }

  /** A builder that, like `ci build PATH`, takes any local repository (the tests' own). */
  builder(options?: BuilderOptions): Builder {
    return new Builder(this.data, this.store, { sources: { allowLocal: 'any', allowPrivateHosts: false }, ...options });
  }

  /** Build containers and checkouts still on disk: should be none between builds. */
  leftovers(): { containers: string[]; workspaces: string[] } {
    return { containers: fs.readdirSync(this.data.containers), workspaces: fs.readdirSync(this.data.workspaces) };
  }

  cleanup(): void {
    this.store.close();
    // Clones first: a base cannot go while overlay clones depend on it.
    for (const lxcpath of [this.data.containers, this.data.bases]) {
      for (const name of containersIn(lxcpath)) destroyWithTools(lxcpath, name);
    }
    // The firewall tables of this data directory, if a network: true build installed them.
    const { table } = buildFirewallFor(this.data.root);
    try {
      execFileSync('nft', ['-f', '-'], {
        input: `add table bridge ${table}\ndelete table bridge ${table}\nadd table inet ${table}\ndelete table inet ${table}\n`,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
    } catch {
      // no nft: no tables either
    }
    // A test that failed mid-build may leave a scratch filesystem mounted under the data
    // directory: unmount (its loop device goes with it) before removing anything.
    const root = fs.realpathSync(this.data.root);
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '');
    for (const mount of mounts
      .filter((m) => m.startsWith(`${root}/`))
      .sort()
      .reverse()) {
      try {
        execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    fs.rmSync(this.data.root, { recursive: true, force: true });
    // liblxc's lock files for these lxcpaths (one per container, never removed by liblxc).
    for (const lxcpath of [this.data.containers, this.data.bases])
      fs.rmSync(path.join('/run/lxc/lock', path.resolve(lxcpath)), { recursive: true, force: true });
  }
}
