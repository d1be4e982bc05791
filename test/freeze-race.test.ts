/**
 * freeze() racing unfreeze() from two Container objects on one container: liblxc loops
 * until it reads back the freezer state it wrote, so without lxcts taking turns one call
 * spins for good, pins a libuv thread, and release() and the process's exit hang behind
 * it. Each run is a child process (test/fixtures/freeze-race-child.js), so a hang shows as
 * a child that had to be killed, not as a stuck jest.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container } from '../src';
import { Sandbox } from './helpers/sandbox';
import { must } from './helpers/must';

const sandbox = new Sandbox('freeze-race');
const child = path.join(__dirname, 'fixtures', 'freeze-race-child.js');
const RUNS = 3;
const ROUNDS = 30;
/** Calls that may fail without hanging; anything else (and "unsettled") is a failure. */
const CLEAR_CODES = ['LXC_TIMEOUT', 'LXC_FREEZE_FAILED', 'LXC_UNFREEZE_FAILED'];

let c: Container;

beforeAll(async () => {
  c = await sandbox.busybox();
  await c.start();
}, 120_000);

afterAll(() => sandbox.cleanup(), 120_000);

function runChild(args: string[], timeoutMs: number, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [child, sandbox.lxcpath, c.name, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    env: { ...process.env, ...env },
  });
}

type Report = { results: { freeze: string[]; unfreeze: string[] }; released: string[] };

function lxc(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 30_000 }).trim();
  } catch {
    return '';
  }
}

test.each([
  ['two objects on the main thread', '0'],
  ['one object on the main thread, one in a worker_thread', '1'],
])(
  'every freeze and unfreeze settles, release() resolves and the process exits: %s',
  (_label, worker) => {
    for (let run = 0; run < RUNS; run++) {
      const result = runChild([String(ROUNDS)], 120_000, { WORKER: worker });
      // A hung call keeps the process from exiting: it is killed, and signal says so.
      expect({ run, signal: result.signal, status: result.status, stderr: result.stderr }).toEqual({
        run,
        signal: null,
        status: 0,
        stderr: '',
      });
      const report = JSON.parse(result.stdout) as Report;
      expect(report.released).toEqual(['ok', 'ok']);
      for (const outcome of [...report.results.freeze, ...report.results.unfreeze]) {
        expect(['ok', ...CLEAR_CODES]).toContain(outcome);
      }
      expect(report.results.freeze).toHaveLength(ROUNDS);
      expect(report.results.unfreeze).toHaveLength(ROUNDS);

      // One answer: liblxc's idea of the state and the cgroup freezer agree.
      const state = lxc('lxc-info', ['-P', sandbox.lxcpath, '-n', c.name, '-s', '-H']);
      const freezer = lxc('lxc-cgroup', ['-P', sandbox.lxcpath, '-n', c.name, 'freezer.state']);
      expect({ state, freezer }).toEqual(state === 'FROZEN' ? { state, freezer: 'FROZEN' } : { state: 'RUNNING', freezer: 'THAWED' });
      lxc('lxc-unfreeze', ['-P', sandbox.lxcpath, '-n', c.name]);
    }
  },
  600_000,
);

test('a freeze that another process keeps undoing ends with LXC_TIMEOUT within its timeout, and the process exits', async () => {
  // Another process writes THAWED to the container's freezer over and over, as a shell
  // loop of lxc-unfreeze could: liblxc's freeze never reads back FROZEN.
  const pid = Number(lxc('lxc-info', ['-P', sandbox.lxcpath, '-n', c.name, '-p', '-H']));
  const line = fs
    .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1] === 'freezer');
  const freezer = path.join('/sys/fs/cgroup/freezer', must(line?.split(':')[2], 'the freezer line of the container'), 'freezer.state');
  lxc('lxc-unfreeze', ['-P', sandbox.lxcpath, '-n', c.name]);
  // A tight loop: liblxc reads the freezer back microseconds after writing it, and the
  // write has to land in between. Niced, since it spins a core while the child runs.
  const adversary = spawn('nice', ['-n', '19', 'sh', '-c', 'while :; do echo THAWED > "$0"; done', freezer], { stdio: 'ignore' });
  try {
    await new Promise((resolve) => setTimeout(resolve, 300)); // the loop is writing
    // Ten rounds of 1 s timeouts: at most about 20 s, far below the bound unless a call hangs.
    const result = runChild(['10', '1'], 60_000);
    expect({ signal: result.signal, status: result.status, stderr: result.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
    const report = JSON.parse(result.stdout) as Report;
    expect(report.released).toEqual(['ok', 'ok']);
    for (const outcome of [...report.results.freeze, ...report.results.unfreeze]) {
      expect(['ok', ...CLEAR_CODES]).toContain(outcome);
    }
    expect(report.results.freeze).toHaveLength(10);
  } finally {
    adversary.kill('SIGKILL');
    await new Promise((resolve) => adversary.once('exit', resolve));
  }
}, 120_000);
