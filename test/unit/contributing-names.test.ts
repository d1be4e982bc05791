/**
 * @tier unit
 * CONTRIBUTING.md stays true: every file it names in backquotes exists, and every code name
 * it uses (a class, a function, a `Type::Member`, a `#private`) occurs in the sources. A
 * rename that forgets the guide fails here instead of misleading the next contributor.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ROOT } from '../helpers/root';

const guide = fs.readFileSync(path.join(ROOT, 'CONTRIBUTING.md'), 'utf8');
// Code spans outside fenced blocks (the blocks are commands, checked by running them elsewhere).
const spans = [...new Set([...guide.replace(/^```[\s\S]*?^```/gm, '').matchAll(/`([^`\n]+)`/g)].map((m) => (m[1] ?? '').trim()))];

const SOURCE_DIRS = ['addon', 'src', 'test', 'bench', 'scripts', 'examples', '.github', 'vagrant', '.ci'];
const SKIP_DIRS = new Set(['node_modules', 'out', 'build', 'dist', '.git']);

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return SKIP_DIRS.has(entry.name) ? [] : filesUnder(full);
    return entry.isFile() ? [full] : [];
  });
}

const files = [...SOURCE_DIRS.flatMap((d) => filesUnder(path.join(ROOT, d))), ...fs.readdirSync(ROOT).map((f) => path.join(ROOT, f))].filter((f) =>
  fs.statSync(f).isFile(),
);
const relative = new Set(files.map((f) => path.relative(ROOT, f)));
const basenames = new Set(files.flatMap((f) => [path.basename(f), path.basename(path.dirname(f))]));
const sources = files
  .filter((f) => /\.(ts|js|cc|h|c|go|py|sh|json|ya?ml)$/.test(f) || path.basename(f) === 'run')
  .map((f) => fs.readFileSync(f, 'utf8'))
  .join('\n');

/** `addon/attach_client.{h,cc}` -> both files; `bench/lib/` -> the directory. */
function expand(p: string): string[] {
  const brace = /\{([^}]+)\}/.exec(p);
  if (!brace) return [p];
  return (brace[1] ?? '').split(',').flatMap((alt) => expand(p.replace(brace[0], alt)));
}

/** What a build or a run makes (dist/, bench/out/): named by the guide, absent from a fresh clone. */
const generated = new Set(
  fs
    .readFileSync(path.join(ROOT, '.gitignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#')),
);
const isGenerated = (p: string) => generated.has(p) || generated.has(`${p}/`);

function pathExists(p: string): boolean {
  const clean = p.replace(/\/$/, '');
  if (fs.existsSync(path.join(ROOT, clean)) || isGenerated(p)) return true;
  // A bare file name in a row about one directory (`bases.ts` in the src/ci row).
  return !clean.includes('/') && (basenames.has(clean) || relative.has(clean));
}

const isPath = (s: string) =>
  /^[\w.-]*[\w-]+(\/[\w.{},*-]*)*(\.(ts|js|cc|h|c|go|py|sh|md|json|ya?ml)|\{[\w,]+\}|\/)$/.test(s) && /[/.]/.test(s) && !/^\.\w+$/.test(s);
// Code names: CamelCase words, Type::Member, #private, calls written as name().
const isCodeName = (s: string) =>
  /^#?[A-Za-z_][\w]*(::[A-Za-z_~]\w*)*(\(\))?$/.test(s) && (/[a-z][A-Z]|::|^#|\(\)$|^[A-Z][a-z]+[A-Z]/.test(s) || /^[A-Z]\w*[a-z]\w*$/.test(s));

describe('CONTRIBUTING.md names only what exists', () => {
  const paths = spans.filter((s) => isPath(s) && !s.includes(' ') && !s.startsWith('-') && !s.includes('*'));
  const names = spans.filter((s) => !isPath(s) && isCodeName(s));

  test('it names files and code (the checks below have something to check)', () => {
    expect(paths.length).toBeGreaterThan(40);
    expect(names.length).toBeGreaterThan(20);
  });

  test('every file and directory it names exists', () => {
    const missing = paths.flatMap(expand).filter((p) => !pathExists(p));
    expect(missing).toEqual([]);
  });

  test('every code name it uses occurs in the sources', () => {
    const missing = names.filter((name) => {
      const parts = name.replace(/\(\)$/, '').split('::');
      return !parts.every((part) => new RegExp(`(^|[^\\w])${part.replace('#', '#')}\\b`).test(sources));
    });
    expect(missing).toEqual([]);
  });
});

describe("CONTRIBUTING.md's layout names every source file", () => {
  const layout = guide.slice(guide.indexOf('## Layout'), guide.indexOf('\n## ', guide.indexOf('## Layout') + 1));
  const layoutSpans = [...layout.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] ?? '').flatMap(expand);
  // A directory in a row's first cell (`src/commands/`) stands for everything below it.
  const coveringDirs = [...layout.matchAll(/^\| `([^`]+\/)` \|/gm)].map((m) => m[1] ?? '');
  const named = new Set(layoutSpans.flatMap((span) => [span, path.basename(span)]));

  test('every file under addon/ and src/ is in the layout table', () => {
    const sourceFiles = ['addon', 'src'].flatMap((d) => filesUnder(path.join(ROOT, d))).map((f) => path.relative(ROOT, f));
    expect(sourceFiles.length).toBeGreaterThan(100);
    const unnamed = sourceFiles.filter(
      (f) => !f.endsWith('.d.ts') && !named.has(f) && !named.has(path.basename(f)) && !coveringDirs.some((dir) => f.startsWith(dir)),
    );
    expect(unnamed).toEqual([]);
  });
});
