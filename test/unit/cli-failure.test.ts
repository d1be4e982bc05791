/**
 * @tier unit
 * How the CLI shows a failure (message, code, suggestion, exit status) and its formats,
 * without running a command: the commands' own tests run them against containers.
 */
import { describeFailure, formatFailure } from '../../src/cli/failure';
import { formatBytes, renderTable } from '../../src/cli/format';
import { AbortError, LxcError } from '../../src/lxc/errors';

const lxcError = (code: ConstructorParameters<typeof LxcError>[1]['code'], details: string[] = []) =>
  new LxcError('container "web" is not running', { code, op: 'exec', container: 'web', details });

test('an LxcError keeps its message and code, gets the suggestion for its code, and exits 1', () => {
  expect(describeFailure(lxcError('LXC_NOT_RUNNING'))).toEqual({
    message: 'container "web" is not running',
    code: 'LXC_NOT_RUNNING',
    suggestion: 'lxcts start web',
    details: [],
    exit: 1,
  });
  expect(describeFailure(lxcError('LXC_NOT_DEFINED')).suggestion).toBe('lxcts create web -t busybox, or lxcts list to see what exists');
  expect(describeFailure(lxcError('LXC_TIMEOUT')).suggestion).toBeUndefined();
});

test('an invalid name and a TypeError are usage errors (exit 2); an abort exits 130', () => {
  expect(describeFailure(new LxcError('invalid container name', { code: 'LXC_INVALID_NAME', op: 'new' })).exit).toBe(2);
  expect(describeFailure(new TypeError('Expected a string'))).toEqual({ message: 'Expected a string', code: 'INVALID_ARGUMENT', details: [], exit: 2 });
  expect(describeFailure(new AbortError())).toMatchObject({ code: 'ABORT_ERR', exit: 130 });
});

test('anything else thrown, even a non-Error, is a one-line failure with exit 1', () => {
  expect(describeFailure(Object.assign(new Error('disk full'), { code: 'ENOSPC' }))).toEqual({ message: 'disk full', code: 'ENOSPC', details: [], exit: 1 });
  expect(describeFailure('a string')).toMatchObject({ message: 'a string', exit: 1 });
  expect(describeFailure(undefined)).toMatchObject({ message: 'undefined', exit: 1 });
});

test("a liblxc failure caused by a missing rsync suggests the package, over the code's suggestion", () => {
  const failed = lxcError('LXC_CREATE_FAILED', ['Failed to rsync from "/a" into "/b"']);
  const path = process.env.PATH;
  try {
    process.env.PATH = '/nonexistent';
    expect(describeFailure(failed).suggestion).toContain('apt-get install rsync');
  } finally {
    process.env.PATH = path;
  }
});

test('the human form: Error line, suggestion, and the log lines only with --verbose', () => {
  const failure = describeFailure(lxcError('LXC_START_FAILED', ['line one', 'line two']));
  expect(formatFailure(failure, false)).toBe(
    'Error: container "web" is not running (LXC_START_FAILED)\nTry: the same command with --verbose shows liblxc\'s reasons\n(2 liblxc log lines: --verbose shows them)',
  );
  expect(formatFailure(failure, true).split('\n').slice(-3)).toEqual(['liblxc said:', '  line one', '  line two']);
  expect(formatFailure(describeFailure(new Error('x')), false)).toBe('Error: x (ERROR)');
});

test('sizes in binary units; unknown is a dash', () => {
  expect([0, 1023, 1024, 1536, 5 * 2 ** 20, 3 * 2 ** 40, 2 ** 60].map(formatBytes)).toEqual([
    '0 B',
    '1023 B',
    '1.0 KiB',
    '1.5 KiB',
    '5.0 MiB',
    '3.0 TiB',
    '1048576.0 TiB',
  ]);
  expect(formatBytes(null)).toBe('-');
});

test('tables have no borders and no trailing spaces', () => {
  expect(
    renderTable(
      ['NAME', 'STATE'],
      [
        ['web', 'RUNNING'],
        ['a-much-longer-name', 'STOPPED'],
      ],
    ),
  ).toBe(['NAME                 STATE', 'web                  RUNNING', 'a-much-longer-name   STOPPED'].join('\n'));
});
