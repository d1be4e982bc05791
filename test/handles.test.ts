/**
 * Handles and config, lifecycle extras, create and clone options, version checks and the
 * list of Container objects, against real liblxc and real containers: go-lxc's lxc_test.go
 * (TestConfigFileName, TestDefaultConfigPath, TestLoadConfigFile, TestControllable,
 * TestContainers..., TestDestroyAllSnapshots, TestSupportedConfigItems) and python3-lxc's
 * api_test.py (config_file_name, clone then rename, start and destroy the renamed one),
 * ported, plus what neither checks (comments read back, pidfds owned, hostile input).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container, containers, defaultLxcpath, globalConfigItem, hasApiExtension, listContainers, lxcVersion, lxcVersionAtLeast } from '../src';
import { parseLxcVersion } from '../src/lxc/liblxc';
import { backendProblem, missingBackendTool } from '../src/lxc/storage';
import { fdCount, processesMatching } from './helpers/procfs';
import { lxcts } from './helpers/cli';
import { at } from './helpers/must';
import { waitFor } from './helpers/wait';
import { containersIn, destroyWithTools } from './helpers/lxc-tools';
import { failureOf, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('handles');
let origin: Container;

beforeAll(async () => {
  origin = await sandbox.busybox(sandbox.name('handles-origin'));
});
afterAll(() => sandbox.cleanup());

const configOf = (name: string) => fs.readFileSync(path.join(sandbox.lxcpath, name, 'config'), 'utf8');
const MiB = 1024 * 1024;

describe('handles and config', () => {
  test("configFileName and configPath name the container's config file and lxcpath (go-lxc TestConfigFileName, TestDefaultConfigPath)", async () => {
    expect(await origin.configFileName()).toBe(path.join(sandbox.lxcpath, origin.name, 'config'));
    expect(await origin.configPath()).toBe(sandbox.lxcpath);
    const byDefault = new Container('handles-nowhere');
    try {
      const lxcpath = await defaultLxcpath();
      expect(await byDefault.configPath()).toBe(lxcpath);
      expect(await byDefault.configFileName()).toBe(path.join(lxcpath, 'handles-nowhere', 'config'));
    } finally {
      await byDefault.release();
    }
  });

  test('clearConfig empties the in-memory config and loadConfig reads a file into it (go-lxc TestLoadConfigFile)', async () => {
    const c = new Container(origin.name, { lxcpath: sandbox.lxcpath });
    try {
      expect(await c.getConfigItem('lxc.uts.name')).toBe(origin.name);
      await c.clearConfig();
      expect(await c.getConfigItem('lxc.uts.name')).toBe('');
      await c.loadConfig(await c.configFileName());
      expect(await c.getConfigItem('lxc.uts.name')).toBe(origin.name);
      // On top of what is there: a second file adds its keys.
      const extra = path.join(sandbox.lxcpath, 'extra.conf');
      fs.writeFileSync(extra, 'lxc.environment = HANDLES=loaded\n');
      await c.loadConfig(extra);
      expect(await c.getConfigItem('lxc.environment')).toContain('HANDLES=loaded');
      expect(await c.getConfigItem('lxc.uts.name')).toBe(origin.name);
      // The file on disk is untouched until saveConfig().
      expect(configOf(origin.name)).not.toContain('HANDLES=loaded');
    } finally {
      await c.release();
    }
  });

  test('loadConfig fails with LXC_CONFIG_FAILED on a missing or unparsable file, and refuses NUL', async () => {
    const c = new Container(origin.name, { lxcpath: sandbox.lxcpath });
    try {
      expect((await failureOf(c.loadConfig(path.join(sandbox.lxcpath, 'no-such.conf')))).code).toBe('LXC_CONFIG_FAILED');
      const bad = path.join(sandbox.lxcpath, 'bad.conf');
      fs.writeFileSync(bad, 'lxc.no.such.key = 1\n');
      const failure = await failureOf(c.loadConfig(bad));
      expect(failure.code).toBe('LXC_CONFIG_FAILED');
      expect((failure.details as string[]).join('\n')).toContain('lxc.no.such.key');
      expect(await failureOf(c.loadConfig('/etc/passwd\0x'))).toBeInstanceOf(TypeError);
      expect(await failureOf(c.loadConfig(''))).toBeInstanceOf(TypeError);
    } finally {
      await c.release();
    }
  });

  test('controllable is true for root, on a defined and on an undefined container (go-lxc TestControllable)', async () => {
    expect(await origin.controllable()).toBe(true);
    const missing = sandbox.container();
    expect(await missing.controllable()).toBe(true);
  });

  test('global config items come from liblxc: the default lxcpath, and its defaults for LVM and ZFS', async () => {
    expect(await globalConfigItem('lxc.lxcpath')).toBe(await defaultLxcpath());
    expect(await globalConfigItem('lxc.default_config')).toMatch(/^\/.*default\.conf$/);
    expect(await globalConfigItem('lxc.bdev.lvm.vg')).toBe('lxc');
    expect(await globalConfigItem('lxc.bdev.zfs.root')).toBe('lxc');
    expect((await failureOf(globalConfigItem('lxc.rootfs.path' as 'lxc.lxcpath'))).code).toBe('LXC_INVALID_CONFIG_KEY');
    expect((await failureOf(globalConfigItem('lxc.lxcpath\n' as 'lxc.lxcpath'))).code).toBe('LXC_INVALID_CONFIG_KEY');
  });

  test('a monitor timeout is set where liblxc has one (6.0) and refused, naming the version, where it has not', async () => {
    if (lxcVersionAtLeast(6)) {
      await origin.setMonitorTimeout(5);
    } else {
      const failure = await failureOf(origin.setMonitorTimeout(5));
      expect(failure.code).toBe('LXC_UNSUPPORTED');
      expect(failure.message).toContain(lxcVersion());
      expect(failure.message).toContain('6.0');
    }
    expect(await failureOf(origin.setMonitorTimeout(-1))).toBeInstanceOf(TypeError);
  });
});

describe('version checks and lists', () => {
  test('lxcVersionAtLeast compares with the running liblxc (go-lxc TestSupportedConfigItems gates on it)', () => {
    const [major, minor, micro] = parseLxcVersion(lxcVersion());
    expect(lxcVersionAtLeast(major, minor, micro)).toBe(true);
    expect(lxcVersionAtLeast(major, minor, micro + 1)).toBe(false);
    expect(lxcVersionAtLeast(major + 1)).toBe(false);
    expect(lxcVersionAtLeast(2, 1)).toBe(true);
  });

  test("hasApiExtension knows liblxc's extensions and nothing else", () => {
    expect(hasApiExtension('lxc_log')).toBe(true);
    expect(hasApiExtension('pidfd')).toBe(true);
    expect(hasApiExtension('handles_no_such_extension')).toBe(false);
    expect(hasApiExtension('lxc_log\0')).toBe(false);
  });

  test('containers() gives working Container objects for the names listContainers() gives (go-lxc TestContainers, TestDefinedContainers)', async () => {
    const list = await containers({ lxcpath: sandbox.lxcpath, which: 'defined' });
    try {
      expect(list.map((c) => c.name)).toEqual(await listContainers({ lxcpath: sandbox.lxcpath, which: 'defined' }));
      expect(list.map((c) => c.name)).toContain(origin.name);
      for (const c of list) {
        expect(c.lxcpath).toBe(sandbox.lxcpath);
        expect(await c.defined()).toBe(true);
      }
      expect(await containers({ lxcpath: sandbox.lxcpath, which: 'active' })).toEqual([]);
    } finally {
      await Promise.all(list.map((c) => c.release()));
    }
  });
});

describe('lifecycle', () => {
  test('rename moves a stopped container to the new name, which then starts (python3-lxc api_test: clone, rename, start, destroy)', async () => {
    const clone = await origin.clone(sandbox.name('handles-ren'));
    const newName = sandbox.name('handles-renamed');
    const renamed = await clone.rename(newName);
    try {
      expect(renamed.name).toBe(newName);
      expect(await clone.defined()).toBe(false);
      expect(await renamed.defined()).toBe(true);
      expect(await renamed.getConfigItem('lxc.uts.name')).toBe(newName);
      expect(await renamed.getConfigItem('lxc.rootfs.path')).toContain(path.join(sandbox.lxcpath, newName));
      expect(fs.existsSync(path.join(sandbox.lxcpath, clone.name))).toBe(false);
      await renamed.start();
      expect((await renamed.exec(['hostname'])).stdout.toString().trim()).toBe(newName);
      expect((await failureOf(renamed.rename(sandbox.name('handles-hot')))).code).toBe('LXC_RUNNING');
      await renamed.stop();
      await renamed.destroy();
    } finally {
      await Promise.all([clone.release(), renamed.release()]);
    }
  });

  test('rename refuses a missing container, a taken name, a hostile name and a container with snapshots', async () => {
    const other = await origin.clone(sandbox.name('handles-taken'));
    try {
      expect((await failureOf(sandbox.container().rename(sandbox.name('x')))).code).toBe('LXC_NOT_DEFINED');
      expect((await failureOf(other.rename(origin.name))).code).toBe('LXC_ALREADY_DEFINED');
      expect((await failureOf(other.rename(other.name))).code).toBe('LXC_ALREADY_DEFINED');
      for (const bad of ['../escape', '-n', 'a b', 'a\nlxc.hook.pre-start=/x']) {
        expect((await failureOf(other.rename(bad))).code).toBe('LXC_INVALID_NAME');
      }
      await other.snapshot();
      expect((await failureOf(other.rename(sandbox.name('x')))).code).toBe('LXC_HAS_SNAPSHOTS');
      expect(await other.defined()).toBe(true);
      await other.destroy({ withSnapshots: true });
    } finally {
      await other.release();
    }
  });

  test('lxcts rename: the command renames, says so, and fails saying why', async () => {
    const name = (await origin.clone(sandbox.name('handles-cli'))).name;
    const newName = sandbox.name('handles-cli-new');
    expect(lxcts(sandbox.lxcpath, ['rename', name, newName, '--json']).json()).toEqual({ name, newName });
    expect(fs.existsSync(path.join(sandbox.lxcpath, newName, 'config'))).toBe(true);
    expect(fs.existsSync(path.join(sandbox.lxcpath, name))).toBe(false);
    const again = lxcts(sandbox.lxcpath, ['rename', name, sandbox.name('x')]);
    expect(again.status).not.toBe(0);
    expect(again.stderr).toContain('does not exist');
  });

  test('a rename whose helper is killed while rsync copies fails, keeps the original, and the next call clears the half-made copy', async () => {
    const source = await origin.clone(sandbox.name('handles-kr'));
    const target = sandbox.name('handles-krt');
    const targetDir = path.join(sandbox.lxcpath, target);
    // Enough for rsync to take seconds.
    execFileSync('fallocate', ['-l', '1G', path.join(sandbox.lxcpath, source.name, 'rootfs', 'big')]);
    try {
      const renaming = failureOf(source.rename(target));
      const rsyncs = () => processesMatching(targetDir).filter((pid) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'rsync');
      await waitFor(() => rsyncs().length > 0, 'rsync copying the renamed rootfs', { seconds: 30 });
      const helpers = processesMatching(`lxcts-lifecycle ${process.pid} rename ${source.name} `);
      expect(helpers).toHaveLength(1);
      process.kill(at(helpers, 0), 'SIGKILL');
      expect((await renaming).code).toBe('LXC_RENAME_FAILED');
      await waitFor(() => processesMatching(targetDir).length === 0, 'rsync to die with the helper', { seconds: 5 });
      expect(await source.defined()).toBe(true);
      expect(fs.existsSync(path.join(targetDir, 'partial'))).toBe(true);
      // The next call on the new name removes what the killed rename left; then it works.
      const half = sandbox.container(target);
      expect(await half.defined()).toBe(false);
      expect(fs.existsSync(targetDir)).toBe(false);
      const renamed = await source.rename(target);
      expect(fs.statSync(path.join(targetDir, 'rootfs', 'big')).size).toBe(1024 * 1024 * 1024);
      await renamed.destroy();
      await renamed.release();
    } finally {
      await source.release();
    }
  }, 120_000);

  test('snapshot comments are stored and read back; destroyAllSnapshots keeps the container (go-lxc TestDestroyAllSnapshots)', async () => {
    const c = await origin.clone(sandbox.name('handles-snaps'));
    try {
      await c.destroyAllSnapshots(); // none yet: nothing to do, no failure
      const comment = 'before the upgrade\nsecond line: ünïcode';
      expect(await c.snapshot({ comment })).toBe('snap0');
      expect(await c.snapshot()).toBe('snap1');
      const list = await c.snapshots();
      expect(list.map((s) => [s.name, s.comment])).toEqual([
        ['snap0', comment],
        ['snap1', null],
      ]);
      expect(fs.readFileSync(list[0]!.commentPath, 'utf8')).toBe(comment);
      await c.destroyAllSnapshots();
      expect(await c.snapshots()).toEqual([]);
      expect(await c.defined()).toBe(true);
      expect(fs.existsSync(path.join(sandbox.lxcpath, c.name, 'rootfs', 'bin', 'busybox'))).toBe(true);
      expect(await failureOf(c.snapshot({ comment: 'a\0b' }))).toBeInstanceOf(TypeError);
      expect(await failureOf(c.snapshot({ comment: 'x'.repeat(64 * 1024 + 1) }))).toBeInstanceOf(TypeError);
      await c.destroy();
      expect((await failureOf(c.destroyAllSnapshots())).code).toBe('LXC_NOT_DEFINED');
    } finally {
      await c.release();
    }
  });

  test('initPidFd gives a pidfd for the init that the caller owns and closes once', async () => {
    const c = await origin.clone(sandbox.name('handles-pidfd'), { snapshot: true, backend: 'overlay' });
    try {
      expect((await failureOf(c.initPidFd())).code).toBe('LXC_NOT_RUNNING');
      await c.start();
      const pid = await c.initPid();
      const before = fdCount();
      for (let i = 0; i < 20; i++) {
        const pidfd = await c.initPidFd();
        expect(fs.readlinkSync(`/proc/self/fd/${pidfd.fd}`)).toBe('anon_inode:[pidfd]');
        expect(fs.readFileSync(`/proc/self/fdinfo/${pidfd.fd}`, 'utf8')).toMatch(new RegExp(`^Pid:\\s+${pid}$`, 'm'));
        // close-on-exec: a child this process spawns does not get it.
        const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${pidfd.fd}`, 'utf8'))?.[1] ?? '0', 8);
        expect(flags & 0o2000000).toBe(0o2000000); // O_CLOEXEC
        pidfd.close();
        pidfd.close();
        expect(pidfd.closed).toBe(true);
        expect(pidfd.fd).toBe(-1);
      }
      expect(fdCount()).toBe(before);
      // Symbol.dispose closes it too (what `using` calls).
      const disposed = await c.initPidFd();
      (disposed as unknown as Record<symbol, () => void>)[Symbol.dispose]!();
      expect(disposed.closed).toBe(true);
      await c.stop();
      await c.destroy();
    } finally {
      await c.release();
    }
  });
});

describe('create and clone options', () => {
  test('a loop rootfs gets the filesystem type and size asked for, and a clone the new size', async () => {
    const c = sandbox.container(sandbox.name('handles-loop'));
    await c.clearConfigItem('lxc.net');
    await c.setConfigItem('lxc.net.0.type', 'empty');
    await c.create({ template: 'busybox', backend: 'loop', storage: { fsType: 'ext3', fsSize: 64 * MiB } });
    const image = path.join(sandbox.lxcpath, c.name, 'rootdev');
    expect(configOf(c.name)).toContain(`\nlxc.rootfs.path = loop:${image}\n`);
    // liblxc makes the image by writing a byte at the size: 64 MiB + 1 (the default is 1 GiB).
    const sizeOf = (file: string) => Math.floor(fs.statSync(file).size / MiB);
    expect(sizeOf(image)).toBe(64);
    // The default would be ext4: ext3 shows the option reached mkfs.
    expect(execFileSync('blkid', ['-o', 'value', '-s', 'TYPE', image], { encoding: 'utf8' }).trim()).toBe('ext3');
    const bigger = await c.clone(sandbox.name('handles-loop2'), { newSize: 96 * MiB });
    expect(sizeOf(path.join(sandbox.lxcpath, bigger.name, 'rootdev'))).toBe(96);
    await bigger.destroy();
    await c.destroy();
  });

  test('a dir rootfs goes where storage.dir says', async () => {
    const c = sandbox.container(sandbox.name('handles-dir'));
    const rootfs = path.join(sandbox.lxcpath, 'elsewhere-rootfs');
    await c.clearConfigItem('lxc.net');
    await c.setConfigItem('lxc.net.0.type', 'empty');
    await c.create({ template: 'busybox', storage: { dir: rootfs } });
    expect(configOf(c.name)).toContain(`\nlxc.rootfs.path = dir:${rootfs}\n`);
    expect(fs.existsSync(path.join(rootfs, 'bin', 'busybox'))).toBe(true);
    expect(fs.existsSync(path.join(sandbox.lxcpath, c.name, 'rootfs', 'bin'))).toBe(false);
    await c.destroy();
  });

  test('hostile storage options never reach liblxc: newlines in paths, option-like and path-like names', async () => {
    const c = sandbox.container();
    const bad = [
      { dir: `${sandbox.lxcpath}/x\nlxc.hook.pre-start = /bin/evil` },
      { lvm: { vg: '../etc' } },
      { lvm: { lv: '-rf' } },
      { zfs: { root: 'tank:evil' } },
      { fsType: 'ext4 -E root_owner' },
      { fsSize: -1 },
    ];
    for (const storage of bad) expect(await failureOf(c.create({ template: 'busybox', backend: 'loop', storage }))).toBeInstanceOf(TypeError);
    expect(await c.defined()).toBe(false);
    expect(await failureOf(origin.clone(sandbox.name('x'), { newSize: 1.5 }))).toBeInstanceOf(TypeError);
    expect(await failureOf(origin.clone(sandbox.name('x'), { hookArgs: ['a\0b'] }))).toBeInstanceOf(TypeError);
  });

  test('clone keepName keeps the hostname and keepMac the MAC addresses; without them both are new', async () => {
    // The clone starts from the source's in-memory config: a veth with a fixed address.
    const source = new Container(origin.name, { lxcpath: sandbox.lxcpath });
    const made: Container[] = [];
    try {
      await source.clearConfigItem('lxc.net');
      await source.setConfigItem('lxc.net.0.type', 'veth');
      await source.setConfigItem('lxc.net.0.link', 'handles-nobr');
      await source.setConfigItem('lxc.net.0.hwaddr', '00:16:3e:12:34:56');
      const kept = await source.clone(sandbox.name('handles-kept'), { snapshot: true, backend: 'overlay', keepName: true, keepMac: true });
      const fresh = await source.clone(sandbox.name('handles-fresh'), { snapshot: true, backend: 'overlay' });
      made.push(kept, fresh);
      expect(await kept.getConfigItem('lxc.uts.name')).toBe(origin.name);
      expect(await kept.getConfigItem('lxc.net.0.hwaddr')).toBe('00:16:3e:12:34:56');
      expect(await fresh.getConfigItem('lxc.uts.name')).toBe(fresh.name);
      expect(await fresh.getConfigItem('lxc.net.0.hwaddr')).toMatch(/^00:16:3e:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
      expect(await fresh.getConfigItem('lxc.net.0.hwaddr')).not.toBe('00:16:3e:12:34:56');
    } finally {
      await source.release();
      for (const c of made) await c.destroy().finally(() => c.release());
    }
  });

  test("clone hook arguments reach the lxc.hook.clone script after liblxc's own; ones its shell would read are refused", async () => {
    const out = path.join(sandbox.lxcpath, 'hook-args.txt');
    const hook = path.join(sandbox.lxcpath, 'clone-hook.sh');
    fs.writeFileSync(hook, `#!/bin/sh\nprintf '%s\\n' "$@" > ${out}\n`, { mode: 0o755 });
    const source = new Container(origin.name, { lxcpath: sandbox.lxcpath });
    try {
      await source.setConfigItem('lxc.hook.clone', hook);
      const clone = await source.clone(sandbox.name('handles-hooked'), { snapshot: true, backend: 'overlay', hookArgs: ['first', '--second=2', 'x/y:z'] });
      expect(fs.readFileSync(out, 'utf8').split('\n').slice(-4, -1)).toEqual(['first', '--second=2', 'x/y:z']);
      // liblxc runs hooks through `sh -c` with the arguments unquoted: these would be split or run.
      for (const bad of ['two words', '$(touch /tmp/pwned)', 'a;b', '`id`', "it's", '', '*', 'a\nb']) {
        expect(await failureOf(source.clone(sandbox.name('x'), { hookArgs: [bad] }))).toBeInstanceOf(TypeError);
      }
      await clone.destroy();
      await clone.release();
    } finally {
      await source.release();
    }
  });
});

/**
 * LVM and ZFS need a tool and a volume group or pool; btrfs an lxcpath on btrfs, which the
 * test makes itself (a loop-mounted image) where btrfs-progs is installed. Where this
 * machine lacks one, the real test is skipped with the reason in its name, and the call's
 * error is checked to name what is missing instead.
 */
