/**
 * exec and spawn attach through the lxcts-attach helper (addon/attach_server.cc), so that
 * liblxc forks a small process instead of this one. These tests check that the helper is
 * really the one attaching, that it never takes anything down with it, and that lxcts
 * attaches in-process when the helper cannot take a request.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container } from '../src';
import { attachHelperPath, native } from '../src/lxc/native';
import { alive, parentPid, zombieChildren } from './helpers/procfs';
import { failureOf, Sandbox } from './helpers/sandbox';
import { waitFor } from './helpers/wait';

const sandbox = new Sandbox('attach');
let c: Container;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('attach'));
  await c.start();
});
afterAll(() => sandbox.cleanup());

test('commands are children of the helper, which runs in a session of its own', async () => {
  const proc = await c.spawn(['sleep', '30']);
  try {
    const helper = native().attachHelperPid();
    expect(helper).not.toBeNull();
    expect(parentPid(proc.pid)).toBe(helper);
    // Ctrl-C in a terminal must not reach the helper (the CLI forwards signals itself).
    const session = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.split(' ')[3]);
    expect(session(helper!)).toBe(helper);
    expect(session(helper!)).not.toBe(session(process.pid));
  } finally {
    proc.kill('SIGKILL');
    expect(await proc.wait()).toEqual({ exitCode: null, signal: 'SIGKILL' });
  }
});

test('a request too large for the helper is attached in-process, with its environment whole', async () => {
  const big = 'x'.repeat(80 * 1024);
  const proc = await c.spawn(['sh', '-c', 'echo ${#BIG}; sleep 30'], { env: { BIG: big } });
  try {
    expect(parentPid(proc.pid)).toBe(process.pid);
    const line = await new Promise<string>((resolve) => proc.stdout.once('data', (d: Buffer) => resolve(d.toString())));
    expect(line.trim()).toBe(String(big.length));
  } finally {
    proc.kill('SIGKILL');
    await proc.wait();
  }
});

test('when the helper dies, running commands fail their wait once they end, and the next exec starts a new helper', async () => {
  const proc = await c.spawn(['sleep', '30']);
  const helper = native().attachHelperPid()!;
  expect(parentPid(proc.pid)).toBe(helper);
  process.kill(helper, 'SIGKILL');
  await waitFor(() => !alive(helper), 'the helper to be gone', { seconds: 5, everyMs: 20 });
  // The command lives on, and can still be signalled through its pidfd.
  expect(alive(proc.pid)).toBe(true);
  let settled = false;
  const waited = failureOf(proc.wait()).finally(() => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(settled).toBe(false); // not before the command ends
  expect(proc.kill('SIGKILL')).toBe(true);
  expect(await waited).toMatchObject({ code: 'LXC_EXEC_FAILED', message: expect.stringContaining('helper ended before') });

  const next = await c.exec(['sh', '-c', 'echo again; exit 5']);
  expect(next).toMatchObject({ exitCode: 5, stdout: Buffer.from('again\n') });
  expect(native().attachHelperPid()).not.toBe(helper);
  expect(zombieChildren()).toEqual([]); // the dead helper was reaped
});

test('a helper that dies is reaped at once, and attachHelperPid() stops naming it, without another exec', async () => {
  expect((await c.exec(['/bin/true'])).exitCode).toBe(0);
  const helper = native().attachHelperPid()!;
  expect(helper).toBeGreaterThan(0);
  process.kill(helper, 'SIGKILL');
  // Gone from /proc altogether: a zombie would still have its directory.
  await waitFor(() => !fs.existsSync(`/proc/${helper}`), `helper ${helper} to be reaped`, { seconds: 10, everyMs: 20 });
  await waitFor(() => native().attachHelperPid() === null, 'attachHelperPid() to report no helper', { seconds: 5, everyMs: 20 });
  expect(zombieChildren()).toEqual([]);

  expect(await c.exec(['sh', '-c', 'echo back'])).toMatchObject({ exitCode: 0, stdout: Buffer.from('back\n') });
  const next = native().attachHelperPid();
  expect(next).not.toBeNull();
  expect(next).not.toBe(helper);
});

test('the helper exits with the process that started it', async () => {
  const script = path.join(sandbox.lxcpath, 'helper-owner.js');
  const dist = path.resolve(__dirname, '..', 'dist');
  fs.writeFileSync(
    script,
    `const { Container } = require(${JSON.stringify(dist)});
     const { native } = require(${JSON.stringify(`${dist}/lxc/native`)});
     const c = new Container(${JSON.stringify(c.name)}, { lxcpath: ${JSON.stringify(sandbox.lxcpath)} });
     c.exec(['/bin/true']).then((r) => console.log(native().attachHelperPid() + ' ' + r.exitCode));`,
  );
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(code).toBe(0);
  const [helper = NaN, exitCode] = out.trim().split(' ').map(Number);
  expect(exitCode).toBe(0);
  expect(helper).toBeGreaterThan(0);
  await waitFor(() => !alive(helper), `helper ${helper} to exit`, { seconds: 5, everyMs: 20 });
});

test('a helper binary that cannot run leaves exec working in-process', async () => {
  const binding = native();
  binding.setAttachHelper(path.join(sandbox.lxcpath, 'no-such-helper'));
  try {
    const proc = await c.spawn(['sh', '-c', 'sleep 30']);
    expect(parentPid(proc.pid)).toBe(process.pid);
    expect(binding.attachHelperPid()).toBeNull();
    proc.kill('SIGTERM');
    expect(await proc.wait()).toEqual({ exitCode: null, signal: 'SIGTERM' });
  } finally {
    binding.setAttachHelper(attachHelperPath());
  }
});

test('errors from the helper name the container and say why', async () => {
  const stopped = await sandbox.busybox(sandbox.name('down'));
  expect(await failureOf(stopped.exec(['/bin/true']))).toMatchObject({
    code: 'LXC_NOT_RUNNING',
    message: `container "${stopped.name}" is not running`,
    container: stopped.name,
  });
  const missing = sandbox.container(sandbox.name('none'));
  expect(await failureOf(missing.exec(['/bin/true']))).toMatchObject({ code: 'LXC_NOT_DEFINED' });
  expect(native().attachHelperPid()).not.toBeNull();
});
