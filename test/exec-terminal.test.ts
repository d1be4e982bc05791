/**
 * exec and spawn with `tty`: the command's terminal is one of the container's own devpts
 * (its /dev/pts/N, as lxc-attach gives), not a terminal of the host that has no name
 * inside the container. Checked through the lxcts-attach helper and in-process (a request
 * too large for the helper), as root and as another user.
 */
import { Container, ContainerProcess } from '../src';
import { buildIdRange, idmapConfig, letRangeSearch } from '../src/ci/id-range';
import { native } from '../src/lxc/native';
import { parentPid } from './helpers/procfs';
import { must } from './helpers/must';
import { failureOf, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('tty');
let c: Container;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('tty'));
  await c.start();
});
afterAll(() => sandbox.cleanup());

// Above the helper's 64 KiB request limit: such a request is attached in-process.
const inProcess = { env: { BIG: 'x'.repeat(70 * 1024) } };

/** Everything the command has written once `pattern` has been seen (the stream stays open). */
function readUntil(proc: ContainerProcess, pattern: RegExp): Promise<string> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (!pattern.test(seen)) return;
      proc.stdout.off('data', onData);
      resolve(seen);
    };
    proc.stdout.on('data', onData);
    proc.stdout.once('end', () => reject(new Error(`output ended before ${pattern}: ${JSON.stringify(seen)}`)));
  });
}

/**
 * Kills the command and closes our ends of its terminal: a busybox container has one free
 * pseudo-terminal (lxc.pty.max = 1), held as long as any descriptor of the master is open.
 */
async function finish(proc: ContainerProcess): Promise<void> {
  proc.kill('SIGKILL');
  await proc.wait();
  // The terminal is the container's again only once both our descriptors of it are closed
  // (the input's waits for a write in progress to give up).
  const closed = [proc.stdin, proc.stdout].map((s) => (s.closed ? Promise.resolve() : new Promise((r) => s.once('close', r))));
  proc.stdin.destroy();
  proc.stdout.destroy();
  await Promise.all(closed);
}

describe.each([
  ['through the helper', {}, 'helper'],
  ['in-process', inProcess, 'self'],
] as const)('%s', (_label, extra, attacher) => {
  test('`tty` names a terminal of the container, which is the command’s stdin', async () => {
    const r = await c.exec(['sh', '-c', 'tty; readlink /proc/self/fd/0'], { ...extra, tty: true });
    const [name, stdin] = r.stdout.toString().split('\r\n');
    expect(r.exitCode).toBe(0);
    expect(name).toMatch(/^\/dev\/pts\/\d+$/);
    expect(stdin).toBe(name);
  });

  test('the terminal exists in the container’s /dev/pts while the command runs', async () => {
    const proc = await c.spawn(['sh', '-c', 'tty; sleep 30'], { ...extra, tty: true });
    try {
      expect(parentPid(proc.pid)).toBe(attacher === 'helper' ? native().attachHelperPid() : process.pid);
      const name = must((await readUntil(proc, /\r\n/)).match(/^(\/dev\/pts\/\d+)\r\n/)?.[1], 'a /dev/pts name');
      // Seen by another command, through pipes: a character device of the container's devpts.
      const listing = await c.exec(['ls', '-l', name]);
      expect(listing.exitCode).toBe(0);
      expect(listing.stdout.toString()).toMatch(/^c/);
    } finally {
      await finish(proc);
    }
  });

  test('resize() changes the window the command sees', async () => {
    const proc = await c.spawn(['sh', '-c', 'stty size; read line; stty size'], { ...extra, tty: { cols: 90, rows: 20 } });
    try {
      expect(await readUntil(proc, /20 90\r\n/)).toMatch(/20 90\r\n/);
      expect(proc.resize(132, 43)).toBe(true);
      proc.stdin.write('go\n');
      expect(await readUntil(proc, /43 132\r\n/)).toMatch(/43 132\r\n/);
      expect(await proc.wait()).toEqual({ exitCode: 0, signal: null });
    } finally {
      await finish(proc);
    }
  });
});

test('the terminal belongs to the user the command runs as', async () => {
  const r = await c.exec(['sh', '-c', 'ls -ln "$(tty)"'], { tty: true, uid: 1000, gid: 1000 });
  expect(r.exitCode).toBe(0);
  // crwx------ 1 1000 5 136, N ...: owned by uid 1000, and other users have no access.
  expect(r.stdout.toString()).toMatch(/^c.{6}---\s+\d+\s+1000\s/);
});

test('in an unprivileged container too, the terminal belongs to the command’s user, not to nobody', async () => {
  const range = buildIdRange();
  letRangeSearch([sandbox.lxcpath], sandbox.lxcpath, range);
  const u = sandbox.container(sandbox.name('unpriv'));
  await u.clearConfigItem('lxc.net');
  await u.setConfigItem('lxc.net.0.type', 'empty');
  for (const [key, value] of idmapConfig(range)) await u.setConfigItem(key, value);
  await u.create({ template: 'busybox' });
  await u.start();
  try {
    for (const id of [0, 1000]) {
      const r = await u.exec(['sh', '-c', 'ls -ln "$(tty)"'], { tty: true, uid: id, gid: id });
      expect(r.exitCode).toBe(0);
      expect(r.stdout.toString()).toMatch(new RegExp(`^c.{6}---\\s+\\d+\\s+${id}\\s`));
    }
  } finally {
    await u.stop();
  }
});

test('when the container’s devpts is full, the call fails saying so instead of using a host terminal', async () => {
  const holder = await c.spawn(['sleep', '30'], { tty: true });
  try {
    expect(await failureOf(c.exec(['tty'], { tty: true }))).toMatchObject({
      code: 'LXC_EXEC_FAILED',
      message: expect.stringContaining('lxc.pty.max'),
    });
  } finally {
    await finish(holder);
  }
});

test('a terminal for a stopped container is LXC_NOT_RUNNING', async () => {
  const stopped = await sandbox.busybox(sandbox.name('down'));
  expect(await failureOf(stopped.exec(['tty'], { tty: true }))).toMatchObject({ code: 'LXC_NOT_RUNNING' });
});

test('a container without a devpts of its own (lxc.pty.max = 0) still gets a terminal, the host’s', async () => {
  const bare = await sandbox.busybox(sandbox.name('nopts'));
  await bare.setConfigItem('lxc.pty.max', '0');
  await bare.start();
  try {
    const bareRun = await bare.exec(['sh', '-c', 'stty size; tty'], { tty: { cols: 70, rows: 11 } });
    // A terminal (stty works) that has no name inside the container.
    expect(bareRun.stdout.toString()).toBe('11 70\r\nnot a tty\r\n');
    expect(bareRun.exitCode).toBe(1);
  } finally {
    await bare.stop();
  }
});
