/**
 * watch() and Container.watch() against real containers: the states of a start, freeze,
 * unfreeze and stop in order; one container's events only; records forged on liblxc's
 * monitor FIFO with names that are no container names are dropped; ending the iteration
 * (break, return(), close(), an AbortSignal) leaves no descriptor open; a monitor socket
 * served by another user than root or us is refused.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Container, ContainerEvent, watch } from '../src';
import { Sandbox } from './helpers/sandbox';
import { fdCount } from './helpers/procfs';
import { ROOT } from './helpers/root';
import { waitFor } from './helpers/wait';
import { monitorRecord as record } from './helpers/monitor-record';

const sandbox = new Sandbox('watch');
let a: Container;
let b: Container;

beforeAll(async () => {
  a = await sandbox.busybox(sandbox.name('console-w'));
  b = await sandbox.busybox(sandbox.name('console-w'));
}, 120_000);

afterAll(() => sandbox.cleanup(), 120_000);

/** Collects events until `until` says stop. */
async function gather(events: AsyncIterable<ContainerEvent>, until: (seen: ContainerEvent[]) => boolean): Promise<ContainerEvent[]> {
  const seen: ContainerEvent[] = [];
  for await (const e of events) {
    seen.push(e);
    if (until(seen)) break;
  }
  return seen;
}

/** True when `wanted` appears in `states` in this order (liblxc repeats some states). */
function inOrder(states: string[], wanted: string[]): boolean {
  let i = 0;
  for (const s of states) if (s === wanted[i]) i++;
  return i === wanted.length;
}

test('a start, freeze, unfreeze and stop are seen in order, for the lxcpath', async () => {
  const events = await watch({ lxcpath: sandbox.lxcpath });
  const seen = gather(events, (s) => s.some((e) => e.container === a.name && e.state === 'STOPPED'));
  await a.start();
  await a.freeze();
  await a.unfreeze();
  await a.stop();
  const states = (await seen).filter((e) => e.container === a.name).map((e) => e.state);
  expect(inOrder(states, ['STARTING', 'RUNNING', 'FREEZING', 'FROZEN', 'THAWED', 'STOPPING', 'STOPPED'])).toBe(true);
  expect((await seen).every((e) => e.lxcpath === sandbox.lxcpath)).toBe(true);
}, 120_000);

test("Container.watch() sees only that container's events", async () => {
  const events = await a.watch();
  const seen = gather(events, (s) => s.some((e) => e.state === 'STOPPED'));
  await b.start(); // another container of the same lxcpath, first
  await b.stop();
  await a.start();
  await a.stop();
  const got = await seen;
  expect(got.map((e) => e.container)).toEqual(got.map(() => a.name));
  expect(
    inOrder(
      got.map((e) => e.state),
      ['STARTING', 'RUNNING', 'STOPPING', 'STOPPED'],
    ),
  ).toBe(true);
}, 120_000);

test('records on the monitor FIFO whose name is no container name, or whose state is unknown, are dropped', async () => {
  const events = await watch({ lxcpath: sandbox.lxcpath });
  // lxc-monitord reads the FIFO liblxc's monitors write to (root's run directory).
  const fifo = `/run/lxc/${sandbox.lxcpath}/monitor-fifo`;
  expect(fs.statSync(fifo).isFIFO()).toBe(true);
  const forged = [
    record('../../etc/passwd', 2),
    record('-rf', 2),
    record('name with space', 2),
    record('evil\nline', 2),
    record(Buffer.alloc(256, 'a'), 2), // unterminated
    record('valid-but-bad-state', 99),
    record('priority-message', 2, 1),
    record('console-forged-ok', 6), // the one well-formed record: FROZEN
  ];
  const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  try {
    for (const r of forged) fs.writeSync(fd, r);
  } finally {
    fs.closeSync(fd);
  }
  const got = await gather(events, (s) => s.some((e) => e.container === 'console-forged-ok'));
  expect(got).toEqual([{ container: 'console-forged-ok', lxcpath: sandbox.lxcpath, state: 'FROZEN' }]);
}, 60_000);

