/**
 * @tier unit
 * Branch pointers on a temporary directory: atomic symlinks with a record beside them,
 * moving forward only (or on a forced push), never back for an older build.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { fetchMirror, identify } from '../../src/ci/git';
import { BuildStore } from '../../src/ci/store';
import { decodePointerName, encodePointerName } from '../../src/ci/pointer-name';
import { movePointer, PointerMove, readPointerRecord } from '../../src/ci/pointers';
import { failureOfSync } from '../helpers/failure';
import { TestRepo } from '../helpers/repo';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-pointers-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let mirror: string;
let base: string;
let child: string;
let sibling: string;

beforeAll(async () => {
  const repo = TestRepo.create(path.join(tmp, 'repo'));
  base = repo.git('rev-parse', 'HEAD');
  child = repo.commit('child');
  repo.git('checkout', '-q', '-b', 'other', base);
  sibling = repo.commit('sibling');
  const store = new BuildStore(':memory:');
  try {
    mirror = await fetchMirror(path.join(tmp, 'mirrors'), identify(repo.dir), { allowLocal: 'any', allowPrivateHosts: false }, (name, fn) =>
      store.withLock(name, fn),
    );
  } finally {
    store.close();
  }
});

let seq = 0;
function pointerDir(): string {
  const dir = path.join(tmp, `pointers-${seq++}`);
  fs.mkdirSync(dir);
  return dir;
}

const move = (dir: string, commit: string, requestedAt: number, forced = false) =>
  movePointer({
    dir,
    branch: 'feature/x',
    target: commit,
    commit,
    requestedAt,
    buildId: requestedAt,
    forced,
    mirror,
    commitOfTarget: (t) => t,
  } satisfies PointerMove);

test('the first build sets the pointer and its record; a descendant moves it forward', async () => {
  const dir = pointerDir();
  expect(await move(dir, base, 1)).toEqual({ moved: true, previous: null });
  expect(fs.readlinkSync(path.join(dir, 'feature%2Fx'))).toBe(base);
  expect(readPointerRecord(dir, 'feature/x')).toEqual({ commit: base, requestedAt: 1, buildId: 1 });
  expect(await move(dir, child, 2)).toEqual({ moved: true, previous: base });
  // Nothing but the pointer and its record is left behind (no temporary files).
  expect(fs.readdirSync(dir).sort()).toEqual(['.feature%2Fx.pointer', 'feature%2Fx']);
});

test('an older build that finishes late does not move the pointer back, forced or not', async () => {
  const dir = pointerDir();
  await move(dir, child, 10);
  for (const forced of [false, true]) {
    const outcome = await move(dir, base, 5, forced);
    expect(outcome).toMatchObject({ moved: false });
    expect(fs.readlinkSync(path.join(dir, 'feature%2Fx'))).toBe(child);
  }
});

test('a commit that does not descend from the current one moves it only on a forced push', async () => {
  const dir = pointerDir();
  await move(dir, child, 1);
  expect(await move(dir, sibling, 2)).toEqual({ moved: false, why: expect.stringContaining('does not descend') });
  expect(await move(dir, sibling, 3, true)).toEqual({ moved: true, previous: child });
});

test('a corrupt record is treated as no record: the target decides', async () => {
  const dir = pointerDir();
  await move(dir, base, 100);
  fs.writeFileSync(path.join(dir, '.feature%2Fx.pointer'), '{"commit": 5');
  expect(readPointerRecord(dir, 'feature/x')).toBeNull();
  expect(await move(dir, child, 1)).toEqual({ moved: true, previous: base });
});

test('branch names become one reversible path component that never starts with a dot', () => {
  for (const branch of ['main', 'feature/x', 'feature-x', '../../etc', '.hidden', 'a%2Fb', 'ünï/cødé', 'a\nb', 'a'.repeat(40), 'f'.repeat(40)]) {
    const name = encodePointerName(branch);
    expect(name).not.toMatch(/[/\0\n]|^\./);
    expect(name).not.toMatch(/^[0-9a-f]{40}$/);
    expect(decodePointerName(name)).toBe(branch);
  }
  expect(encodePointerName('feature/x')).not.toBe(encodePointerName('feature-x'));
  expect(failureOfSync(() => encodePointerName(''))).toMatchObject({ code: 'USER_FAILURE' });
  expect(failureOfSync(() => encodePointerName('x'.repeat(241)))).toMatchObject({ code: 'USER_FAILURE' });
  for (const bad of ['.x', 'a/b', '%2f', '%FF', '']) expect(() => decodePointerName(bad)).toThrow('not a pointer name');
});