const BTRFS_MAGIC = 0x9123683e;
function zfsProblem(): string | undefined {
  const tool = missingBackendTool('zfs');
  if (tool) return tool;
  const found = spawnSync('zfs', ['list', '-H', '-o', 'name', 'lxc']).status === 0;
  return found ? undefined : 'no ZFS dataset "lxc" (lxc.bdev.zfs.root)';
}
const machineLacks = {
  lvm: missingBackendTool('lvm') ?? (spawnSync('vgs', ['lxc']).status === 0 ? undefined : 'no LVM volume group "lxc" (lxc.bdev.lvm.vg)'),
  zfs: zfsProblem(),
};

async function busyboxOn(backend: string, lxcpath = sandbox.lxcpath): Promise<Container> {
  const c = new Container(sandbox.name(`handles-${backend}`), { lxcpath });
  await c.clearConfigItem('lxc.net');
  await c.setConfigItem('lxc.net.0.type', 'empty');
  return c;
}

describe.each([
  { backend: 'lvm' as const, prefix: 'lvm:/dev/' },
  { backend: 'zfs' as const, prefix: 'zfs:' },
])('the $backend backend', ({ backend, prefix }) => {
  const lacks = machineLacks[backend];

  (lacks === undefined ? test : test.skip)(`create makes the rootfs on ${backend}${lacks ? ` (skipped: ${lacks})` : ''}`, async () => {
    const c = await busyboxOn(backend);
    try {
      await c.create({ template: 'busybox', backend });
      expect(configOf(c.name)).toContain(`\nlxc.rootfs.path = ${prefix}`);
      await c.destroy();
    } finally {
      await c.release();
    }
  });

  (lacks !== undefined ? test : test.skip)(`create fails with LXC_BACKEND_UNAVAILABLE naming what ${backend} lacks here`, async () => {
    const c = await busyboxOn(backend);
    try {
      const failure = await failureOf(c.create({ template: 'busybox', backend }));
      expect(failure.code).toBe('LXC_BACKEND_UNAVAILABLE');
      expect(failure.message).toMatch(backend === 'lvm' ? /lvcreate|volume group/ : /`zfs`|dataset/);
      expect(failure.message).toContain(await backendProblem(backend, sandbox.lxcpath));
      expect(await c.defined()).toBe(false);
      expect(sandbox.leftovers()).not.toContain(c.name);
    } finally {
      await c.release();
    }
  });
});