test('ending the iteration in any way leaves no descriptor open', async () => {
  // Warm up: the first watch may start lxc-monitord and load what Node loads once.
  (await watch({ lxcpath: sandbox.lxcpath })).close();
  const before = fdCount();

  // break out of a loop while an event is pending
  const broken = await watch({ lxcpath: sandbox.lxcpath });
  const loop = gather(broken, () => true);
  await a.start();
  await loop;
  await a.stop();

  // return() on an iterator never iterated
  await (await watch({ lxcpath: sandbox.lxcpath })).return();

  // close() while a next() waits: the iteration ends
  const closing = await watch({ lxcpath: sandbox.lxcpath });
  const waiting = closing.next();
  closing.close();
  expect((await waiting).done).toBe(true);

  // an AbortSignal while a next() waits: the iteration rejects with an AbortError
  const controller = new AbortController();
  const aborted = await watch({ lxcpath: sandbox.lxcpath, signal: controller.signal });
  const pending = aborted.next();
  controller.abort();
  await expect(pending).rejects.toMatchObject({ name: 'AbortError' });

  // many at once, each returned
  for (let i = 0; i < 20; i++) await (await watch({ lxcpath: sandbox.lxcpath })).return();

  await waitFor(
    () => fdCount() === before,
    () => `descriptors: ${before} before, ${fdCount()} after`,
    { seconds: 10 },
  );
}, 120_000);

test('bad options are refused before anything is opened', async () => {
  await expect(watch({ lxcpath: 'relative dir with spaces' })).rejects.toThrow(TypeError);
  await expect(watch({ lxcpath: sandbox.lxcpath, containers: ['../x'] })).rejects.toMatchObject({ code: 'LXC_INVALID_NAME' });
  const controller = new AbortController();
  controller.abort();
  await expect(watch({ lxcpath: sandbox.lxcpath, signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
});

test('an iterator abandoned after an event does not keep its process alive', async () => {
  // A separate process: it reads one event, drops the iterator without return(), and must
  // then end by itself (the socket, still reading, is unref'd while nobody waits on it).
  const script = [
    `const { watch } = require(${JSON.stringify(path.join(ROOT, 'dist'))});`,
    `watch({ lxcpath: ${JSON.stringify(sandbox.lxcpath)} }).then(async (events) => {`,
    "  console.log('connected');",
    '  const first = await events.next();',
    "  console.log('got ' + first.value.state);",
    '});',
  ].join('\n');
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(
      () => out.includes('connected'),
      () => `the child to connect: ${out}`,
      { seconds: 30 },
    );
    await a.start();
    await a.stop();
    await waitFor(
      () => out.includes('got'),
      () => `the child to see an event: ${out}`,
      { seconds: 30 },
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    expect(await exited).toBe(0);
    clearTimeout(timer);
  } finally {
    child.kill('SIGKILL');
  }
}, 90_000);

/** liblxc's abstract monitor socket name for `lxcpath`, without the leading NUL (lxc_monitor_sock_name). */
function monitorSocketName(lxcpath: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(`lxc/${lxcpath}/monitor-sock`)) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  return `lxc/${hash.toString(16).padStart(16, '0')}/${lxcpath}`;
}

test('a monitor socket bound first by another user (not root, not us) is refused, not read', async () => {
  // A fresh lxcpath nobody serves: `nobody` binds its socket name before any lxc-monitord,
  // and would send a forged record to whoever connects.
  const lxcpath = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-watch-forged-'));
  // python3, not node: node pads an abstract name to the whole sun_path, liblxc does not.
  const script = [
    'import socket, sys',
    'server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
    "server.bind('\\0' + sys.argv[1])",
    'server.listen()',
    "print('listening', flush=True)",
    'while True:',
    '    client, _ = server.accept()',
    '    client.sendall(bytes.fromhex(sys.argv[2]))',
    '    client.close()',
  ].join('\n');
  const child = spawn('python3', ['-c', script, monitorSocketName(lxcpath), record('forged', 3).toString('hex')], {
    uid: 65534,
    gid: 65534,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitFor(
      () => out.includes('listening'),
      () => `nobody to bind the monitor socket: ${out}`,
      { seconds: 30 },
    );
    await expect(watch({ lxcpath })).rejects.toMatchObject({ code: 'LXC_MONITOR_FAILED', message: expect.stringMatching(/served by uid 65534 .*refused/) });
  } finally {
    child.kill('SIGKILL');
    fs.rmSync(lxcpath, { recursive: true, force: true });
  }
});
