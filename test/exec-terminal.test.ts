/**
 * exec and spawn with `tty`: the command's terminal is one of the container's own devpts
 * (its /dev/pts/N, as lxc-attach gives), not a terminal of the host that has no name
 * inside the container. Checked through the lxcts-attach helper and in-process (a request
 * too large for the helper), as root and as another user.
 */
import { createHook } from 'node:async_hooks';

import { Container, ContainerProcess } from '../src';
import { buildIdRange, idmapConfig, letRangeSearch } from '../src/ci/id-range';
import { native } from '../src/lxc/native';
import { parentPid } from './helpers/procfs';
import { must } from './helpers/must';
import { failureOf, Sandbox } from './helpers/sandbox';
import { waitFor } from './helpers/wait';

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

describe.each([
  ['through the helper', {}],
  ['in-process', inProcess],
] as const)('the terminal’s streams, %s', (_label, extra) => {
  test('the whole output of a command that prints a lot and exits arrives, every time', async () => {
    // Node 20's tty.ReadStream (libuv 1.46) took a partial read after POLLHUP for the end and
    // dropped the rest: this lost the end of `seq`'s output in about half the runs.
    const expected = Array.from({ length: 3000 }, (_, i) => `${i + 1}\r\n`).join('');
    for (let run = 0; run < 20; run++) {
      const r = await c.exec(['seq', '1', '3000'], { ...extra, tty: true });
      expect({ run, tail: r.stdout.toString().slice(-40), length: r.stdout.length }).toEqual({
        run,
        tail: expected.slice(-40),
        length: expected.length,
      });
    }
  }, 120_000);

  test('the terminal is the container’s again as soon as exec() returns', async () => {
    // One free pseudo-terminal (lxc.pty.max = 1): each exec needs the one before it to have let go.
    for (let run = 0; run < 20; run++) {
      expect(await c.exec(['true'], { ...extra, tty: true })).toMatchObject({ exitCode: 0 });
    }
  });

  test('8 MiB written to a command that does not read leave the event loop turning', async () => {
    // `sleep` never reads its terminal: raw (a canonical terminal drops what overflows its
    // line), the input queue is full after some KiB. A blocking write (Node's
    // tty.WriteStream on a master) froze the event loop until the command ended.
    const proc = await c.spawn(['sh', '-c', 'stty raw -echo; echo ready; exec sleep 30'], { ...extra, tty: true });
    try {
      await readUntil(proc, /ready\n/);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      // The writer waits for the terminal to be ready (a libuv poll handle): a writer that
      // polled it (as the console's did: fs.write again after a pause of 1 to 50 ms) makes a
      // timer and a file request per try while it waits.
      const polls = { n: 0 };
      const hook = createHook({ init: (_id, type) => void (type === 'Timeout' || type === 'FSREQCALLBACK' ? polls.n++ : 0) }).enable();
      let written: Error | null | undefined;
      const accepted = proc.stdin.write(Buffer.alloc(8 << 20, 'x'), (err) => (written = err ?? null));
      expect(accepted).toBe(false); // back-pressure, not a blocked write()
      await waitFor(() => ticks >= 50, 'the event loop to turn while the write waits', { seconds: 20, everyMs: 1000 });
      hook.disable();
      clearInterval(timer);
      expect(written).toBeUndefined(); // still waiting for the command, not failed
      expect(polls.n).toBeLessThanOrEqual(3); // waitFor's own timers: one or two
    } finally {
      await finish(proc);
    }
  }, 60_000);

  test('4 MiB written to a command that reads them all arrive, none lost', async () => {
    const size = 4 << 20;
    const proc = await c.spawn(['sh', '-c', `stty raw -echo; echo ready; head -c ${size} | wc -c`], { ...extra, tty: true });
    try {
      // Raw: no line editing (4 KiB lines), no echo, and no \r added to what the command prints.
      await readUntil(proc, /ready\n/);
      const output = readUntil(proc, /\d+\s*\n/);
      proc.stdin.write(Buffer.alloc(size, 'y'));
      expect((await output).trim()).toBe(String(size));
      expect(await proc.wait()).toEqual({ exitCode: 0, signal: null });
    } finally {
      await finish(proc);
    }
  }, 60_000);
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
