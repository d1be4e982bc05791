/**
 * @tier unit
 * Where a build came from: commit subject and author read from git (hostile ones made one
 * bounded, printable line), who pushed, carried from the builder's record into its events,
 * checked again by the server's event schema; and the ref that triggered it as a label.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BuildEvent } from '../../src/ci/build-events';
import { Builder } from '../../src/ci/builder';
import { MAX_PERSON, MAX_SUBJECT, oneLine, refLabel } from '../../src/ci/commit-info';
import { openDataDir } from '../../src/ci/data-dir';
import { readCommitInfo } from '../../src/ci/git';
import { BuildStore } from '../../src/ci/store';
import { buildEventWireSchema } from '../../src/server/event-wire';
import { FakeRuntime } from '../helpers/fake-environment';
import { at, must } from '../helpers/must';
import { TestRepo } from '../helpers/repo';
import { buildEvents } from '../helpers/server-events';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-commit-info-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const HOSTILE_SUBJECT = '<script>alert(1)</script> fix\x1b[2J\rwith \u202egnp.exe\u202c and a tab\there';

test('oneLine: control characters, bidi overrides and line breaks become single spaces; long text is cut with …', () => {
  expect(oneLine(HOSTILE_SUBJECT, MAX_SUBJECT)).toBe('<script>alert(1)</script> fix [2J with gnp.exe and a tab here');
  expect(oneLine('a\u2028b\u0085c\u200bd', 100)).toBe('a b c d');
  const long = oneLine('é'.repeat(500), MAX_SUBJECT);
  expect([...long]).toHaveLength(MAX_SUBJECT);
  expect(long.endsWith('…')).toBe(true);
  // Code points, not UTF-16 units: an emoji is never cut in half.
  expect(oneLine('😀'.repeat(10), 5)).toBe('😀😀😀😀…');
});

test.each([
  ['refs/heads/main', 'branch main'],
  ['refs/heads/feature/x', 'branch feature/x'],
  ['refs/tags/v1.0', 'tag v1.0'],
  ['refs/pull/12/head', 'head of #12'],
  ['refs/pull/12/merge', 'merge of #12'],
  ['refs/notes/x', 'refs/notes/x'],
  [null, 'commit'],
])('refLabel(%p) is %p', (ref, label) => {
  expect(refLabel(ref)).toBe(label);
});

test('readCommitInfo reads subject and author of the exact commit, made safe; a missing commit is an error', async () => {
  const repo = TestRepo.create(path.join(tmp, 'hostile'));
  fs.writeFileSync(path.join(tmp, 'message'), `${HOSTILE_SUBJECT}\n\nbody line that is not the subject\n`);
  repo.git('commit', '-q', '--allow-empty', '-F', path.join(tmp, 'message'));
  const hostile = repo.git('rev-parse', 'HEAD');
  const plain = repo.commit('second commit');
  const mirror = path.join(repo.dir, '.git');
  const info = await readCommitInfo(mirror, hostile);
  expect(info).toEqual({ subject: oneLine(HOSTILE_SUBJECT, MAX_SUBJECT), author: 'lxcts tests' });
  // eslint-disable-next-line no-control-regex -- what must not be left
  expect(info.subject).not.toMatch(/[\u0000-\u001f\u202e]/u);
  expect(await readCommitInfo(mirror, plain)).toEqual({ subject: 'second commit', author: 'lxcts tests' });
  await expect(readCommitInfo(mirror, 'f'.repeat(40))).rejects.toThrow(/git log failed/);
  await expect(readCommitInfo(mirror, '--output=/tmp/x')).rejects.toThrow(/not a full commit id/);
});

test("the builder records the commit's subject and author and the pusher, and its events carry them", async () => {
  const repo = TestRepo.create(path.join(tmp, 'built'), 'base: fake-base\njobs:\n  binaries:\n    steps: [make]\n');
  repo.commit('<b>bold</b> subject');
  const data = openDataDir(path.join(tmp, 'data'));
  const store = new BuildStore(':memory:');
  try {
    const workspace = fs.mkdtempSync(path.join(tmp, 'workspace-'));
    const builder = new Builder(data, store, { sources: { allowLocal: 'any', allowPrivateHosts: false }, runtime: new FakeRuntime({ workspace }) });
    const events: BuildEvent[] = [];
    const [result] = await builder.build({ source: repo.dir, pusher: `mallory\n${'x'.repeat(300)}`, onEvent: (e) => events.push(e) });
    const record = must(store.get(must(result, 'a result').buildId), 'the record');
    expect(record).toMatchObject({ subject: '<b>bold</b> subject', author: 'lxcts tests', ref: 'refs/heads/main' });
    expect(record.pusher).toBe(oneLine(`mallory\n${'x'.repeat(300)}`, MAX_PERSON));
    expect(events.map((e) => [e.type, e.build.subject, e.build.pusher])).toContainEqual(['finished', '<b>bold</b> subject', record.pusher]);
  } finally {
    store.close();
  }
});

/** A synthetic event with its record's fields replaced. */
function eventWith(fields: Record<string, unknown>): unknown {
  const event = JSON.parse(at(buildEvents({ id: 1 }).events, 0)) as { build: Record<string, unknown> };
  return { ...event, build: { ...event.build, ...fields } };
}

test("the server's event schema cleans and bounds subject, author and pusher, and refuses what is no ref", () => {
  const parsed = buildEventWireSchema.parse(eventWith({ subject: HOSTILE_SUBJECT, author: 'eve\x07', pusher: `p${'q'.repeat(150)}` }));
  expect(parsed.build.subject).toBe(oneLine(HOSTILE_SUBJECT, MAX_SUBJECT));
  expect(parsed.build.author).toBe('eve');
  expect([...(parsed.build.pusher ?? '')]).toHaveLength(MAX_PERSON);
  // Older workers send none of them.
  expect(buildEventWireSchema.parse(eventWith({})).build).toMatchObject({ subject: null, author: null, pusher: null });
  expect(buildEventWireSchema.safeParse(eventWith({ subject: 'x'.repeat(MAX_SUBJECT * 4 + 1) })).success).toBe(false);
  expect(buildEventWireSchema.safeParse(eventWith({ author: 42 })).success).toBe(false);
  expect(buildEventWireSchema.safeParse(eventWith({ ref: 'refs/heads/a b' })).success).toBe(false);
  expect(buildEventWireSchema.safeParse(eventWith({ ref: 'refs/tags/v1.0' })).success).toBe(true);
});
