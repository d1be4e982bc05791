/**
 * The exec fast path treats its resident's answers as hostile (the resident is the
 * container's process): a stand-in (test/fixtures/fake-resident.py) answers a command
 * request with a short or garbled answer, no pidfd, a pipe instead of one, a pidfd whose pid
 * is not the one it names, too many descriptors, a nonsense errno, an impossible exit status,
 * or closes; each is refused with LXC_EXEC_FAILED and leaves no descriptor behind. A well-formed
 * answer (the control) is taken: the pid, the ack, the exit status.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';

import { checkSpawnOptions } from '../src/lxc/exec';
import { native, type NativeAttached } from '../src/lxc/native';
import { checkedExit } from '../src/lxc/resident-exec';
import { fdCount } from './helpers/procfs';
import { failureOf } from './helpers/sandbox';

const FAKE = path.join(__dirname, 'fixtures', 'fake-resident.py');

interface Fake {
  child: ChildProcess;
  fd: number;
  depth: number;
}

async function fake(scenario: string): Promise<Fake> {
  const child = spawn('python3', [FAKE, scenario], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const match = /^lxcts-resident (\d+)\n$/.exec(line.toString());
  if (match === null) throw new Error(`the fake said ${JSON.stringify(line.toString())}`);
  const { fd, depth } = native().residentConnect(-1, Number(match[1]), child.pid!);
  return { child, fd, depth };
}

async function end(f: Fake): Promise<void> {
  fs.closeSync(f.fd);
  if (f.child.exitCode === null) await once(f.child, 'exit');
}

function request(f: Fake): Promise<NativeAttached> {
  const started = native().residentExec(f.fd, f.depth, 'fake', ['true'], checkSpawnOptions({}, false).native);
  if (started === null || started === 'gone') throw new Error(`the request was not taken (${started})`);
  return started;
}

describe.each([
  ['short', /answer of the wrong size/],
  ['garbage', /something other than an answer|answer of the wrong size/],
  ['close', /ended before it started the command/],
  ['no-fd', /could not start the command: Protocol error/],
  ['pipe-fd', /something other than the command's pidfd/],
  ['wrong-pid', /something other than the command's pidfd/],
  ['many-fds', /answer of the wrong size/],
  ['errno', /could not start the command: Protocol error/],
])('an answer that is %s', (scenario, message) => {
  test('is refused, and leaves no descriptor open', async () => {
    const before = fdCount();
    const f = await fake(scenario);
    try {
      const err = await failureOf(request(f));
      expect({ code: err.code, message: err.message }).toEqual({ code: 'LXC_EXEC_FAILED', message: expect.stringMatching(message) });
    } finally {
      await end(f);
    }
    expect(fdCount()).toBeLessThanOrEqual(before); // fewer is fine: a descriptor open at the first count (one of Jest's) may close meanwhile
  });
});

test('an impossible exit status is refused; a well-formed one is taken', async () => {
  for (const [scenario, expected] of [
    ['exit-status', 'impossible'],
    ['valid', 'exit 7'],
  ] as const) {
    const f = await fake(scenario);
    try {
      const attached = await request(f);
      const proc = new (native().NativeProcess)(attached.pid, attached.pidfd, attached.statusFd);
      for (const fd of [attached.stdin, attached.stdout, attached.stderr]) if (fd >= 0) fs.closeSync(fd);
      const exited = checkedExit(
        proc.wait().then(({ exitCode, signal }) => ({ exitCode, signal: signal === null ? null : 'SIGKILL' })),
        attached.pid,
        'exec',
        'fake',
      );
      if (expected === 'impossible') {
        const err = await failureOf(exited);
        expect(err.message).toMatch(/reported an impossible exit status/);
      } else {
        expect(await exited).toEqual({ exitCode: 7, signal: null });
        expect(attached.pid).toBeGreaterThan(f.child.pid!);
      }
    } finally {
      await end(f);
    }
  }
});
