/**
 * `lxcts console` on a real pseudo-terminal (tmux, as the exec -it test) and `lxcts monitor`
 * as a process: typing at the console's shell, the window size following tmux, Ctrl-a q
 * detaching with the terminal restored, the errors without a terminal or a running
 * container; monitor's JSON lines in order and its clean end on SIGINT.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container } from '../src';
import { binRun, lxcts } from './helpers/cli';
import { Sandbox } from './helpers/sandbox';
import { waitFor } from './helpers/wait';

const sandbox = new Sandbox('cli-console');
const session = `lxcts-console-${process.pid}`;
const after = path.join(sandbox.lxcpath, 'after');
let c: Container;
let stopped: Container;

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', session);
const until = (check: () => boolean, what: string) => waitFor(check, () => `${what}; screen:\n${screen()}`, { everyMs: 100, seconds: 30 });
const done = () => fs.existsSync(after) && fs.readFileSync(after, 'utf8').includes('end');

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('console-cli'));
  await c.start();
  stopped = await sandbox.busybox(sandbox.name('console-cli'));
}, 120_000);

afterEach(() => {
  try {
    tmux('kill-session', '-t', session);
  } catch {
    // already ended
  }
  fs.rmSync(after, { force: true });
});

afterAll(() => sandbox.cleanup(), 120_000);

/** Runs `lxcts ARGS` in tmux; afterwards its status and whether the terminal is back in canonical mode go to `after`. */
function inTmux(args: string): void {
  const command =
    `LXCTS_LXCPATH=${sandbox.lxcpath} ${process.execPath} ${binRun} ${args}; ` +
    `echo "rc=$?" > ${after}; stty -a | grep -o -- '-\\?icanon' >> ${after}; echo end >> ${after}; sleep 60`;
  tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', command);
}

test('console: a shell at the console, the window size, Ctrl-a q detaches and restores the terminal', async () => {
  inTmux(`console ${c.name} --tty 0`);
  await until(() => screen().includes('Type Ctrl-a q to detach'), 'the greeting');
  tmux('send-keys', '-t', session, 'Enter');
  await until(() => /^\/ #/m.test(screen()), 'the console shell');
  tmux('send-keys', '-t', session, 'echo $((6*7))', 'Enter');
  await until(() => /^42\s*$/m.test(screen()), '42');
  tmux('send-keys', '-t', session, 'stty size', 'Enter');
  await until(() => /^30 100\s*$/m.test(screen()), 'the window size');
  tmux('resize-window', '-t', session, '-x', '120', '-y', '40');
  await new Promise((r) => setTimeout(r, 300));
  tmux('send-keys', '-t', session, 'stty size', 'Enter');
  await until(() => /^40 120\s*$/m.test(screen()), 'the new window size');
  // Ctrl-a Ctrl-a sends one Ctrl-a: the shell's line editor moves to the start of the line.
  tmux('send-keys', '-t', session, 'cho via-ctrl-a', 'C-a', 'C-a', 'e', 'Enter');
  await until(() => /^via-ctrl-a\s*$/m.test(screen()), 'Ctrl-a Ctrl-a to reach the shell');
  tmux('send-keys', '-t', session, 'C-a', 'q');
  await until(done, 'lxcts console to exit');
  const result = fs.readFileSync(after, 'utf8');
  expect(result).toContain('rc=0');
  expect(result).toMatch(/^icanon$/m); // not -icanon: raw mode was undone
  expect(screen()).toContain(`Detached from ${c.name}`);
  expect(await c.state()).toBe('RUNNING');
}, 90_000);

test('console on a container that is not running says so and leaves the terminal as it was', async () => {
  inTmux(`console ${stopped.name}`);
  await until(done, 'lxcts console to exit');
  const result = fs.readFileSync(after, 'utf8');
  expect(result).not.toContain('rc=0');
  expect(result).toMatch(/^icanon$/m);
  expect(screen()).toMatch(/not running/);
}, 60_000);

test('console without a terminal is refused with exit status 2', () => {
  const run = lxcts(sandbox.lxcpath, ['console', c.name]);
  expect(run.status).toBe(2);
  expect(run.stderr).toContain('needs a terminal');
});

test('monitor --json prints one line per state change, in order, and ends cleanly on SIGINT', async () => {
  const child = spawn(process.execPath, [binRun, 'monitor', '--json', stopped.name], {
    env: { ...process.env, LXCTS_LXCPATH: sandbox.lxcpath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(
      () => err.includes('watching'),
      () => `monitor to connect; stderr: ${err}`,
      { seconds: 30 },
    );
    await c.freeze(); // another container: not in the output
    await c.unfreeze();
    await stopped.start();
    await stopped.stop();
    await waitFor(
      () => out.includes('"STOPPED"'),
      () => `the STOPPED line; stdout: ${out}`,
      { seconds: 30 },
    );
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  } finally {
    child.kill('SIGKILL');
  }
  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { container: string; state: string; lxcpath: string; time: string });
  expect(lines.every((l) => l.container === stopped.name && l.lxcpath === sandbox.lxcpath && !Number.isNaN(Date.parse(l.time)))).toBe(true);
  expect(lines.map((l) => l.state).filter((s, i, all) => s !== all[i - 1])).toEqual(['STARTING', 'RUNNING', 'STOPPING', 'STOPPED']);
}, 90_000);
