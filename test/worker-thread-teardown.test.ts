/**
 * A worker_thread that is terminated while an lxcts call is in flight must not take the
 * process down: the addon's threads and event-loop handles outlive (or are closed with)
 * the worker's environment, and the addon's code stays loaded while they run. Each case
 * runs in a child process of its own (test/fixtures/worker-teardown-child.js), with and
 * without the main thread loading lxcts too, several times with different delays so the
 * terminate lands at different points of the call. A worker that ends holding what lxcts
 * gave it (a console, a watch, a pidfd, a command on a terminal) leaves no descriptor open.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { Container } from '../src';
import { Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('teardown');
const child = path.join(__dirname, 'fixtures', 'worker-teardown-child.js');
/** ms between the worker's call and terminate(): from "just queued" to "deep inside liblxc". */
const DELAYS = [0, 10, 30, 100, 300];
/** The child lingers about 2 s after terminate(); far below this unless it hangs. */
const CHILD_BOUND_MS = 45_000;

let stopped: Container;
let running: Container;

beforeAll(async () => {
  stopped = await sandbox.busybox(sandbox.name('stopped'));
  running = await sandbox.busybox(sandbox.name('running'));
  await running.start();
}, 120_000);

afterAll(() => sandbox.cleanup(), 120_000);

function lxc(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 30_000 });
  } catch {
    return '';
  }
}

function runChild(op: string, mainLoads: boolean, name: string, delay: number) {
  const run = spawnSync(process.execPath, [child, op, mainLoads ? '1' : '0', sandbox.lxcpath, name], {
    encoding: 'utf8',
    timeout: CHILD_BOUND_MS,
    killSignal: 'SIGKILL',
    env: { ...process.env, DELAY: String(delay) },
  });
  return { status: run.status, signal: run.signal, stdout: run.stdout, stderr: run.stderr };
}

function expectSurvived(run: ReturnType<typeof runChild>, mainLoads: boolean): void {
  // signal is SIGSEGV/SIGABRT when the process crashed, SIGKILL when terminate() hung.
  expect({ signal: run.signal, status: run.status, stderr: run.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
  expect(run.stdout).toContain('terminated');
  expect(run.stdout).toContain('zombies: 0');
  if (mainLoads) expect(run.stdout).toContain('main ok');
}

describe.each([
  ['only the worker loads lxcts', false],
  ['the main thread loads lxcts too', true],
])('terminating a worker mid-call, %s', (_label, mainLoads) => {
  test('during create() the process survives and terminate() returns', () => {
    for (const delay of DELAYS) {
      const name = sandbox.name('create');
      try {
        const run = runChild('create', mainLoads, name, delay);
        expectSurvived(run, mainLoads);
      } finally {
        // The create carried on in the background after the worker ended: remove what it made.
        lxc('lxc-destroy', ['-P', sandbox.lxcpath, '-n', name, '-f']);
      }
      // Nothing the dead worker started is left running.
      expect(lxc('lxc-ls', ['-P', sandbox.lxcpath, '--running', '-1']).trim().split('\n')).toEqual([running.name]);
    }
  }, 300_000);

  test('during wait() the process survives and terminate() returns', () => {
    for (const delay of DELAYS) expectSurvived(runChild('wait', mainLoads, stopped.name, delay), mainLoads);
    expect(lxc('lxc-info', ['-P', sandbox.lxcpath, '-n', stopped.name, '-s'])).toContain('STOPPED');
  }, 300_000);

  test('ending while holding a console, a watch, a pidfd and a command on a terminal leaves none of their descriptors open', () => {
    for (const delay of [0, 100]) {
      const run = runChild('holds', mainLoads, running.name, delay);
      expectSurvived(run, mainLoads);
      expect(run.stdout).toMatch(/fds left: 0 /);
    }
    expect(lxc('lxc-info', ['-P', sandbox.lxcpath, '-n', running.name, '-s'])).toContain('RUNNING');
  }, 300_000);

  test('during exec (through the helper and in-process) the process survives, terminate() returns, the command is reaped', () => {
    for (const op of ['exec', 'exec-in-process']) {
      for (const delay of DELAYS) expectSurvived(runChild(op, mainLoads, running.name, delay), mainLoads);
    }
    expect(lxc('lxc-info', ['-P', sandbox.lxcpath, '-n', running.name, '-s'])).toContain('RUNNING');
  }, 300_000);
});
