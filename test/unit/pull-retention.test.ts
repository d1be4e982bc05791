/**
 * @tier unit
 * A pull request's artifacts (binaries/<owner>/<repo>/pull/<N>/, docs likewise) are
 * published there by the real publisher, never at the commit's place nor under a branch
 * pointer, and expire: retention keeps them only while they are younger than its days,
 * whatever its per-branch count says. A branch named `pull` cannot take their place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { decodePointerName, encodePointerName } from '../../src/ci/pointer-name';
import { applyRetention } from '../../src/ci/retention';
import { FixtureBuild, RetentionFixture } from '../helpers/retention-fixture';

let fx: RetentionFixture;
beforeEach(() => {
  fx = new RetentionFixture();
});
afterEach(() => fx.cleanup());

test("a pull request's build publishes under pull/<N> only, and no pointer moves, whatever branch it is given", async () => {
  const pr = await fx.build({ branch: 'main', pull: 4, ageDays: 0 });
  expect(fs.readFileSync(path.join(fx.binariesRepo, 'pull', '4', pr.commit, 'bin', 'app'), 'utf8')).toBe('app\n');
  expect(fx.exists(pr)).toEqual({ binaries: true, commitLink: false, docs: true, log: true });
  // Nothing beside pull/ in the repository's directories: no commit link, no pointer.
  expect(fs.readdirSync(fx.binariesRepo)).toEqual(['pull']);
  expect(fs.readdirSync(fx.docsRepo)).toEqual(['pull']);
  // Its docs site is named by its commit below the pull request (what the server serves at -/pull/4/<sha>/), as its binaries are.
  for (const repoDir of [fx.binariesRepo, fx.docsRepo]) {
    expect(fs.readlinkSync(path.join(repoDir, 'pull', '4', pr.commit))).toBe(`.versions/${pr.commit}-${pr.id}`);
  }
  expect(fs.readFileSync(path.join(fx.docsRepo, 'pull', '4', pr.commit, 'index.html'), 'utf8')).toBeTruthy();
});

test("a pull request's docs link keeps nothing: its site expires like its binaries, the links go with it, and an emptied pull request's directory too", async () => {
  const old = await fx.build({ branch: null, pull: 7, ageDays: 40 });
  const young = await fx.build({ branch: null, pull: 7, ageDays: 1 });
  const gone = await fx.build({ branch: null, pull: 8, ageDays: 40 });
  await applyRetention({ data: fx.data, store: fx.store, policy: { keep: 5, days: 30 } });
  for (const repoDir of [fx.binariesRepo, fx.docsRepo]) {
    expect(fs.readdirSync(path.join(repoDir, 'pull', '7')).sort()).toEqual(['.versions', young.commit]);
    expect(fs.readdirSync(path.join(repoDir, 'pull', '7', '.versions'))).toEqual([`${young.commit}-${young.id}`]);
    expect(fs.existsSync(path.join(repoDir, 'pull', '7', old.commit))).toBe(false);
    expect(fs.existsSync(path.join(repoDir, 'pull', '8'))).toBe(false);
  }
  expect(fx.exists(gone)).toMatchObject({ binaries: false, docs: false });
});

test("pull requests' artifacts expire after the days, however few there are; branches keep their newest", async () => {
  const pulls: FixtureBuild[] = [];
  for (const ageDays of [50, 40, 3]) pulls.push(await fx.build({ branch: null, pull: 4, ageDays }));
  const other = await fx.build({ branch: null, pull: 9, ageDays: 45 });
  const main = [await fx.build({ branch: 'main', ageDays: 60 }), await fx.build({ branch: 'main', ageDays: 55 })];

  const report = await applyRetention({ data: fx.data, store: fx.store, policy: { keep: 5, days: 30 } });

  expect(pulls.map((b) => fx.exists(b).binaries)).toEqual([false, false, true]);
  expect(pulls.map((b) => fx.exists(b).docs)).toEqual([false, false, true]);
  expect(fx.exists(other).binaries).toBe(false);
  // Below the per-branch count: kept, however old.
  expect(main.map((b) => fx.exists(b).binaries)).toEqual([true, true]);
  expect(report.removed.filter((r) => r.kind === 'binaries').map((r) => r.why.split(':')[0])).toEqual([
    'pull request #4',
    'pull request #4',
    'pull request #9',
  ]);
  expect(report.problems).toEqual([]);
});

test('a branch named pull gets a pointer of another name; its name comes back', () => {
  expect(encodePointerName('pull')).toBe('%70ull');
  expect(decodePointerName('%70ull')).toBe('pull');
  // Only the exact name: others keep theirs.
  expect(encodePointerName('pulls')).toBe('pulls');
  expect(encodePointerName('pull/1')).toBe('pull%2F1');
});
