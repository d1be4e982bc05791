/**
 * @tier unit
 * liblxc's monitor records as watch() reads them (src/lxc/events.ts): only state changes
 * of well-named containers pass, and records split across reads are put back together.
 */
import { parseMonitorRecord, RecordSplitter } from '../../src/lxc/events';
import { monitorRecord as record } from '../helpers/monitor-record';

test('a state record gives the container, the lxcpath and the state name', () => {
  expect(parseMonitorRecord(record('web-1', 2), '/var/lib/lxc')).toEqual({ container: 'web-1', lxcpath: '/var/lib/lxc', state: 'RUNNING' });
  expect(parseMonitorRecord(record('web', 7), '/x')?.state).toBe('THAWED');
  expect(parseMonitorRecord(record('web', 0), '/x')?.state).toBe('STOPPED');
});

test.each([
  ['a path', record('../../etc', 2)],
  ['a leading dash', record('-rf', 2)],
  ['a space', record('a b', 2)],
  ['a newline', record('a\nb', 2)],
  ['an escape sequence', record('\u001b[2J', 2)],
  ['an empty name', record('', 2)],
  ['an unterminated name', record(Buffer.alloc(256, 'a'), 2)],
  ['a state out of range', record('web', 8)],
  ['a negative state', record('web', -1)],
  ['a priority message', record('web', 2, 1)],
  ['an exit-code message', record('web', 0, 2)],
  ['a short record', record('web', 2).subarray(0, 100)],
])('a record with %s is dropped', (_what, r) => {
  expect(parseMonitorRecord(r, '/x')).toBeNull();
});

test('records split across reads come out whole, in order', () => {
  const bytes = Buffer.concat([record('a', 1), record('b', 2), record('c', 3)]);
  const splitter = new RecordSplitter();
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 100) out.push(...splitter.push(bytes.subarray(i, i + 100)));
  expect(out.map((r) => parseMonitorRecord(r, '/x')?.container)).toEqual(['a', 'b', 'c']);
  expect(splitter.push(Buffer.alloc(0))).toEqual([]);
});
