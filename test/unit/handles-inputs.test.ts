/**
 * @tier unit
 * What the handles, storage and version calls check before anything reaches the addon:
 * storage options (bdev_specs) and clone hook arguments from a caller, the tools a backend
 * needs, version strings (go-lxc's TestRuntimeLiblxcVersionAtLeast cases), global config
 * keys, and PidFd's one close.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { globalConfigItem, hasApiExtension, lxcVersionAtLeast, parseLxcVersion, versionAtLeast } from '../../src/lxc/liblxc';
import { PidFd } from '../../src/lxc/pidfd';
import { checkStorage, missingBackendTool } from '../../src/lxc/storage';
import { checkConfigPath, checkHookArgs } from '../../src/lxc/validate';
import { failureOf, failureOfSync } from '../helpers/failure';

describe('storage options', () => {
  test('each option becomes the bdev_specs field the lifecycle helper sets', () => {
    const checked = checkStorage({
      fsType: 'xfs',
      fsSize: 512 * 1024 * 1024,
      dir: '/srv/rootfs',
      zfs: { root: 'tank/lxc' },
      lvm: { vg: 'vg0', lv: 'web-1', thinPool: 'pool_0' },
      rbd: { name: 'img.1', pool: 'rbd' },
    });
    expect(checked.args).toEqual([
      'fstype=xfs',
      'fssize=536870912',
      'dir=/srv/rootfs',
      'zfsroot=tank/lxc',
      'vg=vg0',
      'lv=web-1',
      'thinpool=pool_0',
      'rbdname=img.1',
      'rbdpool=rbd',
    ]);
    expect(checked).toMatchObject({ fsType: 'xfs', zfsRoot: 'tank/lxc', vg: 'vg0' });
    expect(checkStorage(undefined).args).toEqual([]);
    expect(checkStorage({ dir: 'relative' }).args).toEqual([`dir=${path.resolve('relative')}`]);
  });

  test.each([
    ['a newline in the rootfs directory', { dir: '/srv/x\nlxc.hook.pre-start = /bin/evil' }],
    ['a space in the rootfs directory', { dir: '/srv/a b' }],
    ['a volume group that is a path', { lvm: { vg: '../etc' } }],
    ['a volume name that is an option', { lvm: { lv: '-rf' } }],
    ['a thin pool with a slash', { lvm: { thinPool: 'a/b' } }],
    ['a ZFS root with the type separator', { zfs: { root: 'tank:evil' } }],
    ['a ZFS root with "..', { zfs: { root: 'tank/../x' } }],
    ['a ZFS root that is absolute', { zfs: { root: '/tank' } }],
    ['a filesystem type with an option', { fsType: 'ext4 -E root_owner' }],
    ['a negative size', { fsSize: -1 }],
    ['a fractional size', { fsSize: 1.5 }],
    ['a size as text', { fsSize: '64M' }],
    ['a NUL in an image name', { rbd: { name: 'a\0b' } }],
    ['not an options object', 'ext4'],
    ['lvm not an object', { lvm: 'vg0' }],
  ])('%s is a TypeError', (_label, storage) => {
    expect(failureOfSync(() => checkStorage(storage))).toBeInstanceOf(TypeError);
  });

  test('a missing tool is named with its Debian package; dir and overlay need none', () => {
    const saved = process.env.PATH;
    process.env.PATH = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-empty-path-'));
    try {
      expect(missingBackendTool('lvm')).toBe('the lvm backend needs `lvcreate`, which is not installed (Debian package lvm2)');
      expect(missingBackendTool('zfs')).toContain('zfsutils-linux');
      expect(missingBackendTool('loop')).toBe('the loop backend makes a ext4 filesystem with `mkfs.ext4`, which is not installed (Debian package e2fsprogs)');
      expect(missingBackendTool('loop', 'xfs')).toContain('xfsprogs');
      expect(missingBackendTool('dir')).toBeUndefined();
      expect(missingBackendTool('overlay')).toBeUndefined();
    } finally {
      fs.rmSync(process.env.PATH, { recursive: true, force: true });
      process.env.PATH = saved;
    }
  });
});

describe('clone hook arguments', () => {
  test('plain words pass; anything a shell reads specially is refused', () => {
    expect(checkHookArgs(['first', '--size=2G', 'a/b:c', 'x@y', '50%', 'a,b'])).toEqual(['first', '--size=2G', 'a/b:c', 'x@y', '50%', 'a,b']);
    for (const bad of [
      'two words',
      '$(id)',
      '${HOME}',
      'a;b',
      'a|b',
      'a&b',
      '`id`',
      "it's",
      '"q"',
      '',
      '*',
      '?',
      '[a]',
      'a\nb',
      'a>b',
      '~root',
      '#c',
      'a\\b',
    ]) {
      expect(failureOfSync(() => checkHookArgs([bad]))).toBeInstanceOf(TypeError);
    }
    expect(failureOfSync(() => checkHookArgs('first'))).toBeInstanceOf(TypeError);
  });
});

describe('host paths written into a config', () => {
  test('are made absolute and refuse newlines and characters liblxc or a template reads specially', () => {
    expect(checkConfigPath('rel', 'storage.dir', 'a rootfs directory')).toBe(path.resolve('rel'));
    for (const bad of ['/a\nb', '/a b', '/a:b', '/a,b', '', '/a\0b']) {
      expect(failureOfSync(() => checkConfigPath(bad, 'storage.dir', 'a rootfs directory'))).toBeInstanceOf(TypeError);
    }
  });
});

describe('versions', () => {
  test('go-lxc TestRuntimeLiblxcVersionAtLeast: releases, devel and distribution builds', () => {
    expect(versionAtLeast('5.0.0', 2, 1, 0)).toBe(true);
    expect(versionAtLeast('5.0.0-devel', 2, 1, 0)).toBe(true);
    expect(versionAtLeast('5.0.0~git2209-g5a7b9ce67-0ubuntu1', 2, 1, 0)).toBe(true);
    expect(versionAtLeast('1.0.0', 2, 1, 0)).toBe(false);
  });

  test('each part counts, in order', () => {
    expect(parseLxcVersion('5.0.2')).toEqual([5, 0, 2]);
    expect(parseLxcVersion('6.0')).toEqual([6, 0, 0]);
    expect(versionAtLeast('5.0.2', 5, 0, 2)).toBe(true);
    expect(versionAtLeast('5.0.2', 5, 0, 3)).toBe(false);
    expect(versionAtLeast('5.0.2', 4, 9, 9)).toBe(true);
    expect(versionAtLeast('5.10.0', 5, 9, 0)).toBe(true);
    expect(versionAtLeast('5.0.2', 5, 1, 0)).toBe(false);
  });

  test('parts that are not non-negative integers are a TypeError', () => {
    for (const bad of [-1, 1.5, NaN, '5']) expect(failureOfSync(() => lxcVersionAtLeast(bad as number))).toBeInstanceOf(TypeError);
    expect(failureOfSync(() => lxcVersionAtLeast(5, -1))).toBeInstanceOf(TypeError);
  });
});

describe('liblxc lookups refuse what is not theirs before asking', () => {
  test('a global config key liblxc does not have is LXC_INVALID_CONFIG_KEY', async () => {
    for (const key of ['lxc.rootfs.path', 'lxc.lxcpath\n', 'lxc.lxcpath\0', '']) {
      expect(await failureOf(globalConfigItem(key as 'lxc.lxcpath'))).toMatchObject({ code: 'LXC_INVALID_CONFIG_KEY', op: 'globalConfigItem' });
    }
    expect(await failureOf(globalConfigItem(5 as unknown as 'lxc.lxcpath'))).toBeInstanceOf(TypeError);
  });

  test('an API extension name that is not a string is a TypeError', () => {
    expect(failureOfSync(() => hasApiExtension(undefined as unknown as string))).toBeInstanceOf(TypeError);
  });
});

describe('PidFd', () => {
  test('closes its descriptor once; later closes do nothing; Symbol.dispose closes it', () => {
    const pidfd = new PidFd(fs.openSync('/dev/null', 'r'));
    const fd = pidfd.fd;
    expect(pidfd.closed).toBe(false);
    pidfd.close();
    expect(failureOfSync(() => fs.fstatSync(fd))).toMatchObject({ code: 'EBADF' });
    expect(pidfd.fd).toBe(-1);
    expect(pidfd.closed).toBe(true);
    // The number may be reused at once: a second close must not touch the new owner's file.
    const reused = fs.openSync('/dev/null', 'r');
    try {
      pidfd.close();
      expect(fs.fstatSync(reused).isCharacterDevice()).toBe(true);
    } finally {
      fs.closeSync(reused);
    }
    const disposed = new PidFd(fs.openSync('/dev/null', 'r'));
    (disposed as unknown as Record<symbol, () => void>)[Symbol.dispose]!();
    expect(disposed.closed).toBe(true);
  });
});
