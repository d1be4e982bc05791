/**
 * Issue 13, items 1, 6, 7, 8 and 11: the binding under a hostile or careless caller, each
 * tried against real containers (the attack itself, not only the refusal).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container, isConfigKey } from '../src';
import { attachHelperPath, native } from '../src/lxc/native';
import { lxcts } from './helpers/cli';
import { failureOf, failureOfSync, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('inputs');
let running: Container;
let stopped: Container;

beforeAll(async () => {
  running = await sandbox.busybox(sandbox.name('run'));
  await running.start();
  stopped = await sandbox.busybox(sandbox.name('stop'));
});
afterAll(() => sandbox.cleanup());

const sh = (script: string) => ['/bin/sh', '-c', script];

function quiet(command: string, args: string[]): void {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 30_000 });
  } catch {
    // Cleanup after a failed assertion on broken code: best effort.
  }
}

/** An lxcpath that, written into a config file, adds a pre-start hook touching `marker`. */
function hookInjectingLxcpath(label: string): { lxcpath: string; marker: string } {
  const marker = path.join(sandbox.lxcpath, `pwned-${label}`);
  return { lxcpath: `${sandbox.lxcpath}/p-${label}\nlxc.hook.pre-start = /bin/touch ${marker}\n#`, marker };
}

/** Stops and destroys what broken code may have made at a hostile lxcpath. */
function cleanupAt(lxcpath: string, name: string): void {
  quiet('lxc-stop', ['-P', lxcpath, '-n', name, '-k']);
  quiet('lxc-destroy', ['-P', lxcpath, '-n', name]);
}

