import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';

import { Container } from '../src';
import { attachHelperPath, native } from '../src/lxc/native';
import { fdCount, zombieChildren } from './helpers/procfs';
import { failureOf, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('exec');
let c: Container;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('exec'));
  await c.start();
});
afterAll(() => sandbox.cleanup());

const sh = (script: string) => ['/bin/sh', '-c', script];

describe('exit status', () => {
  test.each([0, 3, 255])('exit %i is reported exactly', async (code) => {
    const r = await c.exec(sh(`exit ${code}`));
    expect(r).toMatchObject({ exitCode: code, signal: null });
  });

  test('a missing program gives 127 and a non-executable one 126, as a shell would', async () => {
    expect((await c.exec(['/no/such/program'])).exitCode).toBe(127);
    expect((await c.exec(['/etc/passwd'])).exitCode).toBe(126);
  });

  test('a command killed by a signal reports the signal and no exit code', async () => {
    const r = await c.exec(sh('kill -KILL $$'));
    expect(r.exitCode).toBeNull();
    expect(r.signal).toBe('SIGKILL');
  });

  test('exec on a stopped container fails with LXC_NOT_RUNNING', async () => {
    const stopped = await sandbox.busybox(sandbox.name('stopped'));
    expect((await failureOf(stopped.exec(['/bin/true']))).code).toBe('LXC_NOT_RUNNING');
  });

  test('bad argv is a TypeError', async () => {
    expect(await failureOf(c.exec([]))).toBeInstanceOf(TypeError);
    expect(await failureOf(c.exec('ls' as never))).toBeInstanceOf(TypeError);
    expect(await failureOf(c.exec(['/bin/true'], { uid: -1 }))).toBeInstanceOf(TypeError);
    expect(await failureOf(c.exec(['/bin/true'], { env: { 'A=B': 'x' } }))).toBeInstanceOf(TypeError);
  });
});

describe('input and output', () => {
  test('stdout and stderr are kept apart', async () => {
    const r = await c.exec(sh('echo to-out; echo to-err >&2; echo more-out'));
    expect(r.stdout.toString()).toBe('to-out\nmore-out\n');
    expect(r.stderr.toString()).toBe('to-err\n');
  });

  test('input from a Buffer reaches stdin, followed by end-of-file', async () => {
    const r = await c.exec(['/bin/sh', '-c', 'cat; echo done'], { input: Buffer.from('hello\n') });
    expect(r.stdout.toString()).toBe('hello\ndone\n');
  });

  test('input from a stream reaches stdin', async () => {
    const input = Readable.from(['a\n', 'b\n', 'c\n']);
    const r = await c.exec(['/bin/sh', '-c', 'wc -l'], { input });
    expect(r.stdout.toString().trim()).toBe('3');
  });

  test('input a command never reads does not crash this process', async () => {
    const r = await c.exec(['/bin/true'], { input: Buffer.alloc(4 * 1024 * 1024) });
    expect(r.exitCode).toBe(0);
  });

  test('the environment is cleared by default, extra variables are set, and cwd and uid apply', async () => {
    // jest gives tests a copy of process.env, so take a variable the real environment has.
    const hostVar = Object.keys(process.env).find((k) => /^[A-Z][A-Z0-9_]*$/.test(k) && k !== 'PATH' && /^[\w./:-]+$/.test(process.env[k] ?? ''))!;
    const r = await c.exec(sh(`echo "$${hostVar}|$GREETING|$(pwd)|$(id -u)|$(id -g)"`), {
      env: { GREETING: 'hi' },
      cwd: '/tmp',
      uid: 1000,
      gid: 1001,
    });
    expect(r.stdout.toString().trim()).toBe('|hi|/tmp|1000|1001');
    const kept = await c.exec(sh(`echo "$${hostVar}"`), { clearEnv: false });
    expect(kept.stdout.toString().trim()).toBe(process.env[hostVar]);
  });
});

