/**
 * exec() cannot hang or lose output: a reader slower than the writer, a command that fills
 * both pipes and exits, one that closes stdout early, a background process that keeps
 * stdout open after the command exits (exec waits for it, within `timeout` when one is
 * given), and 1,000 commands at once, every byte checked, with no descriptor left behind.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { Container } from '../src';
import { fdCount, zombieChildren } from './helpers/procfs';
import { failureOf, Sandbox } from './helpers/sandbox';
import { waitFor } from './helpers/wait';

const sandbox = new Sandbox('exec-nohang');
let c: Container;

const sh = (script: string) => ['/bin/sh', '-c', script];
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const MiB = 1024 * 1024;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('nohang'));
  await c.start();
});
afterAll(() => sandbox.cleanup());

test('a reader slower than the writer gets every byte: the command waits for it, nothing is dropped', async () => {
  const proc = await c.spawn(sh('dd if=/dev/urandom of=/tmp/slow bs=1M count=16 2>/dev/null; sha256sum /tmp/slow | cut -d" " -f1 >&2; cat /tmp/slow'));
  const stderr: Buffer[] = [];
  proc.stderr.on('data', (d: Buffer) => stderr.push(d));
  const hash = createHash('sha256');
  let bytes = 0;
  let sinceNap = 0;
  for await (const piece of proc.stdout) {
    hash.update(piece as Buffer);
    bytes += (piece as Buffer).length;
    sinceNap += (piece as Buffer).length;
    if (sinceNap >= MiB) {
      sinceNap = 0;
      await sleep(20); // far slower than cat: the pipe fills and the writer blocks
    }
  }
  expect(await proc.wait()).toEqual({ exitCode: 0, signal: null });
  expect(bytes).toBe(16 * MiB);
  expect(hash.digest('hex')).toBe(Buffer.concat(stderr).toString().trim());
}, 60_000);

test('a command that fills both pipes and exits at once loses nothing and reports its status', async () => {
  const out = 'a'.repeat(15) + '\n';
  const err = 'b'.repeat(15) + '\n';
  const size = 4 * MiB;
  const r = await c.exec(sh(`(yes ${out.trim()} 2>/dev/null | head -c ${size}) & (yes ${err.trim()} 2>/dev/null | head -c ${size} >&2) & wait; exit 7`));
  expect(r.exitCode).toBe(7);
  expect(r.stdout.length).toBe(size);
  expect(r.stderr.length).toBe(size);
  expect(sha256(r.stdout)).toBe(sha256(out.repeat(size / out.length)));
  expect(sha256(r.stderr)).toBe(sha256(err.repeat(size / err.length)));
});

test('a command that closes stdout early still delivers stderr and its status', async () => {
  const r = await c.exec(sh('echo before; exec 1>&-; yes e 2>/dev/null | head -c 1000000 >&2; exit 3'));
  expect(r).toMatchObject({ exitCode: 3, signal: null });
  expect(r.stdout.toString()).toBe('before\n');
  expect(r.stderr.length).toBe(1_000_000);
});

describe('a process that keeps stdout open after the command exits', () => {
  afterEach(() => c.exec(['killall', 'sleep']));

  test('exec resolves once the output has ended: what the background process writes later is not lost', async () => {
    const r = await c.exec(sh('(sleep 1; echo late) & echo early'));
    expect(r).toMatchObject({ exitCode: 0, signal: null });
    expect(r.stdout.toString()).toBe('early\nlate\n');
  });

  test('spawn: wait() resolves at the command exit, while its stdout is still open', async () => {
    const proc = await c.spawn(sh('(sleep 1; echo late) & echo early'));
    let text = '';
    proc.stdout.on('data', (d: Buffer) => (text += d.toString()));
    const ended = new Promise((resolve) => proc.stdout.once('end', resolve));
    expect(await proc.wait()).toEqual({ exitCode: 0, signal: null });
    expect(proc.stdout.readableEnded).toBe(false);
    await ended;
    expect(text).toBe('early\nlate\n');
  });

  test('with a timeout, exec does not wait past it for a process that never closes the output: LXC_TIMEOUT', async () => {
    const err = await failureOf(c.exec(sh('sleep 1000 & echo early'), { timeout: 1 }));
    expect(err.code).toBe('LXC_TIMEOUT');
    expect(err.message).toContain('output');
  });
});

test('1,000 commands at once all complete with every byte and the right exit status, and leave no descriptor behind', async () => {
  await c.exec(['/bin/true']); // the attach helper and its sockets exist before counting
  const before = fdCount();
  const count = 1000;
  // An object of its own: the liblxc handles it may open for in-process attaches are its
  // to keep until release(), after which nothing may be left.
  const many = new Container(c.name, { lxcpath: sandbox.lxcpath });
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const n = 50 + i;
      return many.exec(sh(`seq 1 ${n}; echo to-stderr-${i} >&2; exit ${i % 256}`)).then((r) => ({ i, n, r }));
    }),
  );
  const wrong = results.filter(({ i, n, r }) => {
    const expected = Array.from({ length: n }, (_, k) => `${k + 1}\n`).join('');
    return r.exitCode !== i % 256 || r.signal !== null || sha256(r.stdout) !== sha256(expected) || r.stderr.toString() !== `to-stderr-${i}\n`;
  });
  expect(wrong.map(({ i }) => i)).toEqual([]);
  await many.release();
  await waitFor(
    () => fdCount() <= before,
    () => `descriptors back to ${before} (now ${fdCount()})`,
  );
  expect(zombieChildren()).toEqual([]);
}, 180_000);