describe('the btrfs backend', () => {
  const mkfsMissing = missingBackendTool('loop', 'btrfs');
  const btrfsLxcpath = path.join(sandbox.lxcpath, 'btrfs');
  let mounted = false;

  beforeAll(() => {
    if (mkfsMissing) return;
    const image = path.join(sandbox.lxcpath, 'btrfs.img');
    fs.writeFileSync(image, '');
    fs.truncateSync(image, 256 * MiB);
    execFileSync('mkfs.btrfs', ['-q', image]);
    fs.mkdirSync(btrfsLxcpath);
    execFileSync('mount', ['-o', 'loop', image, btrfsLxcpath]);
    mounted = true;
  });
  afterAll(() => {
    if (!mounted) return;
    // Before the sandbox's cleanup, which removes the lxcpath's tree: not through a mount.
    for (const name of containersIn(btrfsLxcpath)) destroyWithTools(btrfsLxcpath, name);
    execFileSync('umount', [btrfsLxcpath]);
  });

  (mkfsMissing === undefined ? test : test.skip)(
    `create makes the rootfs a btrfs subvolume and a snapshot clone a btrfs snapshot, which runs${mkfsMissing ? ` (skipped: ${mkfsMissing})` : ''}`,
    async () => {
      const c = await busyboxOn('btrfs', btrfsLxcpath);
      try {
        await c.create({ template: 'busybox', backend: 'btrfs' });
        const rootfs = path.join(btrfsLxcpath, c.name, 'rootfs');
        expect(fs.readFileSync(path.join(btrfsLxcpath, c.name, 'config'), 'utf8')).toContain(`\nlxc.rootfs.path = btrfs:${rootfs}\n`);
        expect(execFileSync('btrfs', ['subvolume', 'show', rootfs], { encoding: 'utf8' })).toContain('Subvolume ID');
        const snap = await c.clone(sandbox.name('handles-btrfs-snap'), { snapshot: true });
        try {
          const snapRootfs = path.join(btrfsLxcpath, snap.name, 'rootfs');
          expect(execFileSync('btrfs', ['subvolume', 'show', snapRootfs], { encoding: 'utf8' })).toMatch(/Parent UUID:\s+[0-9a-f-]{36}/);
          await snap.start();
          expect((await snap.exec(['hostname'])).stdout.toString().trim()).toBe(snap.name);
          await snap.stop();
          await snap.destroy();
        } finally {
          await snap.release();
        }
        await c.destroy();
      } finally {
        await c.release();
      }
    },
  );

  const onBtrfs = fs.statfsSync(sandbox.lxcpath).type === BTRFS_MAGIC;
  (onBtrfs ? test.skip : test)('create on btrfs with an lxcpath elsewhere fails with LXC_BACKEND_UNAVAILABLE naming the filesystem it is on', async () => {
    const c = await busyboxOn('btrfs');
    try {
      const failure = await failureOf(c.create({ template: 'busybox', backend: 'btrfs' }));
      expect(failure.code).toBe('LXC_BACKEND_UNAVAILABLE');
      expect(failure.message).toContain(`needs the lxcpath on a btrfs filesystem, and ${sandbox.lxcpath} is on`);
      expect(await c.defined()).toBe(false);
    } finally {
      await c.release();
    }
  });
});
