/**
 * Two tiers, chosen by a tag rather than by directory so that a file's tier can change
 * without moving it:
 *   unit         test files whose leading doc comment says `@tier unit`: no root, no LXC,
 *                no addon (npm run test:unit; runs on a laptop without LXC);
 *   integration  everything else: real liblxc, real containers, root (the default, so an
 *                untagged new file never lands in the tier that cannot run it).
 * `npx jest test/x.test.ts` still runs one file whatever its tier.
 */
const fs = require('node:fs');
const path = require('node:path');

const TEST_ROOT = path.join(__dirname, 'test');

function testFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : testFiles(file);
    return entry.name.endsWith('.test.ts') ? [file] : [];
  });
}

/** The tag must be in the file's first comment, before any code. */
function isUnit(file) {
  const head = fs.readFileSync(file, 'utf8').match(/^\s*\/\*\*[\s\S]*?\*\//);
  return head !== null && /@tier\s+unit\b/.test(head[0]);
}

const anchored = (file) => `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
const unitFiles = testFiles(TEST_ROOT).filter(isUnit).map(anchored);

const shared = {
  testEnvironment: 'node',
  // Types are checked by `npm run typecheck`; jest only strips them.
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
};

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 60_000,
  // Real containers on a 2-core machine: two files at a time keeps timing checks honest.
  maxWorkers: 2,
  verbose: true,
  projects: [
    { ...shared, displayName: 'unit', roots: [TEST_ROOT], testRegex: unitFiles.length ? unitFiles : ['^$'] },
    { ...shared, displayName: 'integration', roots: [TEST_ROOT], testMatch: ['**/*.test.ts'], testPathIgnorePatterns: ['/node_modules/', ...unitFiles] },
  ],
};
