import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container } from '../src';
import { failureOf, Sandbox } from './helpers/sandbox';
import { waitFor } from './helpers/wait';

const sandbox = new Sandbox('execute');
afterAll(() => sandbox.cleanup());

const sh = (script: string) => ['/bin/sh', '-c', script];

describe('execute on a defined container', () => {
  let c: Container;
  beforeAll(async () => {
    c = await sandbox.busybox(sandbox.name('app'));
  });

  test.each([0, 3, 255])('exit %i passes through, with stdout and stderr apart', async (code) => {
    const r = await c.execute(sh(`echo out; echo err >&2; exit ${code}`));
    expect(r).toMatchObject({ exitCode: code, signal: null });
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
  });

  test("the command runs in the container's rootfs with its hostname, and the container stops after", async () => {
    const r = await c.execute(sh('hostname; test -x /bin/busybox && echo busybox-rootfs'));
    expect(r.stdout.toString()).toBe(`${c.name}\nbusybox-rootfs\n`);
    expect(await c.state()).toBe('STOPPED');
  });

  test('a command killed by a signal reports 128+N, as lxc-execute does', async () => {
    expect((await c.execute(sh('kill -KILL $$'))).exitCode).toBe(137);
  });

  test('input reaches stdin and env reaches the command', async () => {
    const r = await c.execute(sh('read x; echo "$x $GREETING"'), { input: 'hello\n', env: { GREETING: 'world' } });
    expect(r.stdout.toString()).toBe('hello world\n');
  });

  test('output can be streamed with spawnExecute', async () => {
    const proc = await c.spawnExecute(['/bin/dd', 'if=/dev/zero', 'bs=65536', 'count=160']);
    proc.stderr.resume();
    let bytes = 0;
    for await (const chunk of proc.stdout) bytes += (chunk as Buffer).length;
    expect(bytes).toBe(160 * 65536);
    expect(await proc.wait()).toEqual({ exitCode: 0, signal: null });
  });

  test('a timeout stops the application container and fails with LXC_TIMEOUT', async () => {
    const err = await failureOf(c.execute(['/bin/sleep', '60'], { timeout: 0.5 }));
    expect(err.code).toBe('LXC_TIMEOUT');
    expect(await c.state()).toBe('STOPPED');
  });

  test('the timeout also bounds the wait for output a process holds after the container stopped', async () => {
    // Sharing another container's pid namespace, the backgrounded sleep outlives this
    // container and keeps its stdout open after the command exited 0.
    const host = await sandbox.busybox(sandbox.name('pidns'));
    await host.start();
    const shared = await sandbox.busybox(sandbox.name('shares'));
    try {
      // Set in the file: the helper loads the config from there.
      fs.appendFileSync(path.join(sandbox.lxcpath, shared.name, 'config'), `lxc.namespace.share.pid = /proc/${await host.initPid()}/ns/pid\n`);
      const err = await failureOf(shared.execute(sh('sleep 20 & echo started'), { timeout: 2 }));
      expect(err).toMatchObject({ code: 'LXC_TIMEOUT', message: expect.stringContaining('exited with status 0, but its output was still open') });
    } finally {
      await host.stop();
      // The sleep sat in this container's cgroups after liblxc gave up removing them; the
      // host's stop killed it, so they are empty now: remove what liblxc left.
      for (const hierarchy of fs.readdirSync('/sys/fs/cgroup')) {
        const left = path.join('/sys/fs/cgroup', hierarchy, `lxc.payload.${shared.name}`);
        if (fs.existsSync(left))
          await waitFor(
            () => {
              try {
                fs.rmdirSync(left);
                return true;
              } catch {
                return false;
              }
            },
            `${left} removed`,
            { seconds: 10, everyMs: 50 },
          );
      }
    }
  }, 60_000);

  test('execute on a running container fails with LXC_ALREADY_RUNNING', async () => {
    await c.start();
    expect((await failureOf(c.execute(['/bin/true']))).code).toBe('LXC_ALREADY_RUNNING');
    await c.stop();
  });

  test("a broken config fails with LXC_START_FAILED and liblxc's reason", async () => {
    const err = await failureOf(c.execute(['/bin/true'], { config: [['lxc.rootfs.path', '/nonexistent/rootfs']] }));
    expect(err.code).toBe('LXC_START_FAILED');
    expect((err.details as string[]).join('\n')).toMatch(/nonexistent|rootfs/);
    expect((await failureOf(c.execute(['/bin/true'], { config: { 'lxc.bogus': 'x' } }))).code).toBe('LXC_INVALID_CONFIG_KEY');
  });
});

test('execute on a container that does not exist runs over the host rootfs and leaves nothing defined', async () => {
  const c = sandbox.container();
  const r = await c.execute(sh('cat /etc/debian_version >/dev/null && echo host-rootfs; exit 4'), {
    config: [
      ['lxc.net', ''],
      ['lxc.net.0.type', 'empty'],
    ],
  });
  expect(r.stderr.toString()).toBe('');
  expect(r).toMatchObject({ exitCode: 4, signal: null });
  expect(r.stdout.toString()).toBe(fs.existsSync('/etc/debian_version') ? 'host-rootfs\n' : '');
  expect(await c.defined()).toBe(false);
});
