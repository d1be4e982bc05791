/** A template for create() that never finishes on its own, to catch a create in the act. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface SlowTemplate {
  /** The template's path, for create({ template }). */
  path: string;
  /** Text in the command line of the sleep it runs, to find (and kill) it by. */
  token: string;
  remove(): void;
}

/**
 * Marks that it runs (`template-running` in the container's directory), then sleeps until
 * killed. `digit` tells the token of one test file from another's in the same process.
 */
export function slowTemplate(label: string, digit: number): SlowTemplate {
  const token = `${digit}${process.pid}.25`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lxcts-${label}-template-`));
  const file = path.join(dir, 'slow');
  fs.writeFileSync(
    file,
    `#!/bin/sh
for arg; do case "$arg" in --path=*) dir=\${arg#--path=} ;; esac; done
[ -d "$dir" ] && touch "$dir/template-running"
sleep ${token}
`,
    { mode: 0o755 },
  );
  return { path: file, token, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