describe('item 1: no injection through lxcpath, names or template args', () => {
  test('an lxcpath with a newline is refused by new Container(); create() and start() never run the injected hook', async () => {
    const { lxcpath, marker } = hookInjectingLxcpath('api');
    const name = sandbox.name('inj');
    let refusal: unknown;
    let c: Container | undefined;
    try {
      c = new Container(name, { lxcpath });
      await c.create({ template: 'busybox' });
      await c.start();
    } catch (err) {
      refusal = err;
    } finally {
      await c?.stop().catch(() => undefined);
      await c?.release();
      cleanupAt(lxcpath, name);
    }
    expect(fs.existsSync(marker)).toBe(false);
    expect(refusal).toBeInstanceOf(TypeError);
    expect((refusal as Error).message).toContain('lxcpath');
  });

  test('clone({ lxcpath }) with a newline is refused before anything is copied', async () => {
    const { lxcpath, marker } = hookInjectingLxcpath('clone');
    const name = sandbox.name('injc');
    let refusal: unknown;
    let copy: Container | undefined;
    try {
      copy = await stopped.clone(name, { lxcpath });
      await copy.start();
    } catch (err) {
      refusal = err;
    } finally {
      await copy?.stop().catch(() => undefined);
      await copy?.release();
      cleanupAt(lxcpath, name);
    }
    expect(fs.existsSync(marker)).toBe(false);
    expect(refusal).toBeInstanceOf(TypeError);
    expect(fs.readdirSync(sandbox.lxcpath).filter((n) => n.startsWith('p-clone'))).toEqual([]);
  });

  test.each([
    ['--lxcpath', (lxcpath: string) => ({ args: ['--lxcpath', lxcpath], env: {} })],
    ['LXCTS_LXCPATH', (lxcpath: string) => ({ args: [], env: { LXCTS_LXCPATH: lxcpath } })],
  ])('the CLI refuses such an lxcpath given by %s (exit 2), and the hook never runs', (label, how) => {
    const { lxcpath, marker } = hookInjectingLxcpath(label.replace(/-/g, ''));
    const name = sandbox.name('injcli');
    const { args, env } = how(lxcpath);
    try {
      const create = lxcts(sandbox.lxcpath, ['create', name, '-t', 'busybox', ...args], { env });
      const start = lxcts(sandbox.lxcpath, ['start', name, ...args], { env });
      const list = lxcts(sandbox.lxcpath, ['list', '--json', ...args], { env });
      for (const r of [create, start, list]) {
        expect(r.status).toBe(2);
        expect(r.stderr + r.stdout).toContain('INVALID_ARGUMENT');
        expect(r.stderr + r.stdout).toContain('lxcpath');
      }
    } finally {
      cleanupAt(lxcpath, name);
    }
    expect(fs.existsSync(marker)).toBe(false);
  });

  test('an lxcpath cut by a newline ("DIR\\n#") cannot point destroy() at DIR', () => {
    const victim = fs.mkdtempSync(path.join(sandbox.lxcpath, 'victim-'));
    fs.writeFileSync(path.join(victim, 'keep'), 'data');
    expect(failureOfSync(() => new Container('x', { lxcpath: `${victim}\n#` }))).toBeInstanceOf(TypeError);
    expect(fs.readFileSync(path.join(victim, 'keep'), 'utf8')).toBe('data');
  });

  test('template args the busybox template would word-split are refused: no rootfs is written at a path taken from them', async () => {
    const elsewhere = path.join(sandbox.lxcpath, 'elsewhere');
    const c = sandbox.container(sandbox.name('split'));
    const err = await failureOf(c.create({ template: 'busybox', args: ['--rootfs', `${sandbox.lxcpath}/a ${elsewhere}`] }));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toContain('template args');
    expect(fs.existsSync(elsewhere)).toBe(false);
    expect(await c.defined()).toBe(false);
  });

  test.each([['--rootfs', 'ELSEWHERE'], ['--rootfs=ELSEWHERE'], ['--root', 'ELSEWHERE'], ['--path', 'ELSEWHERE'], ['--pa=ELSEWHERE']])(
    'template args redefining what liblxc passes (%p ...) are refused: the template writes nothing there',
    async (...args: string[]) => {
      const elsewhere = fs.mkdtempSync(path.join(sandbox.lxcpath, 'elsewhere-'));
      const c = sandbox.container(sandbox.name('redef'));
      const err = await failureOf(c.create({ template: 'busybox', args: args.map((a) => a.replace('ELSEWHERE', elsewhere)) }));
      expect(err).toBeInstanceOf(TypeError);
      expect(fs.readdirSync(elsewhere)).toEqual([]);
      expect(await c.defined()).toBe(false);
    },
  );

  test("template args of the template's own stay accepted", async () => {
    const c = sandbox.container(sandbox.name('own'));
    await c.clearConfigItem('lxc.net');
    await c.setConfigItem('lxc.net.0.type', 'empty');
    await c.create({ template: 'busybox', args: ['--busybox-path', '/usr/bin/busybox'] });
    expect(await c.defined()).toBe(true);
    await c.destroy();
  });

  test.each(['a b', '$(x)', 'a*', 'a"b', 'a:b', 'a,b', "a'b", 'a;b', 'é'])(
    'the name %p is LXC_INVALID_NAME and leaves nothing in the lxcpath',
    async (name) => {
      const lxcpath = fs.mkdtempSync(path.join(sandbox.lxcpath, 'names-'));
      let refusal: unknown;
      try {
        const c = new Container(name, { lxcpath });
        try {
          await c.create({ template: 'busybox' });
        } finally {
          await c.destroy().catch(() => undefined);
          await c.release();
        }
      } catch (err) {
        refusal = err;
      }
      expect((refusal as { code?: string })?.code).toBe('LXC_INVALID_NAME');
      expect(fs.readdirSync(lxcpath)).toEqual([]);
    },
  );

  test('names lxc-create accepts and that are safe stay accepted', () => {
    for (const name of ['web', 'web-1', 'Web_2.test', 'a+b', '.hidden-base', '0']) {
      expect(new Container(name, { lxcpath: sandbox.lxcpath }).name).toBe(name);
    }
  });
});

