/**
 * The resident lxcts-lifecycle server (addon/lifecycle_server.cc): lifecycle calls run in
 * processes it forks, not in a helper Node spawns per call; killed, it takes its calls down
 * the way a killed helper did, and the next call gets a new server. Its processes keep the
 * name lxcts-lifecycle; a spare that cannot hand its call over, and a spare's exit reaped
 * before its handover was read, are forced with strace's fault injection.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { alive, parentPid, processesMatching, zombieChildren } from './helpers/procfs';
import { Sandbox } from './helpers/sandbox';
import { slowTemplate } from './helpers/slow-template';
import { at, must } from './helpers/must';
import { waitFor } from './helpers/wait';

const sandbox = new Sandbox('lifecycle-server');
const slow = slowTemplate('lifecycle-server', 8);
const TOKEN = slow.token;

afterAll(async () => {
  for (const pid of processesMatching(TOKEN)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  await sandbox.cleanup();
  slow.remove();
});

function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

async function settled(check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** The process name the kernel keeps (pgrep, ps -C, killall and the OOM killer's log go by it). */
function comm(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

/** The spare `server` keeps forked for the next request, once there is exactly one. */
async function spareOf(server: number): Promise<number> {
  const spares = () => processesMatching('lxcts-lifecycle --spare').filter((pid) => parentPid(pid) === server);
  await waitFor(
    () => spares().length === 1,
    () => `one spare of server ${server}, saw ${JSON.stringify(spares())}`,
  );
  return at(spares(), 0);
}

interface Strace {
  /** What strace has written so far (its trace and its notes: attached, signals, stops). */
  output(): string;
  /** Detaches it (SIGTERM) and waits for its exit. */
  stop(): Promise<void>;
}

/**
 * strace attached to `pid` with `args` (fault injection), resolved once attached. strace is
 * installed by scripts/setup-host.sh.
 */
async function straceOn(pid: number, args: string[]): Promise<Strace> {
  const child = spawn('strace', ['-p', String(pid), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = once(child, 'exit');
  await once(child, 'spawn');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  try {
    await waitFor(
      () => output.includes('attached') || child.exitCode !== null,
      () => `strace to attach to ${pid}: ${output}`,
    );
    expect(output).toContain(`Process ${pid} attached`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { output: () => output, stop };
}

/** Starts a create() from the slow template; resolves with the call's helper process once the template runs. */
async function slowCreate(name: string): Promise<{ creating: Promise<string>; message: Promise<string>; helper: number }> {
  const c = sandbox.container(name);
  await c.clearConfigItem('lxc.net');
  await c.setConfigItem('lxc.net.0.type', 'empty');
  const outcome = c.create({ template: slow.path }).then(
    () => ({ code: 'ok', message: '' }),
    (err: { code?: string; message?: string }) => ({ code: err.code ?? String(err), message: err.message ?? '' }),
  );
  const creating = outcome.then((o) => o.code);
  const message = outcome.then((o) => o.message);
  await settled(() => fs.existsSync(path.join(sandbox.lxcpath, name, 'template-running')));
  const helpers = processesMatching('lxcts-lifecycle').filter((pid) => commandLine(pid).includes(` create ${name} `));
  expect(helpers).toHaveLength(1);
  return { creating, message, helper: at(helpers, 0) };
}

test("a lifecycle call runs in a process forked by this process's resident server, which serves the next call too", async () => {
  const first = await slowCreate(sandbox.name('ls'));
  const server = parentPid(first.helper);
  // Spawned per call, the helper's parent would be this process itself.
  expect(server).not.toBe(process.pid);
  expect(parentPid(server)).toBe(process.pid);
  expect(commandLine(server)).toContain('lxcts-lifecycle --serve');
  // The call's process looks like a spawned helper: "lxcts-lifecycle NODE_PID create NAME ...".
  expect(commandLine(first.helper)).toContain(`lxcts-lifecycle ${process.pid} create `);
  process.kill(first.helper, 'SIGKILL');
  expect(await first.creating).toBe('LXC_CREATE_FAILED');

  const second = await slowCreate(sandbox.name('ls'));
  expect(parentPid(second.helper)).toBe(server);
  process.kill(second.helper, 'SIGKILL');
  expect(await second.creating).toBe('LXC_CREATE_FAILED');
  await settled(() => processesMatching(TOKEN).length === 0, 5_000);
  expect(processesMatching(TOKEN)).toEqual([]);
}, 120_000);

test('the next call runs in a spare the server forked before it was asked, which holds only the control socket', async () => {
  const first = await slowCreate(sandbox.name('sp'));
  const server = parentPid(first.helper);
  process.kill(first.helper, 'SIGKILL');
  expect(await first.creating).toBe('LXC_CREATE_FAILED');
  const spares = () => processesMatching('lxcts-lifecycle --spare').filter((pid) => parentPid(pid) === server);
  await settled(() => spares().length === 1, 5_000);
  expect(spares()).toHaveLength(1);
  const spare = at(spares(), 0);
  // Nothing of the server's or of other calls: stdio, the control socket and its own end of
  // the socket it hands a taken call's reply socket back on.
  expect(
    fs
      .readdirSync(`/proc/${spare}/fd`)
      .map(Number)
      .sort((a, b) => a - b),
  ).toEqual([0, 1, 2, 3, 4]);

  const second = await slowCreate(sandbox.name('sp'));
  expect(second.helper).toBe(spare);
  expect(commandLine(second.helper)).toContain(`lxcts-lifecycle ${process.pid} create `);
  // The server forked the next spare while this call runs.
  await settled(() => spares().some((pid) => pid !== spare), 5_000);
  expect(spares().filter((pid) => pid !== spare)).toHaveLength(1);
  process.kill(second.helper, 'SIGKILL');
  // The server reports the exit of the call it took over from the spare.
  expect(await second.creating).toBe('LXC_CREATE_FAILED');
  expect(await second.message).toContain('was killed by signal 9');
  await settled(() => processesMatching(TOKEN).length === 0, 5_000);
  expect(processesMatching(TOKEN)).toEqual([]);
}, 120_000);

test('a killed server fails its call as a killed helper did, kills the template, and the next call gets a new server', async () => {
  const name = sandbox.name('lk');
  const { creating, helper } = await slowCreate(name);
  const server = parentPid(helper);
  // Never this process (a helper spawned per call has it for parent).
  expect(commandLine(server)).toContain('lxcts-lifecycle --serve');
  process.kill(server, 'SIGKILL');
  expect(await creating).toBe('LXC_CREATE_FAILED');
  // The call's process got its parent-death signal while the template ran: both are gone.
  await settled(() => !alive(helper) && processesMatching(TOKEN).length === 0, 5_000);
  expect(alive(helper)).toBe(false);
  expect(processesMatching(TOKEN)).toEqual([]);

  // The next call on that name clears the half-made container and works, through a new server.
  const c = await sandbox.busybox(name);
  expect(await c.defined()).toBe(true);
  await c.start();
  expect(await c.state()).toBe('RUNNING');
  await c.stop();
  await c.destroy();
  const servers = processesMatching('lxcts-lifecycle --serve').filter((pid) => parentPid(pid) === process.pid);
  expect(servers).toHaveLength(1);
  expect(servers).not.toContain(server);
  // The dead server was reaped when its death was noticed.
  expect(zombieChildren()).toEqual([]);
}, 120_000);

test('the server, its spare, a call and a container monitor it forks are named lxcts-lifecycle, not "exe" after its re-exec', async () => {
  const first = await slowCreate(sandbox.name('nm'));
  const server = parentPid(first.helper);
  expect(comm(server)).toBe('lxcts-lifecycle');
  expect(comm(first.helper)).toBe('lxcts-lifecycle');
  process.kill(first.helper, 'SIGKILL');
  expect(await first.creating).toBe('LXC_CREATE_FAILED');
  expect(comm(await spareOf(server))).toBe('lxcts-lifecycle');

  // start()'s process becomes the container's monitor ("[lxc monitor] ..." in its command line).
  const c = await sandbox.busybox(sandbox.name('nm'));
  await c.start();
  try {
    const monitor = parentPid(must(await c.initPid(), 'the init pid of a running container'));
    expect(commandLine(monitor)).toContain('[lxc monitor]');
    expect(comm(monitor)).toBe('lxcts-lifecycle');
  } finally {
    await c.stop();
    await c.destroy();
  }
}, 120_000);

// The spare hands the server a copy of the reply socket, then says kForked and runs the call.
// When that handover cannot be sent (ENOBUFS injected into the spare's sendmsg), the spare
// must end instead: the addon runs the call the old way, and the server forks the next spare.
test('a spare that cannot hand its call over ends, and the call runs in a helper spawned for it', async () => {
  const first = await slowCreate(sandbox.name('ho'));
  const server = parentPid(first.helper);
  process.kill(first.helper, 'SIGKILL');
  expect(await first.creating).toBe('LXC_CREATE_FAILED');
  const spare = await spareOf(server);

  const strace = await straceOn(spare, ['-e', 'trace=sendmsg', '-e', 'inject=sendmsg:error=ENOBUFS:when=1']);
  try {
    const second = await slowCreate(sandbox.name('ho'));
    const parent = parentPid(second.helper);
    process.kill(second.helper, 'SIGKILL');
    expect(strace.output()).toContain('ENOBUFS (No buffer space available) (INJECTED)');
    // Run by the spare, the call would have had the server for parent, and no exit report.
    expect(second.helper).not.toBe(spare);
    expect(parent).toBe(process.pid);
    expect(await second.creating).toBe('LXC_CREATE_FAILED');
    expect(await second.message).toContain('was killed by signal 9');
  } finally {
    await strace.stop();
  }

  // The server saw its spare end and forked another, which takes the next call.
  await waitFor(() => !alive(spare), `the spare ${spare} to be reaped`);
  const third = await slowCreate(sandbox.name('ho'));
  expect(parentPid(third.helper)).toBe(server);
  process.kill(third.helper, 'SIGKILL');
  expect(await third.creating).toBe('LXC_CREATE_FAILED');
  expect(await third.message).toContain('was killed by signal 9');
  await waitFor(() => processesMatching(TOKEN).length === 0, 'the slow templates to end');
}, 120_000);

// The race: poll wakes the server for one call's exit; before it reaps, the spare takes the
// next request, hands it over, says kForked and is killed. The server reaps both exits in one
// pass; the spare's handover, which poll did not report, must be taken before its exit is
// looked up. The server is held between the two (SIGSTOP injected on the read of its
// signalfd, the step after poll and before waitpid) so the race is won every time.
test("a spare's exit reaped in the same pass as it handed its call over is still reported", async () => {
  const first = await slowCreate(sandbox.name('rc'));
  const server = parentPid(first.helper);
  const spare = await spareOf(server);

  const strace = await straceOn(server, ['-e', 'trace=read', '-e', 'inject=read:signal=SIGSTOP:when=1']);
  try {
    process.kill(first.helper, 'SIGKILL');
    await waitFor(
      () => strace.output().includes('stopped by SIGSTOP'),
      () => `the server to stop reading its signalfd: ${strace.output()}`,
    );

    const second = await slowCreate(sandbox.name('rc'));
    expect(second.helper).toBe(spare);
    process.kill(second.helper, 'SIGKILL');
    // Both exits wait for the one waitpid loop the server is stopped before.
    await waitFor(() => !alive(second.helper), 'the call to be killed');
    process.kill(server, 'SIGCONT');

    expect(await first.creating).toBe('LXC_CREATE_FAILED');
    expect(await first.message).toContain('was killed by signal 9');
    // Unreported, the addon would say the call "ended with its server".
    expect(await second.creating).toBe('LXC_CREATE_FAILED');
    expect(await second.message).toContain('was killed by signal 9');
    expect(alive(server)).toBe(true);
  } finally {
    if (alive(server)) process.kill(server, 'SIGCONT');
    await strace.stop();
  }
  await waitFor(() => processesMatching(TOKEN).length === 0, 'the slow templates to end');
}, 120_000);
