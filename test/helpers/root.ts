/**
 * The checkout's root, found upwards from here: test/helpers/ under jest, deeper when the
 * bench compiles these helpers into bench/out/test/helpers/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

function findRoot(from: string): string {
  for (let dir = from; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'binding.gyp')) && fs.existsSync(path.join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no lxcts checkout above ${from}`);
}

export const ROOT = findRoot(__dirname);
