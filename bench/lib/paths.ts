/** Where things are, whether this runs compiled (build/bench/bench/lib) or from source. */
import * as fs from 'node:fs';
import * as path from 'node:path';

function findRoot(from: string): string {
  for (let dir = from; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'binding.gyp')) && fs.existsSync(path.join(dir, 'bench'))) return dir;
  }
  throw new Error(`no lxcts checkout above ${from}`);
}

export const ROOT = findRoot(__dirname);
/** Sources of the peers written in other languages. */
export const PEERS_SRC = path.join(ROOT, 'bench', 'peers');
/** Built peers and the compiled bench. */
export const BENCH_BUILD = path.join(ROOT, 'build', 'bench');
export const RESULTS = path.join(ROOT, 'bench', 'results');
