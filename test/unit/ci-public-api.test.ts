/**
 * @tier unit
 * The CI is a user of the library like any other: it imports `src/index.ts`, never the
 * modules of `src/lxc/` behind it, so the public API carries everything a CI needs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ROOT } from '../helpers/root';

test('no module of src/ci imports from src/lxc directly', () => {
  const dir = path.join(ROOT, 'src', 'ci');
  const offenders = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) =>
      [...fs.readFileSync(path.join(dir, f), 'utf8').matchAll(/^\s*(?:import|export)\b[^;]*?from\s+'([^']+)'/gm)]
        .map((m) => m[1] ?? '')
        .filter((from) => /(^|\/)lxc\//.test(path.posix.normalize(`src/ci/${from}`)))
        .map((from) => `${f}: ${from}`),
    );
  expect(offenders).toEqual([]);
});
