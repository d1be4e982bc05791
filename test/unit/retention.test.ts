/**
 * @tier unit
 * The retention policy (src/ci/retention.ts) on a data directory filled by the real store
 * and publisher: what is kept (newest N per branch, what a pointer names, what is young,
 * what a build in progress uses), what goes, and that nothing outside the tree is touched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { applyRetention, retentionAfterPublish } from '../../src/ci/retention';
import { FixtureBuild, RetentionFixture } from '../helpers/retention-fixture';

let fx: RetentionFixture;
beforeEach(() => {
  fx = new RetentionFixture();
});
afterEach(() => fx.cleanup());

const policy = { keep: 2, days: 30 };

test('keeps the newest N of each branch and of the builds of no branch, what a pointer names and what is young; removes the rest', async () => {
  const main: FixtureBuild[] = [];
  for (let i = 0; i < 5; i++) main.push(await fx.build({ branch: 'main', ageDays: 50 - i }));
  const young = await fx.build({ branch: 'main', ageDays: 40 }); // older time, but see below
  fx.age([young.binaries], 3);
  const feature = [await fx.build({ branch: 'feature', ageDays: 60 }), await fx.build({ branch: 'feature', ageDays: 59 })];
  const tags: FixtureBuild[] = [];
  for (let i = 0; i < 4; i++) tags.push(await fx.build({ branch: null, ageDays: 45 - i }));
  fx.pin('release', must(main[0]));

  const report = await applyRetention({ data: fx.data, store: fx.store, policy });

  // main: newest two by time are `young` (3 days) and main[4] (the pointer's); main[3] is the 3rd newest
  // but the 5th build; main[0] is pinned; main[1..3] go.
  expect(main.map((b) => fx.exists(b).binaries)).toEqual([true, false, false, false, true]);
  expect(main.map((b) => fx.exists(b).commitLink)).toEqual([true, false, false, false, true]);
  expect(fx.exists(young).binaries).toBe(true);
  expect(feature.map((b) => fx.exists(b).binaries)).toEqual([true, true]);
  // Tag builds: one group; the newest two stay, binaries and docs alike.
  expect(tags.map((b) => fx.exists(b).binaries)).toEqual([false, false, true, true]);
  expect(tags.map((b) => fx.exists(b).docs)).toEqual([false, false, true, true]);
  // Pointers still lead to files.
  for (const pointer of ['main', 'feature', 'release']) expect(fs.existsSync(path.join(fx.binariesRepo, pointer, 'bin', 'app'))).toBe(true);
  // (release's docs went when main's pointer moved on: the publisher removes a site nothing points at.)
  for (const pointer of ['main', 'feature']) expect(fs.existsSync(path.join(fx.docsRepo, pointer, 'index.html'))).toBe(true);
  expect(report.problems).toEqual([]);
  expect(report.removed.filter((r) => r.kind === 'binaries')).toHaveLength(5);
  expect(report.removed.find((r) => r.path.endsWith(path.basename(must(main[1]).binaries)))?.why).toMatch(
    /^branch main: 5th newest, 49 days old, named by no pointer$/,
  );
});

test('a dry run lists the same removals and removes nothing', async () => {
  const builds: FixtureBuild[] = [];
  for (let i = 0; i < 4; i++) builds.push(await fx.build({ branch: null, ageDays: 40 }));
  const before = builds.map((b) => fx.exists(b));
  const dry = await applyRetention({ data: fx.data, store: fx.store, policy, dryRun: true });
  expect(builds.map((b) => fx.exists(b))).toEqual(before);
  const real = await applyRetention({ data: fx.data, store: fx.store, policy });
  expect(dry.removed).toEqual(real.removed);
  expect(real.removed.length).toBeGreaterThan(0);
  expect(builds.filter((b) => fx.exists(b).binaries)).toHaveLength(2);
});

test('logs: older than D days and not the newest build of their ref and job go; the newest stays however old', async () => {
  const old = [await fx.build({ branch: 'main', ageDays: 90 }), await fx.build({ branch: 'main', ageDays: 80 })];
  const docsJob = await fx.build({ branch: 'main', ageDays: 85, job: 'docs' });
  const recent = await fx.build({ branch: 'main', ageDays: 10 });
  const newest = await fx.build({ branch: 'main', ageDays: 5 });
  await applyRetention({ data: fx.data, store: fx.store, policy: { keep: 5, days: 30 } });
  expect([...old, recent, newest].map((b) => fx.exists(b).log)).toEqual([false, false, true, true]);
  expect(fx.exists(docsJob).log).toBe(true); // the newest (only) build of its job
});

test('what a build in progress uses is kept: its version, its log, a staging directory', async () => {
  const running = await fx.build({ branch: null, ageDays: 60, status: 'running' });
  const done: FixtureBuild[] = [];
  for (let i = 0; i < 3; i++) done.push(await fx.build({ branch: null, ageDays: 50 }));
  const staging = path.join(fx.binariesRepo, '.versions', `.staging-${'c'.repeat(40)}-99-x`);
  fs.mkdirSync(staging);
  fx.age([staging], 90);
  await applyRetention({ data: fx.data, store: fx.store, policy: { keep: 0, days: 1 } });
  expect(fx.exists(running)).toEqual({ binaries: true, commitLink: true, docs: true, log: true });
  expect(done.map((b) => fx.exists(b).binaries)).toEqual([false, false, false]);
  expect(fs.existsSync(staging)).toBe(true);
});

test('nothing is followed out of the tree: linked owners, versions, pointers and logs leave their targets alone', async () => {
  const outside = path.join(fx.root, 'outside');
  const sha = 'd'.repeat(40);
  // What an attacker would like removed: a tree that looks like a repository's versions.
  fs.mkdirSync(path.join(outside, 'r', '.versions', `${sha}-1`), { recursive: true });
  fs.writeFileSync(path.join(outside, 'r', '.versions', `${sha}-1`, 'precious'), 'x');
  fs.writeFileSync(path.join(outside, 'precious.log'), 'x');
  fx.age([path.join(outside, 'r', '.versions', `${sha}-1`), path.join(outside, 'precious.log')], 90);
  fs.symlinkSync(outside, path.join(fx.data.binaries, 'evil')); // an owner that is a link
  const victim = await fx.build({ branch: null, ageDays: 90 });
  for (let i = 0; i < 2; i++) await fx.build({ branch: null, ageDays: 1 });
  // A version entry that is a link, named like a version, and a pointer leading outside.
  fs.symlinkSync(path.join(outside, 'r', '.versions', `${sha}-1`), path.join(fx.binariesRepo, '.versions', `${sha}-2`));
  fs.symlinkSync('../../../../outside/r', path.join(fx.binariesRepo, 'escape'));
  // A log that is a link to a file outside, and a log path in the database outside logs/.
  fs.rmSync(victim.log);
  fs.symlinkSync(path.join(outside, 'precious.log'), victim.log);
  fx.age([victim.log], 90);
  const stray = await fx.build({ branch: null, ageDays: 1 });
  fx.store.started(stray.id, { logPath: path.join(outside, 'precious.log'), container: 'c' });
  fx.store.finished(stray.id, { status: 'success' });
  await fx.build({ branch: null, ageDays: 1 }); // stray is no longer the newest

  const report = await applyRetention({ data: fx.data, store: fx.store, policy: { keep: 0, days: 30 } });
  expect(fs.readFileSync(path.join(outside, 'r', '.versions', `${sha}-1`, 'precious'), 'utf8')).toBe('x');
  expect(fs.readFileSync(path.join(outside, 'precious.log'), 'utf8')).toBe('x');
  expect(fs.lstatSync(path.join(fx.binariesRepo, '.versions', `${sha}-2`)).isSymbolicLink()).toBe(true);
  expect(fs.lstatSync(victim.log).isSymbolicLink()).toBe(true);
  expect(fx.exists(victim).binaries).toBe(false); // the real old version still went
  expect(report.removed.map((r) => r.repo)).not.toContain('evil/r');
});

test('after a publish: the first sweep of a repository runs at once, the next only after the interval', async () => {
  for (let i = 0; i < 3; i++) await fx.build({ branch: null, ageDays: 40 });
  const sweep = retentionAfterPublish({ data: fx.data, store: fx.store, policy: { keep: 1, days: 30 }, intervalMs: 3_600_000 });
  expect(await sweep('octo/hello')).toEqual(['retention: removed 2 binaries versions, 2 docs versions of octo/hello']);
  const later = await fx.build({ branch: null, ageDays: 40 });
  await fx.build({ branch: null, ageDays: 1 });
  expect(await sweep('octo/hello')).toEqual([]);
  expect(fx.exists(later).binaries).toBe(true);
  const every = retentionAfterPublish({ data: fx.data, store: fx.store, policy: { keep: 1, days: 30 }, intervalMs: 0 });
  expect(await every('octo/hello')).toHaveLength(1);
  expect(fx.exists(later).binaries).toBe(false);
});

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('missing');
  return value;
}
