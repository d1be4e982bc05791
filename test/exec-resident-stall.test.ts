/**
 * The exec fast path (`exec: 'resident'`) when root in the container stops the resident with
 * SIGSTOP: it neither reaps nor reports its commands nor answers requests any more. Every
 * call must still end: a deadline's call rejects with LXC_TIMEOUT, one without a deadline
 * fails clearly once its command has ended unreported, a request the resident does not
 * answer fails clearly, and the next exec starts a new resident.
 *
 * Without the fix each of these calls stays pending for ever (the jest timeout fails it).
 */
import * as fs from 'node:fs';

import { Container } from '../src';
import { parentPid } from './helpers/procfs';
import { failureOf, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('resident-stall');
let attach: Container;
let resident: Container;

const sh = (script: string) => ['/bin/sh', '-c', script];

beforeAll(async () => {
  attach = await sandbox.busybox(sandbox.name('stall'));
  await attach.start();
  resident = new Container(attach.name, { lxcpath: sandbox.lxcpath, exec: 'resident' });
});
afterAll(async () => {
  await resident?.release();
  await sandbox.cleanup();
});

/** The resident's host pid, from a command it runs (and that the fast path really was taken). */
async function residentPid(): Promise<number> {
  const proc = await resident.spawn(sh('read go'));
  try {
    const pid = parentPid(proc.pid);
    expect(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe('lxcts-resident');
    return pid;
  } finally {
    proc.stdin.end('go\n');
    await proc.wait();
  }
}

/** The next exec runs, through a new resident. */
async function expectRespawned(stopped: number): Promise<void> {
  const next = await resident.exec(['echo', 'again']);
  expect(next.stdout.toString()).toBe('again\n');
  expect(await residentPid()).not.toBe(stopped);
}

test('a command that stops its resident, with a timeout: rejects with LXC_TIMEOUT, and the next exec respawns it', async () => {
  const before = await residentPid();
  // $PPID is the resident: the command's parent. The command stops it only once the resident
  // has answered the start (spawn() resolved): stopped before that, on a loaded machine, the
  // start itself is what goes unanswered, which the third test covers.
  const proc = await resident.spawn(sh('read go; kill -STOP $PPID; exit 7'), { timeout: 2 });
  proc.stdin.end('go\n');
  const err = await failureOf(proc.wait());
  expect(err.code).toBe('LXC_TIMEOUT');
  await expectRespawned(before);
}, 60_000);

test('a command that stops its resident, without a timeout: its end is noticed and the wait fails clearly', async () => {
  const before = await residentPid();
  const err = await failureOf(resident.exec(sh('kill -STOP $PPID; exit 7')));
  expect(err.code).toBe('LXC_EXEC_FAILED');
  expect(err.message).toMatch(/resident process of container ".*" stopped answering/);
  await expectRespawned(before);
}, 60_000);

test('a resident stopped between two execs: the request fails clearly, and the next exec respawns it', async () => {
  const before = await residentPid();
  // Root in the container, by the normal path.
  const stop = await attach.exec(sh('kill -STOP $(pidof lxcts-resident)'));
  expect(stop.exitCode).toBe(0);
  const err = await failureOf(resident.exec(['true']));
  expect(err.code).toBe('LXC_EXEC_FAILED');
  expect(err.message).toMatch(/resident process of container ".*" stopped answering/);
  await expectRespawned(before);
}, 60_000);
