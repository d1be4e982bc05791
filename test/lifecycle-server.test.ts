/**
 * The resident lxcts-lifecycle server (addon/lifecycle_server.cc): lifecycle calls run in
 * processes it forks, not in a helper Node spawns per call; killed, it takes its calls down
 * the way a killed helper did, and the next call gets a new server.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { alive, parentPid, processesMatching, zombieChildren } from './helpers/procfs';
import { Sandbox } from './helpers/sandbox';
import { slowTemplate } from './helpers/slow-template';
import { at } from './helpers/must';

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
