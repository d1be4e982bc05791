import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container, listContainers } from '../src';
import { Sandbox } from './helpers/sandbox';
import { waitFor } from './helpers/wait';

const sandbox = new Sandbox('lifecycle');
afterAll(() => sandbox.cleanup());

describe('container lifecycle on the busybox template', () => {
  const name = sandbox.name('life');
  let c: Container;

  test('create writes a config and rootfs from the template and the defined list shows it', async () => {
    c = await sandbox.busybox(name);
    expect(await c.defined()).toBe(true);
    expect(await c.state()).toBe('STOPPED');
    expect(await c.running()).toBe(false);
    expect(await c.initPid()).toBeNull();
    const config = fs.readFileSync(path.join(sandbox.lxcpath, name, 'config'), 'utf8');
    expect(config).toMatch(new RegExp(`lxc.uts.name = "?${name}"?`));
    expect(config).toContain('lxc.net.0.type = empty');
    // The per-call log capture must never leak into the user's config.
    expect(config).not.toContain('lxc.log.file');
    expect(fs.existsSync(path.join(sandbox.lxcpath, name, 'rootfs', 'bin', 'busybox'))).toBe(true);
    expect(await listContainers({ lxcpath: sandbox.lxcpath, which: 'defined' })).toEqual([name]);
    expect(await listContainers({ lxcpath: sandbox.lxcpath, which: 'active' })).toEqual([]);
  });

  test('config items read back what the template wrote and what was set', async () => {
    expect(await c.getConfigItem('lxc.uts.name')).toBe(name);
    expect(await c.getConfigItem('lxc.rootfs.path')).toBe(path.join(sandbox.lxcpath, name, 'rootfs'));
    await c.setConfigItem('lxc.environment', 'LXCTS_TEST=1');
    expect(await c.getConfigItem('lxc.environment')).toContain('LXCTS_TEST=1');
    await c.saveConfig();
    const fresh = sandbox.container(name);
    expect(await fresh.getConfigItem('lxc.environment')).toContain('LXCTS_TEST=1');
    await c.clearConfigItem('lxc.environment');
    expect(await c.getConfigItem('lxc.environment')).toBe('');
    const keys = await c.configKeys();
    expect(keys).toEqual(expect.arrayContaining(['lxc.uts.name', 'lxc.rootfs.path', 'lxc.net']));
    const copy = path.join(sandbox.lxcpath, 'config-copy');
    await c.saveConfig(copy);
    expect(fs.readFileSync(copy, 'utf8')).toContain('lxc.uts.name');
  });

  test('start runs the container daemonized and reports its init pid', async () => {
    await c.start();
    expect(await c.running()).toBe(true);
    expect(await c.state()).toBe('RUNNING');
    const pid = await c.initPid();
    expect(typeof pid).toBe('number');
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('init');
    expect(await listContainers({ lxcpath: sandbox.lxcpath, which: 'active' })).toEqual([name]);
    expect(await c.getRunningConfigItem('lxc.uts.name')).toBe(name);
  });

  test('cgroup items of the running container can be read and written', async () => {
    expect(Number(await c.getCgroupItem('pids.current'))).toBeGreaterThan(0);
    await c.setCgroupItem('pids.max', '123');
    expect(await c.getCgroupItem('pids.max')).toBe('123');
  });

  test('freeze and unfreeze move the container through FROZEN and back to RUNNING', async () => {
    await c.freeze();
    expect(await c.state()).toBe('FROZEN');
    await c.unfreeze();
    expect(await c.state()).toBe('RUNNING');
  });

  test('reboot restarts init with a new pid', async () => {
    // Like lxc-stop -r, reboot sends init one signal: wait until busybox's init has set up
    // its handlers (its getty runs once the boot scripts are done).
    await waitFor(async () => (await c.exec(['/bin/pidof', 'getty'])).exitCode === 0, "busybox's getty", { seconds: 20, everyMs: 100 });
    const before = await c.initPid();
    await c.reboot();
    const observer = sandbox.container(name);
    await waitFor(
      async () => {
        const pid = await observer.initPid();
        return pid !== null && pid !== before && (await observer.state()) === 'RUNNING';
      },
      'a new init, running',
      { seconds: 20, everyMs: 100 },
    );
  });

  test('shutdown halts the container cleanly through its init, even one that just rebooted', async () => {
    await c.shutdown({ timeout: 20 });
    expect(await c.state()).toBe('STOPPED');
  });

  test('wait resolves when a later stop on the same object stops the container', async () => {
    await c.start();
    const stopped = c.wait('STOPPED', { timeout: 20 });
    await c.stop();
    await expect(stopped).resolves.toBeUndefined();
    expect(await c.running()).toBe(false);
  });

  test('start with args runs that command as the container init', async () => {
    await c.start({ args: ['/bin/sleep', '1000'] });
    const pid = await c.initPid();
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(['/bin/sleep', '1000', '']);
    await c.stop();
  });

  test('destroy removes the container and its directory, also with withSnapshots and no snapshot', async () => {
    await c.destroy({ withSnapshots: true });
    expect(await c.defined()).toBe(false);
    expect(fs.existsSync(path.join(sandbox.lxcpath, name))).toBe(false);
    expect(await listContainers({ lxcpath: sandbox.lxcpath })).toEqual([]);
  });

  test('the same object can create the container again after destroying it', async () => {
    await c.clearConfigItem('lxc.net');
    await c.setConfigItem('lxc.net.0.type', 'empty');
    await c.create({ template: 'busybox' });
    expect(await c.defined()).toBe(true);
    await c.destroy();
    expect(await c.defined()).toBe(false);
  });
});

test('containers made by lxcts are seen by the lxc tools, and containers made by lxc-create by lxcts', async () => {
  const { execFileSync } = await import('node:child_process');
  const ours = await sandbox.busybox(sandbox.name('ours'));
  const theirs = sandbox.name('theirs');
  execFileSync('lxc-create', ['-P', sandbox.lxcpath, '-n', theirs, '-t', 'busybox'], { stdio: 'ignore' });
  const listed = execFileSync('lxc-ls', ['-P', sandbox.lxcpath, '-1'], { encoding: 'utf8' }).split('\n');
  expect(listed).toEqual(expect.arrayContaining([ours.name, theirs]));
  const other = new Container(theirs, { lxcpath: sandbox.lxcpath });
  expect(await other.defined()).toBe(true);
  expect(await other.getConfigItem('lxc.uts.name')).toBe(theirs);
  await other.destroy();
  await other.release();
  await ours.destroy();
  expect(await listContainers({ lxcpath: sandbox.lxcpath })).toEqual([]);
});
