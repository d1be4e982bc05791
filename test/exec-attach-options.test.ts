/**
 * exec()'s attach options, seen from inside a real container on both exec paths (through
 * the lxcts-attach helper, and in-process for a request over the helper's 64 KiB): the
 * namespaces entered, the personality (`arch`), supplementary groups, `envToKeep`,
 * `remountSysProc` and `elevatedPrivileges`. Each test compares with the default, so it
 * fails when the option is dropped on the way (ported from go-lxc's lxc_test.go attach
 * cases and python3-lxc's api_test.py attach_wait calls, with the effect checked rather
 * than the call's success).
 */
import * as fs from 'node:fs';

import { Container, type SpawnOptions } from '../src';
import { native } from '../src/lxc/native';
import { EXEC_PATHS, runVia, type Via } from './helpers/exec-via';
import { Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('attachopts-exec');
let c: Container;

/** CAP_SYS_MODULE: dropped by the container's config, kept by elevatedPrivileges. */
const CAP_SYS_MODULE = 16n;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('attachopts'));
  await c.setConfigItem('lxc.cap.drop', 'sys_module');
  await c.saveConfig();
  await c.start();
});
afterAll(() => sandbox.cleanup());

const paths = EXEC_PATHS;
const run = (script: string, options: SpawnOptions, via: Via) => runVia(c, script, options, via);

function statusField(status: string, field: string): string {
  const line = status.split('\n').find((l) => l.startsWith(`${field}:`));
  if (line === undefined) throw new Error(`no ${field} in /proc/self/status:\n${status}`);
  return line.slice(field.length + 1).trim();
}

describe.each(paths)('%s', (_label, via) => {
  test('groups sets the supplementary groups the command has (none by default)', async () => {
    expect(statusField(await run('cat /proc/self/status', {}, via), 'Groups')).toBe('');
    expect(statusField(await run('cat /proc/self/status', { groups: [10, 20, 4000000] }, via), 'Groups')).toBe('10 20 4000000');
  });

  test('arch: linux32 makes uname -m say i686 on this x86_64 host; linux64 and the default say x86_64', async () => {
    const host = (await run('uname -m', {}, via)).trim();
    if (host !== 'x86_64') throw new Error(`this test knows x86_64 hosts only, not ${host}`);
    expect(await run('uname -m', { arch: 'linux32' }, via)).toBe('i686');
    expect(await run('uname -m', { arch: 'i686' }, via)).toBe('i686');
    expect(await run('uname -m', { arch: 'x86_64' }, via)).toBe('x86_64');
  });

  test("a namespace left out is this process's: without net, /proc/self/ns/net is the host's", async () => {
    const hostNet = fs.readlinkSync('/proc/self/ns/net');
    const hostUts = fs.readlinkSync('/proc/self/ns/uts');
    const show = 'readlink /proc/self/ns/net; readlink /proc/self/ns/uts';
    const [defaultNet, defaultUts] = (await run(show, {}, via)).split('\n');
    expect(defaultNet).not.toBe(hostNet);
    expect(defaultUts).not.toBe(hostUts);
    const [net, uts] = (await run(show, { namespaces: ['mount', 'pid', 'uts', 'ipc', 'cgroup'] }, via)).split('\n');
    expect(net).toBe(hostNet);
    expect(uts).toBe(defaultUts);
  });

  test("remountSysProc: outside the container's mount namespace, /proc is the container's only when asked", async () => {
    // Without the mount namespace the command runs on the host's filesystem, whose /proc
    // shows the host's pid 1; a fresh /proc of the container's pid namespace shows its init.
    const hostInit = fs.readFileSync('/proc/1/comm', 'utf8').trim();
    const namespaces: SpawnOptions['namespaces'] = ['pid', 'uts', 'ipc', 'net', 'cgroup'];
    const containerInit = await run('cat /proc/1/comm', {}, via);
    expect(containerInit).not.toBe(hostInit);
    expect(await run('cat /proc/1/comm', { namespaces }, via)).toBe(hostInit);
    expect(await run('cat /proc/1/comm', { namespaces, remountSysProc: true }, via)).toBe(containerInit);
    // The host's own /proc is untouched: the remount was in a mount namespace of the command's.
    expect(fs.readFileSync('/proc/1/comm', 'utf8').trim()).toBe(hostInit);
  });

  test("elevatedPrivileges keeps the capabilities the container drops and this process's cgroup", async () => {
    const show = 'grep CapBnd /proc/self/status; grep -E "^[0-9]+:(memory|pids):" /proc/self/cgroup | sort';
    const parse = (out: string) => {
      const [capLine = '', ...cgroups] = out.split('\n');
      return { sysModule: ((BigInt(`0x${capLine.split(/\s+/)[1]}`) >> CAP_SYS_MODULE) & 1n) === 1n, cgroups };
    };
    const confined = parse(await run(show, {}, via));
    const elevated = parse(await run(show, { elevatedPrivileges: true }, via));
    expect(confined.sysModule).toBe(false);
    expect(elevated.sysModule).toBe(true);
    expect(elevated.cgroups).not.toEqual(confined.cgroups);
    // Inside the container's cgroup namespace its own cgroup is the root, "/".
    expect(confined.cgroups.map((l) => l.replace(/^\d+:\w+:/, ''))).toEqual(['/', '/']);
  });

  test('envToKeep keeps the named variables of process.env as it is at the call; env still wins', async () => {
    const show = 'echo "${LXCTS_KEEP_A-unset}|${LXCTS_KEEP_B-unset}|${LXCTS_NOT_KEPT-unset}"';
    Object.assign(process.env, { LXCTS_KEEP_A: 'a1', LXCTS_NOT_KEPT: 'x' });
    delete process.env.LXCTS_KEEP_B;
    try {
      const envToKeep = ['LXCTS_KEEP_A', 'LXCTS_KEEP_B'];
      expect(await run(show, {}, via)).toBe('unset|unset|unset');
      expect(await run(show, { envToKeep }, via)).toBe('a1|unset|unset');
      Object.assign(process.env, { LXCTS_KEEP_A: 'a2', LXCTS_KEEP_B: 'b' });
      expect(await run(show, { envToKeep }, via)).toBe('a2|b|unset');
      expect(await run(show, { envToKeep, env: { LXCTS_KEEP_A: 'env' } }, via)).toBe('env|b|unset');
    } finally {
      for (const k of ['LXCTS_KEEP_A', 'LXCTS_KEEP_B', 'LXCTS_NOT_KEPT']) delete process.env[k];
    }
  });
});

test('the addon refuses attach options TypeScript would never send, on both paths', () => {
  const base = {
    env: [],
    clearEnv: true,
    callerEnv: [],
    pipeStdin: false,
    cwd: '/',
    uid: null,
    gid: null,
    tty: false,
    cols: 0,
    rows: 0,
    namespaces: -1,
    personality: -1,
    groups: [],
    remountSysProc: false,
    elevatedPrivileges: false,
  };
  const handle = new (native().NativeContainer)(c.name, sandbox.lxcpath);
  try {
    for (const bad of [{ namespaces: 0x100 }, { namespaces: 0 }, { personality: 0x0400000 }, { groups: [0xffffffff] }]) {
      // A TypeError of the addon's realm: matched by its message, not its class.
      expect(() => native().attachRemote(c.name, sandbox.lxcpath, ['true'], { ...base, ...bad })).toThrow(/namespaces|personality|group/);
      expect(() => handle.attach(['true'], { ...base, ...bad })).toThrow(/namespaces|personality|group/);
    }
  } finally {
    handle.release();
  }
});
