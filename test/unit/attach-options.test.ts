/**
 * @tier unit
 * exec()'s attach options are checked before anything reaches the addon: names, not
 * numbers, for namespaces and arch (no prototype keys), group ids in range, variable names
 * for envToKeep, and envToKeep read from process.env at the call.
 */
import { checkAttachOptions, keptEnvironment } from '../../src/lxc/attach-options';

test('defaults: every namespace, the container arch, no groups, nothing remounted or elevated', () => {
  expect(checkAttachOptions({})).toEqual({ namespaces: -1, personality: -1, groups: [], remountSysProc: false, elevatedPrivileges: false });
});

test('namespace names become CLONE_NEW* flags', () => {
  expect(checkAttachOptions({ namespaces: ['mount', 'net'] }).namespaces).toBe(0x00020000 | 0x40000000);
  expect(checkAttachOptions({ namespaces: ['pid', 'pid'] }).namespaces).toBe(0x20000000);
});

test('arch names become PER_LINUX32 or PER_LINUX', () => {
  expect(checkAttachOptions({ arch: 'linux32' }).personality).toBe(8);
  expect(checkAttachOptions({ arch: 'i686' }).personality).toBe(8);
  expect(checkAttachOptions({ arch: 'amd64' }).personality).toBe(0);
});

test.each([
  ['namespaces', { namespaces: [] }, /at least one namespace/],
  ['namespaces', { namespaces: ['net; rm -rf /'] }, /Expected one of mount, uts/],
  ['namespaces', { namespaces: ['__proto__'] }, /Expected one of/],
  ['namespaces', { namespaces: ['toString'] }, /Expected one of/],
  ['namespaces', { namespaces: 0x40000000 }, /array of strings/],
  ['namespaces', { namespaces: ['net\0'] }, /without NUL/],
  ['arch', { arch: 'constructor' }, /architecture/],
  ['arch', { arch: 8 }, /architecture .* but received 8/],
  ['arch', { arch: 'sparc' }, /architecture/],
  ['groups', { groups: [-1] }, /group id .* at index 0/],
  ['groups', { groups: [1, 1.5] }, /at index 1/],
  ['groups', { groups: [2 ** 32 - 1] }, /group id/],
  ['groups', { groups: [NaN] }, /group id/],
  ['groups', { groups: ['10'] }, /group id/],
  ['groups', { groups: '10' }, /array of group ids/],
  ['groups', { groups: new Array(65537).fill(1) }, /at most 65536/],
  ['remountSysProc', { remountSysProc: 'yes' }, /remountSysProc/],
  ['elevatedPrivileges', { elevatedPrivileges: 1 }, /elevatedPrivileges/],
])('%s: a hostile or wrong value is refused (%#)', (_what, options, message) => {
  expect(() => checkAttachOptions(options as never)).toThrow(message);
});

test('envToKeep: names with "=", empty names and NULs are refused', () => {
  expect(() => keptEnvironment({ envToKeep: ['A=B'] })).toThrow(/Invalid environment variable name "A=B"/);
  expect(() => keptEnvironment({ envToKeep: [''] })).toThrow(/Invalid environment variable name/);
  expect(() => keptEnvironment({ envToKeep: ['A\0B'] })).toThrow(/without NUL/);
  expect(() => keptEnvironment({ envToKeep: 'PATH' as never })).toThrow(/array of strings/);
});

test('envToKeep takes the values process.env has at the call, and leaves out unset names', () => {
  process.env.LXCTS_UNIT_KEEP = 'one';
  delete process.env.LXCTS_UNIT_UNSET;
  try {
    expect(keptEnvironment({ envToKeep: ['LXCTS_UNIT_KEEP', 'LXCTS_UNIT_UNSET'] })).toEqual(['LXCTS_UNIT_KEEP=one']);
    process.env.LXCTS_UNIT_KEEP = 'two';
    expect(keptEnvironment({ envToKeep: ['LXCTS_UNIT_KEEP'] })).toEqual(['LXCTS_UNIT_KEEP=two']);
  } finally {
    delete process.env.LXCTS_UNIT_KEEP;
  }
});
