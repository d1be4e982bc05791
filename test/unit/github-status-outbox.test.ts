/**
 * @tier unit
 * The commit-status outbox on a real server database (migration 3) and the build page's
 * line made from it: a new build status replaces the row and starts it over, the same one
 * changes nothing, a post's outcome is not written over a newer status, and each outcome
 * reads as it should (posted / retrying with the reason / failed with the reason), escaped.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ServerStore } from '../../src/server/server-store';
import { type NewStatus, StatusOutbox } from '../../src/server/status-outbox';
import { statusSection } from '../../src/server/status-section';
import { must } from '../helpers/must';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-status-outbox-'));
const file = path.join(dir, 'server.sqlite');
const store = new ServerStore(file);
const outbox = new StatusOutbox(file);
afterAll(() => {
  outbox.close();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const status = (buildStatus: string, state: NewStatus['state'], description: string): NewStatus => ({
  buildKey: 'k1',
  repo: 'octo/widgets',
  commit: 'c'.repeat(40),
  context: 'lxcts/binaries',
  state,
  description,
  buildStatus,
});
const line = async () => String(await statusSection(outbox, 'k1'));

test('rows: replaced by a new build status only, due in order, outcomes kept only for the status posted', async () => {
  expect(await line()).toBe('');
  expect(outbox.want(status('queued', 'pending', 'queued'), 1000)).toBe(true);
  expect(outbox.want(status('queued', 'pending', 'queued'), 2000)).toBe(false);
  expect(outbox.nextAt()).toBe(1000);
  expect(outbox.due(999)).toBeUndefined();
  const queued = must(outbox.due(1000), 'the due row');
  expect(queued).toMatchObject({ state: 'pending', outcome: 'waiting', attempts: 0, revision: 1 });
  expect(await line()).toContain('waiting to be posted');

  // The build moved on while the pending status was being posted: its outcome is dropped.
  expect(outbox.want(status('success', 'success', 'passed'), 3000)).toBe(true);
  outbox.settle('k1', queued.revision, 'posted', 1, 3500, null);
  expect(outbox.get('k1')).toMatchObject({ state: 'success', outcome: 'waiting', revision: 2 });

  const success = must(outbox.due(4000), 'the success row');
  outbox.settle('k1', success.revision, 'retrying', 1, 60_000, '503: <b>Service Unavailable</b>');
  expect(outbox.due(59_999)).toBeUndefined();
  expect(outbox.nextAt()).toBe(60_000);
  expect(await line()).toContain('retrying (1 failed, next at 1970-01-01T00:01:00.000Z): 503: &lt;b&gt;Service Unavailable&lt;/b&gt;');

  outbox.settle('k1', success.revision, 'failed', 10, 70_000, '422: Validation Failed');
  expect(outbox.due(Number.MAX_SAFE_INTEGER)).toBeUndefined();
  expect(outbox.nextAt()).toBeNull();
  expect(await line()).toContain('failed: 422: Validation Failed');

  outbox.settle('k1', success.revision, 'posted', 11, 80_000, null);
  expect(await line()).toMatch(/GitHub status <code>lxcts\/binaries<\/code> success: posted/);
});
