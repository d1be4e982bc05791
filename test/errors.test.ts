import * as fs from 'node:fs';

import { Container, listContainers } from '../src';
import { INVALID_NAMES } from './helpers/invalid-names';
import { failureOf, failureOfSync, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('errors');
afterAll(() => sandbox.cleanup());

describe('invalid names', () => {
  test.each(INVALID_NAMES)('a name that is %s is rejected with LXC_INVALID_NAME', (_label, name) => {
    const err = failureOfSync(() => new Container(name, { lxcpath: sandbox.lxcpath }));
    expect(err.code).toBe('LXC_INVALID_NAME');
    expect(err.name).toBe('LxcError');
    expect(err.message).toContain('invalid container name');
  });

  test('a 64-byte name is accepted', () => {
    expect(new Container('x'.repeat(64), { lxcpath: sandbox.lxcpath }).name).toHaveLength(64);
  });

  test.each([[123], [null], [undefined], [{}]])('a non-string name (%p) is a TypeError', (name) => {
    const err = failureOfSync(() => new Container(name as string));
    expect(err).toBeInstanceOf(TypeError);
  });

  test('a non-string lxcpath is a TypeError', () => {
    expect(failureOfSync(() => new Container('ok', { lxcpath: 5 as unknown as string }))).toBeInstanceOf(TypeError);
  });
});

describe('operations on a container that does not exist', () => {
  const c = sandbox.container();

  test.each([
    ['start', () => c.start()],
    ['stop', () => c.stop()],
    ['destroy', () => c.destroy()],
    ['shutdown', () => c.shutdown({ timeout: 1 })],
    ['freeze', () => c.freeze()],
  ])('%s fails with LXC_NOT_DEFINED and names the op and container', async (op, call) => {
    const err = await failureOf(call());
    expect(err.code).toBe('LXC_NOT_DEFINED');
    expect(err.op).toBe(op);
    expect(err.container).toBe(c.name);
    expect(err.message).toBe(`container "${c.name}" does not exist`);
  });

  test('the rejection carries the caller stack', async () => {
    const err = await failureOf(c.start());
    expect(String(err.stack)).toContain('errors.test.ts');
  });

  test('an unknown template fails with LXC_CREATE_FAILED and leaves nothing behind', async () => {
    const err = await failureOf(c.create({ template: 'no-such-template-lxcts' }));
    expect(err.code).toBe('LXC_CREATE_FAILED');
    // liblxc's reason survives create() replacing the container's config.
    expect((err.details as string[]).join('\n')).toMatch(/no-such-template-lxcts/);
    expect(await c.defined()).toBe(false);
    expect(await listContainers({ lxcpath: sandbox.lxcpath })).not.toContain(c.name);
  });
});

describe('state errors on a real container', () => {
  let c: Container;
  beforeAll(async () => {
    c = await sandbox.busybox(sandbox.name('state'));
  });

  test('creating it again fails with LXC_ALREADY_DEFINED', async () => {
    expect((await failureOf(c.create({ template: 'busybox' }))).code).toBe('LXC_ALREADY_DEFINED');
  });

  test.each([
    ['stop', () => c.stop()],
    ['freeze', () => c.freeze()],
    ['reboot', () => c.reboot()],
    ['getCgroupItem', () => c.getCgroupItem('pids.current')],
    ['getRunningConfigItem', () => c.getRunningConfigItem('lxc.uts.name')],
  ])('%s on a stopped container fails with LXC_NOT_RUNNING', async (_op, call) => {
    expect((await failureOf(call())).code).toBe('LXC_NOT_RUNNING');
  });

  test('waiting for a state that never comes fails with LXC_TIMEOUT after the timeout', async () => {
    const started = Date.now();
    const err = await failureOf(c.wait('RUNNING', { timeout: 1 }));
    expect(err.code).toBe('LXC_TIMEOUT');
    // liblxc alone gives up at once here; the timeout is a promise to wait that long.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  test('waiting for the state the container is already in resolves', async () => {
    await expect(c.wait('STOPPED', { timeout: 5 })).resolves.toBeUndefined();
  });

  test('starting twice fails with LXC_ALREADY_RUNNING, destroying while running with LXC_RUNNING', async () => {
    await c.start();
    expect((await failureOf(c.start())).code).toBe('LXC_ALREADY_RUNNING');
    expect((await failureOf(c.destroy())).code).toBe('LXC_RUNNING');
    await c.stop();
  });

  test('a shutdown that init ignores fails with LXC_TIMEOUT', async () => {
    // A plain command as PID 1 has no handler for the halt signal, so it never halts.
    await c.start({ args: ['/bin/sleep', '1000'] });
    const err = await failureOf(c.shutdown({ timeout: 1 }));
    expect(err.code).toBe('LXC_TIMEOUT');
    expect(await c.running()).toBe(true);
    await c.stop();
  });

  test('a failed start reports LXC_START_FAILED with the liblxc log lines of that call', async () => {
    const broken = sandbox.container(c.name);
    await broken.setConfigItem('lxc.net.0.type', 'veth');
    await broken.setConfigItem('lxc.net.0.link', 'lxctsnobr0');
    const err = await failureOf(broken.start());
    expect(err.code).toBe('LXC_START_FAILED');
    const details = err.details as string[];
    expect(details.some((line) => line.includes('lxctsnobr0'))).toBe(true);
    expect(details.every((line) => line.includes(' ERROR '))).toBe(true);
    // The next failure on the same object reports only its own lines.
    const again = await failureOf(broken.stop());
    expect(again.code).toBe('LXC_NOT_RUNNING');
    expect(again.details).toEqual([]);
  });

  test('unknown config keys fail with LXC_INVALID_CONFIG_KEY', async () => {
    expect((await failureOf(c.getConfigItem('lxc.bogus'))).code).toBe('LXC_INVALID_CONFIG_KEY');
    expect((await failureOf(c.setConfigItem('lxc.nope.nope', 'x'))).code).toBe('LXC_INVALID_CONFIG_KEY');
    expect((await failureOf(c.clearConfigItem('lxc.net0'))).code).toBe('LXC_INVALID_CONFIG_KEY');
    expect((await failureOf(c.getConfigItem(''))).code).toBe('LXC_INVALID_CONFIG_KEY');
  });

  test('indexed and namespaced keys are known', async () => {
    await expect(c.getConfigItem('lxc.net.0.type')).resolves.toBe('empty');
    await expect(c.setConfigItem('lxc.cgroup.pids.max', '50')).resolves.toBeUndefined();
    await expect(c.getConfigItem('lxc.cgroup.pids.max')).resolves.toBe('50');
  });

  test('a value liblxc rejects fails with LXC_INVALID_CONFIG_VALUE', async () => {
    expect((await failureOf(c.setConfigItem('lxc.net.0.type', 'bogus'))).code).toBe('LXC_INVALID_CONFIG_VALUE');
  });

  test('a newline in a key or value is refused before it can add a line to the config file', async () => {
    const value = await failureOf(c.setConfigItem('lxc.uts.name', 'x\nlxc.hook.start = /bin/evil'));
    expect(value.code).toBe('LXC_INVALID_CONFIG_VALUE');
    expect((await failureOf(c.setConfigItem('lxc.uts.name\nlxc.x', 'y'))).code).toBe('LXC_INVALID_CONFIG_KEY');
    await c.saveConfig();
    expect(fs.readFileSync(`${sandbox.lxcpath}/${c.name}/config`, 'utf8')).not.toContain('evil');
  });

  test('destroying a container with snapshots needs withSnapshots', async () => {
    const { execFileSync } = await import('node:child_process');
    execFileSync('lxc-snapshot', ['-P', sandbox.lxcpath, '-n', c.name], { stdio: 'ignore' });
    expect((await failureOf(c.destroy())).code).toBe('LXC_HAS_SNAPSHOTS');
    await c.destroy({ withSnapshots: true });
    expect(await c.defined()).toBe(false);
  });
});

describe('bad arguments', () => {
  const c = sandbox.container();

  test.each([
    ['a create without options', () => c.create(undefined as never)],
    ['a numeric template', () => c.create({ template: 5 as never })],
    ['an empty template', () => c.create({ template: '' })],
    ['template args that are not strings', () => c.create({ template: 'busybox', args: [1 as never] })],
    ['a negative shutdown timeout', () => c.shutdown({ timeout: -1 })],
    ['a NaN wait timeout', () => c.wait('STOPPED', { timeout: NaN })],
    ['an unknown state', () => c.wait('BOGUS' as never)],
    ['a numeric config key', () => c.getConfigItem(5 as never)],
    ['a numeric config value', () => c.setConfigItem('lxc.uts.name', 5 as never)],
    ['string options', () => c.start('fast' as never)],
  ])('%s is a TypeError, not a crash', async (_label, call) => {
    expect(await failureOf(call())).toBeInstanceOf(TypeError);
  });

  test('an unknown list filter is a TypeError', async () => {
    expect(await failureOf(listContainers({ which: 'some' as never }))).toBeInstanceOf(TypeError);
  });
});

describe('released containers', () => {
  test('every call after release fails with LXC_RELEASED, and release is idempotent', async () => {
    const c = sandbox.container();
    await c.defined();
    await c.release();
    await c.release();
    expect(c.released).toBe(true);
    for (const call of [() => c.state(), () => c.start(), () => c.getConfigItem('lxc.uts.name'), () => c.wait('STOPPED')]) {
      const err = await failureOf(call());
      expect(err.code).toBe('LXC_RELEASED');
    }
  });

  test('calls queued before release still complete', async () => {
    const c = sandbox.container();
    const pending = [c.defined(), c.state(), c.running()];
    const released = c.release();
    await expect(Promise.all(pending)).resolves.toEqual([false, 'STOPPED', false]);
    await released;
  });
});
