/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Types are checked by `npm run typecheck`; jest only strips them.
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testTimeout: 60_000,
  // Real containers on a 2-core machine: two files at a time keeps timing checks honest.
  maxWorkers: 2,
  verbose: true,
};
