import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container } from '../src';
import { reapedChildFaults } from './helpers/procfs';
import { failureOf, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('clone');
let origin: Container;

beforeAll(async () => {
  origin = await sandbox.busybox(sandbox.name('origin'));
});
afterAll(() => sandbox.cleanup());

const configOf = (name: string) => fs.readFileSync(path.join(sandbox.lxcpath, name, 'config'), 'utf8');

test('an overlay snapshot clone starts, runs commands and is destroyed, leaving the origin untouched', async () => {
  const originConfig = configOf(origin.name);
  const clone = await origin.clone(sandbox.name('ovl'), { snapshot: true, backend: 'overlay' });
  expect(await clone.defined()).toBe(true);
  expect(configOf(clone.name)).toMatch(/^lxc\.rootfs\.path = overlay/m);
  expect(await clone.getConfigItem('lxc.uts.name')).toBe(clone.name);
  await clone.start();
  const r = await clone.exec(['/bin/sh', '-c', 'echo written > /etc/clone-marker && hostname']);
  expect(r.stdout.toString().trim()).toBe(clone.name);
  await clone.stop();
  await clone.destroy();
  expect(await clone.defined()).toBe(false);
  expect(fs.existsSync(path.join(sandbox.lxcpath, origin.name, 'rootfs', 'etc', 'clone-marker'))).toBe(false);
  expect(configOf(origin.name)).toBe(originConfig);
  expect(await origin.defined()).toBe(true);
});

test('a full copy clone has its own rootfs', async () => {
  const copy = await origin.clone(sandbox.name('copy'));
  expect(await copy.getConfigItem('lxc.rootfs.path')).toBe(path.join(sandbox.lxcpath, copy.name, 'rootfs'));
  expect(fs.existsSync(path.join(sandbox.lxcpath, copy.name, 'rootfs', 'bin', 'busybox'))).toBe(true);
  await copy.destroy();
});

test('clone errors: existing target, missing source, running source without snapshot', async () => {
  const other = await sandbox.busybox(sandbox.name('taken'));
  expect((await failureOf(origin.clone(other.name))).code).toBe('LXC_ALREADY_DEFINED');
  expect((await failureOf(sandbox.container().clone(sandbox.name('x')))).code).toBe('LXC_NOT_DEFINED');
  expect((await failureOf(origin.clone('../evil'))).code).toBe('LXC_INVALID_NAME');
  await other.start();
  expect((await failureOf(other.clone(sandbox.name('hot')))).code).toBe('LXC_RUNNING');
  await other.stop();
});

test('snapshots can be taken, listed, restored as a new container and destroyed', async () => {
  const faults = reapedChildFaults();
  const name = await origin.snapshot({ comment: 'taken by clone.test.ts' });
  expect(name).toBe('snap0');
  const list = await origin.snapshots();
  expect(list.map((s) => s.name)).toEqual(['snap0']);
  expect(list[0]?.timestamp).toMatch(/^\d{4}:\d{2}:\d{2} \d{2}:\d{2}:\d{2}$/);
  expect(list[0]?.comment).toBe('taken by clone.test.ts');
  const restoredName = sandbox.name('restored');
  await origin.restoreSnapshot('snap0', restoredName).catch((err) => {
    throw new Error(`${err.message}\n${err.details.join('\n')}`);
  });
  const restored = sandbox.container(restoredName);
  expect(await restored.defined()).toBe(true);
  // liblxc's snapshot and restore fork (to set the copy's hostname): in the lifecycle
  // server's processes, not from Node.
  expect(reapedChildFaults()).toBe(faults);
  await restored.destroy();
  await origin.destroySnapshot('snap0');
  expect(await origin.snapshots()).toEqual([]);
  expect((await failureOf(origin.destroySnapshot('snap9'))).code).toBe('LXC_SNAPSHOT_FAILED');
});
