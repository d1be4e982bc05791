/**
 * @tier unit
 * The error codes the addon can reject with are the ones src/lxc/errors.ts declares
 * (LxcErrorCode), and every declared code is one that the addon or src/lxc can produce.
 * The addon's codes exist only as string literals in its C++ source (Outcome::Fail, the
 * helpers' replies), so that source is read as text; no addon, no liblxc.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ROOT } from '../helpers/root';
import { unionLiterals } from '../helpers/ts-declarations';

function codesIn(dir: string, extensions: string[], quote: string, skip: string[] = []): Set<string> {
  const literal = new RegExp(`${quote}(LXC_[A-Z0-9_]+)${quote}`, 'g');
  const codes = new Set<string>();
  for (const file of fs.readdirSync(dir)) {
    if (!extensions.some((ext) => file.endsWith(ext)) || skip.includes(file)) continue;
    for (const match of fs.readFileSync(path.join(dir, file), 'utf8').matchAll(literal)) codes.add(match[1] ?? '');
  }
  return codes;
}

const declared = new Set(unionLiterals(path.join(ROOT, 'src', 'lxc', 'errors.ts'), 'LxcErrorCode'));
const fromAddon = codesIn(path.join(ROOT, 'addon'), ['.cc', '.h'], '"');
const fromTypeScript = codesIn(path.join(ROOT, 'src', 'lxc'), ['.ts'], "'", ['errors.ts']);

test('the C++ source is read: it names the codes every liblxc call fails with', () => {
  // A reading that found nothing would make the next test pass for the wrong reason.
  for (const code of ['LXC_NOT_RUNNING', 'LXC_EXEC_FAILED', 'LXC_START_FAILED', 'LXC_INTERNAL']) expect(fromAddon).toContain(code);
});

test('every code the addon can reject with is declared in LxcErrorCode', () => {
  expect([...fromAddon].filter((code) => !declared.has(code)).sort()).toEqual([]);
});

test('every declared code is produced by the addon or by src/lxc', () => {
  expect([...declared].filter((code) => !fromAddon.has(code) && !fromTypeScript.has(code)).sort()).toEqual([]);
});
