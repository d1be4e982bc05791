/** @tier unit */
import { BuildFileError, jobRunsOn, NOTHING_CONFIGURED, parseBuildFile } from '../src/ci/build-file';
import { must } from './helpers/must';

function problemsOf(text: string): string[] {
  try {
    parseBuildFile(text);
  } catch (err) {
    expect((err as Error).name).toBe('BuildFileError');
    return (err as BuildFileError).problems.map((p) => `${p.line}:${p.column} ${p.at}: ${p.message}`);
  }
  throw new Error('expected the build file to be rejected');
}

test('the README example parses, with durations, sizes and defaults filled in', () => {
  const file = parseBuildFile(`
base: host
jobs:
  binaries:
    branches: [main, master]
    steps: [make build, ./bin/hello --version]
    artifacts: [bin/*]
    timeout: 20m
    limits: { memory: 1G, pids: 512 }
  docs:
    branches: [main, master]
    steps: [make docs]
    docs: site/
`);
  expect(file.base).toBe('host');
  expect(file.jobs.binaries).toMatchObject({ timeout: 20 * 60_000, limits: { memory: 1024 ** 3, pids: 512 }, network: false });
  // No timeout or limits given: the builder applies the defaults of limits.ts (and the worker's ceilings).
  const docs = must(file.jobs.docs, 'the docs job');
  expect(docs).toMatchObject({ docs: 'site/' });
  expect(docs.timeout).toBeUndefined();
  expect(docs.limits).toBeUndefined();
  expect(jobRunsOn(docs, 'main')).toBe(true);
  expect(jobRunsOn(docs, 'feature')).toBe(false);
});

test('an unknown key is reported where it stands', () => {
  expect(problemsOf('jobs:\n  a:\n    steps: [x]\n    artefacts: [bin/*]\n')).toEqual(['4:5 jobs.a: unknown key "artefacts"']);
});

test('a wrong type names what was expected and what was found', () => {
  expect(problemsOf('jobs:\n  a:\n    steps: make\n')).toEqual(['3:12 jobs.a.steps: expected array, got string "make"']);
  expect(problemsOf('jobs:\n  a:\n    steps: [x]\n    network: yes-please\n')).toEqual(['4:14 jobs.a.network: expected boolean, got string "yes-please"']);
});

test('missing steps, an empty job list and bad durations and sizes are located', () => {
  expect(problemsOf('jobs:\n  a:\n    branches: [main]\n')).toEqual(['3:5 jobs.a.steps: expected array, got nothing']);
  expect(problemsOf('jobs: {}\n')).toEqual([`1:7 jobs: ${NOTHING_CONFIGURED}`]);
  expect(problemsOf('jobs:\n  a:\n    steps: [x]\n    timeout: soon\n')[0]).toMatch(/^4:14 jobs\.a\.timeout: expected a duration/);
  expect(problemsOf('jobs:\n  a:\n    steps: [x]\n    limits: { memory: lots }\n')[0]).toMatch(/^4:23 jobs\.a\.limits\.memory: /);
});

test('a docs path outside the checkout is refused', () => {
  expect(problemsOf('jobs:\n  d:\n    steps: [x]\n    docs: ../../etc\n')).toEqual([
    '4:11 jobs.d.docs: expected a path inside the checkout (relative, without ..)',
  ]);
  expect(problemsOf('jobs:\n  d:\n    steps: [x]\n    docs: /etc\n')).toHaveLength(1);
});

test('YAML syntax errors are located too', () => {
  expect(problemsOf('jobs:\n  a:\n    steps: [x\n')[0]).toMatch(/^\d+:\d+ : /);
});

test('artifacts are globs or { path, required }; both become { path, required }, and mistakes are located', () => {
  const file = parseBuildFile('jobs:\n  a:\n    steps: [x]\n    artifacts: [bin/*, { path: "dist/*.tar.gz", required: true }, { path: lib/ }]\n');
  expect(file.jobs.a?.artifacts).toEqual([
    { path: 'bin/*', required: false },
    { path: 'dist/*.tar.gz', required: true },
    { path: 'lib/', required: false },
  ]);
  expect(problemsOf('jobs:\n  a:\n    steps: [x]\n    artifacts: [{ path: ../x, required: true }]\n')).toEqual([
    '4:25 jobs.a.artifacts.0.path: expected a path inside the checkout (relative, without ..)',
  ]);
  expect(problemsOf('jobs:\n  a:\n    steps: [x]\n    artifacts: [{ pth: bin/* }]\n')).toEqual([
    '4:17 jobs.a.artifacts.0: expected a path glob, or { path: <glob>, required: true }',
  ]);
});

test('limits: memory, pids, cpus, disk and log are read with their units; anything else is refused where it stands', () => {
  const file = parseBuildFile('jobs:\n  a:\n    steps: [x]\n    limits: { memory: 3G, pids: 200, cpus: 1.5, disk: 10GiB, log: 512k }\n');
  expect(file.jobs.a?.limits).toEqual({ memory: 3 * 1024 ** 3, pids: 200, cpus: 1.5, disk: 10 * 1024 ** 3, log: 512 * 1024 });
  expect(problemsOf('jobs:\n  a:\n    steps: [x]\n    limits: { disk: lots }\n')[0]).toMatch(/^4:21 jobs\.a\.limits\.disk: expected a size such as 512M or 1G/);
  expect(problemsOf('jobs:\n  a:\n    steps: [x]\n    limits: { cpus: 0 }\n')[0]).toMatch(/jobs\.a\.limits\.cpus: expected at least 0\.01 CPUs/);
  expect(problemsOf('jobs:\n  a:\n    steps: [x]\n    limits: { memory: 1 }\n')[0]).toMatch(/jobs\.a\.limits\.memory: expected at least 32M/);
  expect(problemsOf('jobs:\n  a:\n    steps: [x]\n    limits: { disk: 1k }\n')[0]).toMatch(/jobs\.a\.limits\.disk: expected at least 16M/);
  expect(problemsOf('jobs:\n  a:\n    steps: [x]\n    limits: { swap: 1G }\n')[0]).toMatch(/unknown key "swap"/);
});

test('a file for the patch-parser bot alone may have no jobs; a file that configures nothing is refused, saying what it lacks', () => {
  const labelsOnly = parseBuildFile('labels:\n  docs/**: area/docs\n');
  expect(labelsOnly.jobs).toEqual({});
  expect(labelsOnly.labels).toEqual([{ glob: 'docs/**', labels: ['area/docs'] }]);
  // The bot's defaults are filled in as for any file.
  expect(labelsOnly.patch_parser).toEqual(parseBuildFile('jobs: { a: { steps: [x] } }\n').patch_parser);
  expect(parseBuildFile('patch_parser: { dco: false }\njobs: {}\n')).toMatchObject({ jobs: {}, patch_parser: { dco: false, max_file_size: 1024 ** 2 } });
  expect(parseBuildFile('patch_parser: {}\n').jobs).toEqual({});
  // Nothing to build and no bot: refused, located at the file (no jobs key) or at the empty jobs.
  expect(problemsOf('')).toEqual([`1:1 jobs: ${NOTHING_CONFIGURED}`]);
  expect(problemsOf('base: host\n')).toEqual([`1:1 jobs: ${NOTHING_CONFIGURED}`]);
  expect(problemsOf('base: host\njobs: {}\n')).toEqual([`2:7 jobs: ${NOTHING_CONFIGURED}`]);
  // A mistake in the bot's part is still reported as such.
  expect(problemsOf('labels:\n  docs/**: "a,b"\n')[0]).toMatch(/^2:12 labels\.docs\/\*\*: expected a label name/);
});
