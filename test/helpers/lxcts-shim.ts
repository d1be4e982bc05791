/**
 * A stable `lxcts` command for tests, as an installed package would put on PATH: a small
 * script in `dir` running this checkout's bin/run.js. Returns a PATH with it first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { binRun } from './cli';

export function lxctsOnPath(dir: string): { bin: string; PATH: string } {
  fs.mkdirSync(dir, { recursive: true });
  const bin = path.join(dir, 'lxcts');
  fs.writeFileSync(bin, `#!/bin/sh\nexec '${process.execPath}' '${binRun}' "$@"\n`, { mode: 0o755 });
  return { bin, PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}` };
}
