/**
 * exec() reads a command's stdout and stderr in the addon (addon/output_gather.h), not
 * through two net.Sockets: no stream handles per exec, output of any size whole and in
 * order, and the pipes closed when a timeout gives up on an output still held open.
 * spawn()'s outputs are read by the addon too (addon/output_stream.h), as streams.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { Container } from '../src';
import { native } from '../src/lxc/native';
import { ROOT } from './helpers/root';
import { openFdCount, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('execjs');
let c: Container;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('output'));
  await c.start();
});
afterAll(() => sandbox.cleanup());

const pipeHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap').length;

test('an exec in flight holds no stream handle of its own (spawn still has its stdin socket)', async () => {
  await c.exec(['/bin/true']);
  const before = pipeHandles();
  const running = c.exec(['sleep', '1']);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(pipeHandles()).toBe(before);
  expect((await running).exitCode).toBe(0);

  // spawn's stdout and stderr are read by the addon too (addon/output_stream.h); its stdin is a socket.
  const proc = await c.spawn(['sleep', '1']);
  expect(pipeHandles()).toBeGreaterThanOrEqual(before + 1);
  proc.stdout.resume();
  proc.stderr.resume();
  await proc.wait();
});

test('several MiB on stdout and stderr at once come back whole and in order', async () => {
  // Lines numbered on both outputs, interleaved by the shell: a lost, repeated or
  // reordered chunk (from buffer growth or the pipe's resize) changes the text.
  const script = 'i=0; while [ $i -lt 60000 ]; do echo "out line $i of the numbered output"; echo "err $i" >&2; i=$((i+1)); done';
  const r = await c.exec(['sh', '-c', script]);
  expect(r.exitCode).toBe(0);
  const expected = (prefix: string, tail: string) => Array.from({ length: 60000 }, (_, i) => `${prefix} ${i}${tail}\n`).join('');
  expect(r.stdout.length).toBeGreaterThan(2 * 1024 * 1024);
  expect(r.stdout.toString()).toBe(expected('out line', ' of the numbered output'));
  expect(r.stderr.toString()).toBe(expected('err', ''));
});

test('a timeout that gives up on an output held open closes the pipes before the call settles', async () => {
  const fds = () => {
    const helper = native().attachHelperPid();
    return openFdCount() + (helper === null ? 0 : openFdCount(helper));
  };
  await c.exec(['/bin/true']);
  const before = fds();
  await expect(c.exec(['sh', '-c', 'sleep 30 & echo started'], { timeout: 1 })).rejects.toMatchObject({ code: 'LXC_TIMEOUT' });
  expect(fds()).toBe(before);
  await c.exec(['sh', '-c', 'pkill sleep; true']);
});

test("spawn's output is handed over in pieces of at most 64 KiB, and a line printed before a pause arrives while the command still runs", async () => {
  // The addon gathers small writes into chunks (addon/output_stream.h): 1 MiB arrives whole,
  // never in a chunk over 64 KiB.
  const big = await c.spawn(['head', '-c', String(1024 * 1024), '/dev/zero']);
  big.stderr.resume();
  let total = 0;
  let largest = 0;
  for await (const chunk of big.stdout) {
    total += (chunk as Buffer).length;
    largest = Math.max(largest, (chunk as Buffer).length);
  }
  expect(await big.wait()).toEqual({ exitCode: 0, signal: null });
  expect(total).toBe(1024 * 1024);
  expect(largest).toBeLessThanOrEqual(64 * 1024);

  // A chunk that never fills is not held until end-of-file: the flush hands it over.
  const paused = await c.spawn(['sh', '-c', 'echo ready; exec sleep 30']);
  paused.stderr.resume();
  const first = await new Promise<Buffer>((resolve) => paused.stdout.once('data', resolve));
  expect(first.toString()).toBe('ready\n');
  expect(paused.kill('SIGKILL')).toBe(true);
  paused.stdout.resume();
  expect(await paused.wait()).toEqual({ exitCode: null, signal: 'SIGKILL' });
});

test("a 'data' listener that throws on spawn's output is an uncaught exception, as from any stream", () => {
  // In a process of its own (dist/, built by npm run build): the exception leaves the addon's
  // read callback, which must hand it to Node, not abort.
  const script = `
    const { Container } = require(${JSON.stringify(path.join(ROOT, 'dist'))});
    process.on('uncaughtException', (err) => { console.log('uncaught: ' + err.message); process.exit(3); });
    new Container(${JSON.stringify(c.name)}, { lxcpath: ${JSON.stringify(sandbox.lxcpath)} }).spawn(['echo', 'hi']).then((proc) => {
      proc.stdout.on('data', () => { throw new Error('from the listener'); });
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
  expect(r.stdout).toBe('uncaught: from the listener\n');
  expect(r.status).toBe(3);
});

test('pausing bulk output (read per tick, not per write) still holds the command back, and resuming gets the rest whole', async () => {
  const size = 16 * 1024 * 1024;
  const proc = await c.spawn(['head', '-c', String(size), '/dev/zero']);
  proc.stderr.resume();
  let total = 0;
  // Past the first chunks the addon reads this output once per tick (addon/output_stream.h).
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total < 512 * 1024) return;
      proc.stdout.off('data', onData);
      proc.stdout.pause();
      resolve();
    };
    proc.stdout.on('data', onData);
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  // Only the pipe (1 MiB) and one stream buffer may be ahead: the command cannot have written it all.
  expect(proc.kill(0)).toBe(true);
  expect(total + proc.stdout.readableLength).toBeLessThan(4 * 1024 * 1024);
  for await (const chunk of proc.stdout) total += (chunk as Buffer).length;
  expect(await proc.wait()).toEqual({ exitCode: 0, signal: null });
  expect(total).toBe(size);
});
