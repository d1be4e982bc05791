import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { binRun } from './helpers/cli';
import { Sandbox } from './helpers/sandbox';
import { waitFor } from './helpers/wait';

// A real pseudo-terminal: tmux runs `lxcts exec -it`, types into it and reads its screen.
const sandbox = new Sandbox('interactive');
const session = `lxcts-test-${process.pid}`;
const rcFile = path.join(sandbox.lxcpath, 'exit-status');

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', session);

/** Waits for what the screen should show; a timeout prints the screen. */
const until = (check: () => boolean, what: string) => waitFor(check, () => `${what}; screen:\n${screen()}`, { everyMs: 100 });

beforeAll(async () => {
  const c = await sandbox.busybox('shell');
  await c.start();
});
afterAll(async () => {
  try {
    tmux('kill-session', '-t', session);
  } catch {
    // already ended
  }
  await sandbox.cleanup();
});

test('exec -it gives a working shell: arithmetic, Ctrl-C to the container, window size, exit status', async () => {
  const command = `LXCTS_LXCPATH=${sandbox.lxcpath} ${process.execPath} ${binRun} exec -it shell -- /bin/sh; echo $? > ${rcFile}`;
  tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', command);
  await until(() => /^\/ # ?$/m.test(screen()), 'the shell prompt');

  tmux('send-keys', '-t', session, 'echo $((6*7))', 'Enter');
  await until(() => /^42$/m.test(screen()), '42');

  // Ctrl-C interrupts the command inside the container, not lxcts.
  tmux('send-keys', '-t', session, 'sleep 1000', 'Enter');
  await new Promise((r) => setTimeout(r, 300));
  tmux('send-keys', '-t', session, 'C-c');
  tmux('send-keys', '-t', session, 'echo still-here', 'Enter');
  await until(() => /^still-here$/m.test(screen()), 'the shell to survive Ctrl-C');

  tmux('send-keys', '-t', session, 'stty size', 'Enter');
  await until(() => /^30 100$/m.test(screen()), 'the window size');
  tmux('resize-window', '-t', session, '-x', '120', '-y', '40');
  await new Promise((r) => setTimeout(r, 300));
  tmux('send-keys', '-t', session, 'clear; stty size', 'Enter');
  await until(() => /^40 120$/m.test(screen()), 'the new window size');

  tmux('send-keys', '-t', session, 'exit 7', 'Enter');
  await until(() => fs.existsSync(rcFile) && fs.readFileSync(rcFile, 'utf8').trim() !== '', 'lxcts to exit');
  expect(fs.readFileSync(rcFile, 'utf8').trim()).toBe('7');
});
