/**
 * state() asks the container's monitor over its command socket from the event loop
 * (addon/monitor_state.cc), as liblxc does from a thread. These check the answers against
 * liblxc's own after each change, including for an lxcpath too long for the socket's name,
 * where liblxc names the socket by a hash of the path.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container } from '../src';
import { native } from '../src/lxc/native';
import { destroyAllWithTools } from './helpers/lxc-tools';
import { failureOf, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('reads-state');
afterAll(() => sandbox.cleanup());

/** Our answer and liblxc's (a handle of its own, from the thread pool) for the same moment. */
async function bothWays(c: Container): Promise<[string, string]> {
  const liblxc = new (native().NativeContainer)(c.name, c.lxcpath ?? null);
  try {
    return [await c.state(), await liblxc.state()];
  } finally {
    liblxc.release();
  }
}

async function throughChanges(c: Container): Promise<void> {
  expect(await bothWays(c)).toEqual(['STOPPED', 'STOPPED']);
  await c.start();
  expect(await bothWays(c)).toEqual(['RUNNING', 'RUNNING']);
  await c.freeze();
  expect(await bothWays(c)).toEqual(['FROZEN', 'FROZEN']);
  await c.unfreeze();
  expect(await bothWays(c)).toEqual(['RUNNING', 'RUNNING']);
  await c.stop();
  expect(await bothWays(c)).toEqual(['STOPPED', 'STOPPED']);
}

test('state reads as liblxc reads it: stopped, running, frozen, running, stopped', async () => {
  await throughChanges(await sandbox.busybox(sandbox.name('reads')));
});

test('state needs no thread-pool thread: it answers while every one is blocked', async () => {
  const c = await sandbox.busybox(sandbox.name('reads'));
  await c.start();
  // Opening a FIFO for reading blocks until a writer comes: each open holds a pool thread.
  const fifo = path.join(sandbox.lxcpath, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const size = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const held = Array.from({ length: size }, () => fs.promises.open(fifo, 'r'));
  try {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise((resolve) => (timer = setTimeout(resolve, 5000, 'no answer while the pool was busy')));
    const answer = await Promise.race([c.state(), deadline]).finally(() => clearTimeout(timer));
    expect(answer).toBe('RUNNING');
  } finally {
    // Writers let the opens finish, and the pool go.
    const writers = Array.from({ length: size }, () => fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
    for (const handle of await Promise.all(held)) await handle.close();
    for (const w of writers) fs.closeSync(w);
    await c.stop();
  }
});

test('the same in an lxcpath too long for the socket name (liblxc hashes it)', async () => {
  const long = path.join(sandbox.lxcpath, 'a-directory-name-long-enough'.repeat(4));
  fs.mkdirSync(long, { recursive: true });
  const c = new Container(sandbox.name('reads'), { lxcpath: long });
  try {
    expect(`${long}/${c.name}/command`.length).toBeGreaterThan(106);
    await c.clearConfigItem('lxc.net');
    await c.setConfigItem('lxc.net.0.type', 'empty');
    await c.create({ template: 'busybox' });
    await throughChanges(c);
  } finally {
    await c.release();
    destroyAllWithTools(long);
  }
});

/**
 * A listener on the abstract name of `c`'s command socket, as anyone on the host may bind it
 * (python: Node pads an abstract name to the whole sun_path, liblxc does not). With `answer`
 * it says RUNNING to every request (liblxc's reply: ret 0, the state in the pointer field),
 * otherwise it never answers. Resolves with its pid once it listens; the caller kills it.
 */
async function listener(c: Container, uid: number, answer: boolean): Promise<number> {
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
    "s.bind('\\0' + sys.argv[1])",
    's.listen(8)',
    "print('listening', flush=True)",
    'held = []',
    'while True:',
    '    conn, _ = s.accept()',
    '    held.append(conn)',
    "    if sys.argv[2] == 'answer':",
    '        conn.recv(64)',
    '        conn.sendall(bytes([0] * 8 + [2] + [0] * 7))',
  ].join('\n');
  const child = spawn('python3', ['-c', script, `${c.lxcpath}/${c.name}/command`, answer ? 'answer' : 'silent'], {
    uid,
    gid: uid,
    cwd: '/',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => ['exited'])])) as [Buffer | string];
  if (!String(line).startsWith('listening')) {
    child.kill('SIGKILL');
    throw new Error(`the listener did not start: ${JSON.stringify(String(line))}`);
  }
  return child.pid!;
}

const NOBODY = 65534;

test.each([
  ['says RUNNING', true],
  ['never answers', false],
])(
  "a host user's listener on a stopped container's socket name that %s: state() is STOPPED",
  async (_, answer) => {
    const c = await sandbox.busybox(sandbox.name('reads'));
    const pid = await listener(c, NOBODY, answer);
    try {
      expect(await c.state()).toBe('STOPPED');
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  },
  30_000,
);

test('a monitor of ours that takes the request and never answers: state() fails with LXC_TIMEOUT', async () => {
  const c = await sandbox.busybox(sandbox.name('reads'));
  const pid = await listener(c, process.getuid!(), false);
  try {
    const err = await failureOf(c.state());
    expect(err.code).toBe('LXC_TIMEOUT');
  } finally {
    process.kill(pid, 'SIGKILL');
  }
}, 30_000);