describe('spawn streams', () => {
  test('100 MB of output streams through with flat memory', async () => {
    const proc = await c.spawn(['/bin/dd', 'if=/dev/zero', 'bs=1048576', 'count=100']);
    proc.stderr.resume();
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    let bytes = 0;
    for await (const chunk of proc.stdout) {
      bytes += (chunk as Buffer).length;
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(await proc.wait()).toEqual({ exitCode: 0, signal: null });
    expect(bytes).toBe(100 * 1024 * 1024);
    expect(peak - rssBefore).toBeLessThan(50 * 1024 * 1024);
    // How long the event loop waits meanwhile is the bench's to measure (exec with 100 MB of stdout).
  });

  test('a slow reader holds the command back instead of buffering its output', async () => {
    const proc = await c.spawn(['/bin/sh', '-c', 'while :; do echo 0123456789abcdef0123456789abcdef; done']);
    proc.stderr.resume();
    proc.stdout.pause();
    await new Promise((r) => setTimeout(r, 500));
    // Only what fits in the pipe and one stream buffer may be waiting.
    expect(proc.stdout.readableLength).toBeLessThan(1024 * 1024);
    expect(proc.kill('SIGKILL')).toBe(true);
    proc.stdout.resume();
    expect(await proc.wait()).toEqual({ exitCode: null, signal: 'SIGKILL' });
    expect(proc.kill()).toBe(false);
  });

  test('stdin of a spawned command can be written and ended', async () => {
    const proc = await c.spawn(['/bin/sh', '-c', 'read line; echo "got $line"']);
    const out: Buffer[] = [];
    proc.stdout.on('data', (d: Buffer) => out.push(d));
    const closed = new Promise((r) => proc.stdout.once('close', r));
    proc.stderr.resume();
    proc.stdin.end('ping\n');
    expect(await proc.wait()).toEqual({ exitCode: 0, signal: null });
    await closed;
    expect(Buffer.concat(out).toString()).toBe('got ping\n');
  });
});

describe('timeouts and aborts', () => {
  test('a timeout kills the command and fails with LXC_TIMEOUT', async () => {
    const started = Date.now();
    const err = await failureOf(c.exec(['/bin/sleep', '60'], { timeout: 0.5 }));
    expect(err.code).toBe('LXC_TIMEOUT');
    expect(err.op).toBe('exec');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await c.exec(sh('pgrep -x sleep || true'))).stdout.toString()).toBe('');
  });

  test('a command that ignores SIGTERM is killed after the grace period', async () => {
    const err = await failureOf(c.exec(sh('trap "" TERM; sleep 60'), { timeout: 0.3 }));
    expect(err.code).toBe('LXC_TIMEOUT');
  });

  test('an AbortSignal kills the command and rejects with an AbortError', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const err = await failureOf(c.exec(['/bin/sleep', '60'], { signal: controller.signal }));
    expect(err.name).toBe('AbortError');
    expect(err.code).toBe('ABORT_ERR');
  });

  test('an already aborted signal starts nothing', async () => {
    const err = await failureOf(c.exec(['/bin/sleep', '60'], { signal: AbortSignal.abort() }));
    expect(err.name).toBe('AbortError');
  });
});

describe('concurrency, zombies and descriptors', () => {
  test('64 concurrent execs on one container object, three times over, all answer correctly', async () => {
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(Array.from({ length: 64 }, (_, i) => c.exec(sh(`echo ${round}-${i}; exit ${i % 7}`))));
      results.forEach((r, i) => {
        expect(r.stdout.toString()).toBe(`${round}-${i}\n`);
        expect(r.exitCode).toBe(i % 7);
      });
    }
  });

  test.each([
    ['the lxcts-attach helper', true],
    ['this process (no helper)', false],
  ])(
    '1,000 execs through %s leave the fd count and the child processes where they were',
    async (_via, viaHelper) => {
      const binding = native();
      const helperPath = attachHelperPath();
      binding.setAttachHelper(viaHelper ? helperPath : null);
      try {
        await c.exec(['/bin/true']);
        const helper = binding.attachHelperPid();
        expect(helper !== null).toBe(viaHelper);
        const fdsBefore = fdCount();
        const helperFdsBefore = helper === null ? 0 : fdCount(helper);
        for (let i = 0; i < 1000; i++) {
          const r = await c.exec(['/bin/true']);
          if (r.exitCode !== 0) throw new Error(`exec ${i} exited ${r.exitCode}`);
        }
        // The last pidfd is closed in libuv's close callback, one loop turn after exit.
        await new Promise((resolve) => setTimeout(resolve, 50));
        // Not more: streams of earlier tests may still be closing, so fewer is fine.
        expect(fdCount()).toBeLessThanOrEqual(fdsBefore);
        expect(zombieChildren()).toEqual([]);
        if (helper !== null) {
          expect(binding.attachHelperPid()).toBe(helper); // one helper served them all
          expect(fdCount(helper)).toBeLessThanOrEqual(helperFdsBefore);
          expect(zombieChildren(helper)).toEqual([]);
        }
      } finally {
        binding.setAttachHelper(helperPath);
      }
    },
    120_000,
  );

  test('after an exec, Ctrl-C (SIGINT) still reaches this process, even with its stdin closed', async () => {
    // liblxc ignores SIGINT in the caller when the attached stdin is fd 0 (lxc issue 1137).
    const script = path.join(sandbox.lxcpath, 'sigint-child.js');
    fs.writeFileSync(
      script,
      `const dist = ${JSON.stringify(path.resolve(__dirname, '..', 'dist'))};
       if (process.argv[2] === 'in-process') require(dist + '/lxc/native').native().setAttachHelper(null);
       const { Container } = require(dist);
       const c = new Container(${JSON.stringify(c.name)}, { lxcpath: ${JSON.stringify(sandbox.lxcpath)} });
       c.exec(['/bin/true']).then((r) => { console.log('ready ' + r.exitCode); setInterval(() => {}, 1000); });`,
    );
    // The trap is in liblxc's attach, so it matters where attach runs: here, not in the helper.
    for (const [closeStdin, mode] of [
      [false, 'in-process'],
      [true, 'in-process'],
      [true, 'helper'],
    ] as const) {
      const child = closeStdin
        ? spawn('/bin/sh', ['-c', `exec "${process.execPath}" "${script}" ${mode} <&-`], { stdio: ['pipe', 'pipe', 'inherit'] })
        : spawn(process.execPath, [script, mode], { stdio: ['pipe', 'pipe', 'inherit'] });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
      await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('ready 0') && resolve()));
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      expect(await exited).toBe('SIGINT');
      clearTimeout(timer);
    }
  });
});
