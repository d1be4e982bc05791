/**
 * exec() reads a command's stdout and stderr in the addon (addon/output_gather.h), not
 * through two net.Sockets: no stream handles per exec, output of any size whole and in
 * order, and the pipes closed when a timeout gives up on an output still held open.
 * spawn()'s outputs are read by the addon too (addon/output_stream.h), as streams.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { finished } from 'node:stream/promises';

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

test.each([{ exec: undefined }, { exec: 'resident' as const }])(
  "a line on stderr reaches a consumer of both of spawn's outputs after the stdout written before it, and before the stdout written after it (exec: $exec)",
  async ({ exec }) => {
    // 64 KiB on stdout, then ERR on stderr, then 2.4 MB on stdout. ERR waits as a partial chunk
    // while stdout fills chunks at once: unpaired, it arrived up to 1 MiB of stdout late. The
    // first chunk's listener holds the event loop a while, so that ERR and a pipe's worth of
    // stdout are surely written before the addon reads on (else the old code passed by luck).
    const script = 'sleep 0.2; dd if=/dev/zero bs=65536 count=1 2>/dev/null; echo ERR >&2; dd if=/dev/zero bs=4096 count=600 2>/dev/null';
    const target = exec === undefined ? c : new Container(c.name, { lxcpath: sandbox.lxcpath, exec });
    const proc = await target.spawn(['sh', '-c', script]);
    let stdoutBytes = 0;
    const seenAt: number[] = [];
    let stderrText = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      if (stdoutBytes === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
      stdoutBytes += chunk.length;
    });
    proc.stderr.on('data', (chunk: Buffer) => {
      stderrText += chunk.toString();
      seenAt.push(stdoutBytes);
    });
    expect(await proc.wait()).toEqual({ exitCode: 0, signal: null });
    await Promise.all([finished(proc.stdout), finished(proc.stderr)]);
    expect(stderrText).toBe('ERR\n');
    expect(seenAt).toEqual([65536]);
    expect(stdoutBytes).toBe(65536 + 600 * 4096);
    if (target !== c) await target.release();
  },
);

test("spawn's output read with for await pauses the addon only when the reader falls behind, not once per 64 KiB chunk", async () => {
  // Readable's default highWaterMark (16 KiB) is below a chunk: every push() returned false and
  // paused the addon (output-stream.ts). Counted by a subclass of the addon's, restored after.
  const binding = native();
  const { OutputStream } = binding;
  let pauses = 0;
  binding.OutputStream = class extends OutputStream {
    override pause(): void {
      pauses++;
      super.pause();
    }
  };
  try {
    // The sleep lets the loop below start before the output does.
    const proc = await c.spawn(['sh', '-c', `sleep 0.2; head -c ${1024 * 1024} /dev/zero`]);
    proc.stderr.resume();
    expect(proc.stdout.readableHighWaterMark).toBeGreaterThan(64 * 1024);
    let chunks = 0;
    let total = 0;
    for await (const chunk of proc.stdout) {
      chunks++;
      total += (chunk as Buffer).length;
    }
    expect(await proc.wait()).toEqual({ exitCode: 0, signal: null });
    expect(total).toBe(1024 * 1024);
    expect(chunks).toBeGreaterThanOrEqual(16);
    expect(pauses).toBeLessThan(chunks / 4);
  } finally {
    binding.OutputStream = OutputStream;
  }
});