describe("item 6: timeouts beyond Node's 24.8-day timer limit", () => {
  test('exec and spawn with a timeout above 2,147,483 s run the command (no LXC_TIMEOUT at once)', async () => {
    for (const timeout of [2_147_484, 3e6, 1e12]) {
      const r = await running.exec(sh('sleep 0.2; echo done'), { timeout });
      expect(r).toMatchObject({ exitCode: 0, signal: null });
      expect(r.stdout.toString()).toBe('done\n');
    }
    const proc = await running.spawn(sh('sleep 0.2; exit 7'), { timeout: 3e6 });
    proc.stdout.resume();
    proc.stderr.resume();
    expect(await proc.wait()).toEqual({ exitCode: 7, signal: null });
  });

  test("the CLI's exec --timeout above that limit runs the command", () => {
    const r = lxcts(sandbox.lxcpath, ['exec', running.name, '--timeout', '3000000', '--', '/bin/sh', '-c', 'sleep 0.2; echo ok']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('ok\n');
    expect(r.status).toBe(0);
  });
});

describe('item 7: create() into an lxcpath that does not exist', () => {
  test('makes the lxcpath (0755), as lxc-create does, and the container works', async () => {
    const lxcpath = path.join(sandbox.lxcpath, 'missing', 'deeper');
    const c = new Container(sandbox.name('fresh'), { lxcpath });
    try {
      await c.clearConfigItem('lxc.net');
      await c.setConfigItem('lxc.net.0.type', 'empty');
      await c.create({ template: 'busybox' });
      expect(await c.defined()).toBe(true);
      expect(fs.statSync(lxcpath).mode & 0o777).toBe(0o755);
      expect(fs.existsSync(path.join(lxcpath, c.name, 'rootfs', 'bin', 'busybox'))).toBe(true);
    } finally {
      await c.destroy().catch(() => undefined);
      await c.release();
      cleanupAt(lxcpath, c.name);
    }
  });

  test('clone({ lxcpath }) into a directory that does not exist makes it too', async () => {
    const lxcpath = path.join(sandbox.lxcpath, 'missing-clone');
    const copy = await stopped.clone(sandbox.name('copy'), { lxcpath, snapshot: true, backend: 'overlay' });
    try {
      expect(await copy.defined()).toBe(true);
    } finally {
      await copy.destroy().catch(() => undefined);
      await copy.release();
      cleanupAt(lxcpath, copy.name);
    }
  });
});

describe('item 8: release() lets the calls made before it finish', () => {
  test('cpuStats() (two reads) and memoryUsage() made just before release() resolve', async () => {
    const c = new Container(running.name, { lxcpath: sandbox.lxcpath });
    const cpu = c.cpuStats();
    const memory = c.memoryUsage();
    const released = c.release();
    expect(await cpu).toMatchObject({ usageNs: expect.any(Number) });
    expect(await memory).toBeGreaterThan(0);
    await released;
    expect((await failureOf(c.cpuStats())).code).toBe('LXC_RELEASED');
  });

  test('ipAddresses({ timeout }) keeps polling to its own answer (LXC_TIMEOUT here: no network), not LXC_RELEASED', async () => {
    const c = new Container(running.name, { lxcpath: sandbox.lxcpath });
    const ips = failureOf(c.ipAddresses({ timeout: 0.6 }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const released = c.release();
    expect((await ips).code).toBe('LXC_TIMEOUT');
    await released;
    expect((await failureOf(c.state())).code).toBe('LXC_RELEASED');
  });

  test('an exec made just before release() runs', async () => {
    const c = new Container(running.name, { lxcpath: sandbox.lxcpath });
    const r = c.exec(['/bin/echo', 'still here']);
    await c.release();
    expect((await r).stdout.toString()).toBe('still here\n');
  });
});

describe('item 11: smaller ones', () => {
  test('a cwd that does not exist: the command does not run (126, the reason on stderr), not in "/" with 0', async () => {
    const r = await running.exec(['/bin/pwd'], { cwd: '/no/such/dir' });
    expect(r.exitCode).toBe(126);
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr.toString()).toContain('lxcts: cannot change to directory "/no/such/dir": No such file or directory');
    expect((await running.exec(['/bin/pwd'], { cwd: '/tmp' })).stdout.toString()).toBe('/tmp\n');
  });

  test('the same without the lxcts-attach helper (attached from this process)', async () => {
    native().setAttachHelper(null);
    try {
      const r = await running.exec(['/bin/pwd'], { cwd: '/no/such/dir' });
      expect(r.exitCode).toBe(126);
      expect(r.stderr.toString()).toContain('cannot change to directory "/no/such/dir"');
    } finally {
      native().setAttachHelper(attachHelperPath());
    }
  });

  test("a cwd the command's user cannot enter fails the same way", async () => {
    await running.exec(sh('mkdir -p /tmp/closed && chmod 700 /tmp/closed'));
    const r = await running.exec(['/bin/pwd'], { cwd: '/tmp/closed', uid: 1000, gid: 1000 });
    expect(r.exitCode).toBe(126);
    expect(r.stderr.toString()).toContain('Permission denied');
  });

  test('a relative cwd is a TypeError', async () => {
    expect(await failureOf(running.exec(['/bin/pwd'], { cwd: 'tmp' }))).toBeInstanceOf(TypeError);
  });

  test('NUL bytes are refused wherever a string goes to C, never cut', async () => {
    const cut = path.join(sandbox.lxcpath, 'saved');
    expect(await failureOf(stopped.saveConfig(`${cut}\0.conf`))).toBeInstanceOf(TypeError);
    expect(fs.existsSync(cut)).toBe(false);
    const c = sandbox.container(sandbox.name('nul'));
    expect(await failureOf(c.create({ template: 'busybox', args: ['--busybox-path\0', '/bin/busybox'] }))).toBeInstanceOf(TypeError);
    expect(await c.defined()).toBe(false);
    expect(await failureOf(running.ipAddresses({ interface: 'lo\0x' }))).toBeInstanceOf(TypeError);
    expect(isConfigKey('lxc.uts.name\0junk')).toBe(false);
    expect(isConfigKey('lxc.uts.name')).toBe(true);
    expect(await failureOf(stopped.restoreSnapshot('snap0\0x'))).toMatchObject({ code: 'LXC_INVALID_NAME' });
    expect(await failureOf(stopped.destroySnapshot('../x'))).toMatchObject({ code: 'LXC_INVALID_NAME' });
    expect(await failureOf(running.exec(['/bin/echo', 'a\0b']))).toBeInstanceOf(TypeError);
    expect(await failureOf(running.exec(['/bin/pwd'], { cwd: '/tmp\0/x' }))).toBeInstanceOf(TypeError);
  });

  test('env given as a Map is applied', async () => {
    const r = await running.exec(sh('echo "$A-$B"'), {
      env: new Map([
        ['A', '1'],
        ['B', 'two'],
      ]),
    });
    expect(r.stdout.toString()).toBe('1-two\n');
  });

  test('argv with holes is a TypeError naming the hole', async () => {
    // eslint-disable-next-line no-sparse-arrays
    const err = await failureOf(running.exec(['/bin/echo', , 'x'] as string[]));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toContain('at index 1');
    // eslint-disable-next-line no-sparse-arrays
    expect((await failureOf(stopped.start({ args: ['/bin/true', , ''] as string[] }))).message).toContain('at index 1');
  });

  test('E2BIG and ENAMETOOLONG are LXC_EXEC_FAILED with the reason, not exit 255 in silence', async () => {
    const big = await failureOf(running.exec(['/bin/true', 'x'.repeat(200_000)]));
    expect(big).toMatchObject({ code: 'LXC_EXEC_FAILED' });
    expect(big.message).toContain('E2BIG');
    const many = await failureOf(running.exec(['/bin/true', ...Array<string>(40_000).fill('y'.repeat(100))]));
    expect(many).toMatchObject({ code: 'LXC_EXEC_FAILED' });
    expect(many.message).toContain('E2BIG');
    const long = await failureOf(running.exec([`/bin/${'n'.repeat(300)}`]));
    expect(long).toMatchObject({ code: 'LXC_EXEC_FAILED' });
    expect(long.message).toContain('ENAMETOOLONG');
    const deep = await failureOf(running.exec([`/${'d/'.repeat(2100)}x`]));
    expect(deep.message).toContain('ENAMETOOLONG');
    // Below the limits, the same shapes run.
    expect((await running.exec(['/bin/true', 'x'.repeat(100_000)])).exitCode).toBe(0);
  });

  test('a command that still cannot be executed says why on stderr (126/127)', async () => {
    const missing = await running.exec(['/no/such/program']);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr.toString()).toContain('lxcts: cannot run "/no/such/program": No such file or directory');
    const notExecutable = await running.exec(['/etc/passwd']);
    expect(notExecutable.exitCode).toBe(126);
    expect(notExecutable.stderr.toString()).toContain('Permission denied');
  });

  test('the CLI passes 64,000 words after -- without quadratic parsing', () => {
    const words = Array.from({ length: 64_000 }, (_, i) => `w${i}`);
    const r = lxcts(sandbox.lxcpath, ['exec', running.name, '--', '/bin/sh', '-c', 'echo $#', 'sh', ...words], { timeout: 30_000 });
    expect(r.stdout).toBe('64000\n');
    expect(r.status).toBe(0);
  });

  test('the CLI takes the container name only before --: words after it are the command', () => {
    const r = lxcts(sandbox.lxcpath, ['exec', running.name, '--', '/bin/echo', running.name, '--json']);
    expect(r.stdout).toBe(`${running.name} --json\n`);
    const missing = lxcts(sandbox.lxcpath, ['exec', '--', running.name, '/bin/true']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('missing the container name: it goes before --');
  });
});
