import { Container, listContainers } from '../src';
import { largestTimerDelay } from './helpers/event-loop';
import { openFdCount, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('leaks');
afterAll(() => sandbox.cleanup());

test('a timer keeps firing within 20 ms while containers are created, started, stopped and destroyed', async () => {
  const worst = await largestTimerDelay(async () => {
    await Promise.all(
      [0, 1, 2].map(async () => {
        const c = await sandbox.busybox(sandbox.name('loop'));
        await c.start();
        await c.freeze();
        await c.unfreeze();
        await c.stop();
        await c.destroy();
      }),
    );
  });
  expect(worst).toBeLessThan(20);
  expect(await listContainers({ lxcpath: sandbox.lxcpath })).toEqual([]);
});

test('500 operations and 50 released objects leave the open fd count where it was', async () => {
  const c = await sandbox.busybox(sandbox.name('fds'));
  await c.start();
  // Warm up: libuv's pool threads and liblxc's lazily opened files.
  for (let i = 0; i < 20; i++) await c.state();
  const before = openFdCount();

  for (let i = 0; i < 100; i++) {
    await Promise.all([
      c.state(),
      c.getConfigItem('lxc.uts.name'),
      c.initPid(),
      c.getCgroupItem('pids.current'),
      c.stop().catch(() => undefined).then(() => c.start()),
    ]);
  }
  for (let i = 0; i < 50; i++) {
    const other = new Container(c.name, { lxcpath: sandbox.lxcpath });
    await other.running();
    await other.getConfigItem('lxc.start.auto').catch(() => undefined);
    await other.release();
  }
  await c.stop();
  expect(openFdCount()).toBeLessThanOrEqual(before);
});
