/**
 * The exec fast path (`exec: 'resident'`) against the normal one, on one running container:
 * the same probe run both ways must see the same process (capabilities, seccomp, no_new_privs,
 * LSM label, cgroups, namespaces, ids, groups, signal mask, environment, cwd, umask, limits),
 * and exit statuses, signals, stdin/stdout/stderr, a frozen and a stopped container behave
 * the same. Then what only the fast path has: its resident process is respawned after the
 * container restarts, and one killed from inside the container mid-command fails that
 * command with a clear error (no hang) and is replaced on the next exec.
 *
 * The first test checks that the fast path's commands really are the resident's children:
 * without it, a fast path that quietly fell back to attach would pass every comparison.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';

import { Container, type ExecOptions } from '../src';
import { parentPid } from './helpers/procfs';
import { failureOf, Sandbox } from './helpers/sandbox';
import { waitFor } from './helpers/wait';

const sandbox = new Sandbox('resident-exec');
let attach: Container;
let resident: Container;

const sh = (script: string) => ['/bin/sh', '-c', script];
const execFileAsync = promisify(execFile);

/** Not what the container would have by default: a capability dropped, a seccomp filter, a variable. */
beforeAll(async () => {
  attach = await sandbox.busybox(sandbox.name('resident'));
  const profile = `${sandbox.lxcpath}/resident-seccomp`;
  fs.writeFileSync(profile, '2\nblacklist\nmknod errno 1\n');
  await attach.setConfigItem('lxc.cap.drop', 'sys_module');
  await attach.setConfigItem('lxc.seccomp.profile', profile);
  await attach.setConfigItem('lxc.environment', 'FROM_CONFIG=yes');
  await attach.saveConfig();
  await attach.start();
  resident = new Container(attach.name, { lxcpath: sandbox.lxcpath, exec: 'resident' });
});
afterAll(async () => {
  await resident?.release();
  await sandbox.cleanup();
});

/** The host pid of the process that started `pid`, and that process's name. */
function parentOf(pid: number): { pid: number; comm: string } {
  const parent = parentPid(pid);
  return { pid: parent, comm: fs.readFileSync(`/proc/${parent}/comm`, 'utf8').trim() };
}

/** Runs `argv` on a path; a spawned command waits for a line on stdin so its parent can be seen. */
async function residentParent(c: Container): Promise<{ pid: number; comm: string }> {
  const proc = await c.spawn(sh('read go'));
  try {
    return parentOf(proc.pid);
  } finally {
    proc.stdin.end('go\n');
    await proc.wait();
  }
}

/** Everything a command inherits from whoever started it, one line per fact. */
const PROBE = [
  "grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters|SigBlk|SigIgn|Cpus_allowed_list|Speculation_Store_Bypass):' /proc/self/status",
  'echo "attr=$(cat /proc/self/attr/current 2>&1)"',
  'cat /proc/self/cgroup',
  'for n in /proc/self/ns/*; do echo "$n $(readlink $n)"; done',
  'echo "id=$(id)"',
  'echo "cwd=$(pwd)"',
  'echo "umask=$(umask)"',
  'echo "personality=$(cat /proc/self/personality 2>&1)"',
  'ulimit -a',
  'echo "oom=$(cat /proc/self/oom_score_adj)"',
  'echo "loginuid=$(cat /proc/self/loginuid 2>&1)"',
  'env | grep -v "^_=" | sort',
].join('; ');

async function probe(c: Container, options: ExecOptions): Promise<string> {
  const r = await c.exec(sh(PROBE), options);
  expect({ exitCode: r.exitCode, stderr: r.stderr.toString() }).toEqual({ exitCode: 0, stderr: '' });
  return r.stdout.toString();
}

test("the fast path's commands are children of one lxcts-resident process in the container", async () => {
  const first = await residentParent(resident);
  const second = await residentParent(resident);
  expect(first.comm).toBe('lxcts-resident');
  expect(second.pid).toBe(first.pid);
  // The normal path's parent is the lxcts-attach helper (or this process), never the resident.
  expect((await residentParent(attach)).comm).not.toBe('lxcts-resident');
  // The resident is the container's: inside it, ps sees it.
  const ps = await attach.exec(sh('ps -o comm 2>/dev/null || ps'));
  expect(ps.stdout.toString()).toContain('lxcts-resident');
});

describe.each<[string, ExecOptions]>([
  ['by default', {}],
  ['with uid and gid', { uid: 1000, gid: 1000 }],
  ['with env (PATH replaced) and cwd', { env: { FOO: 'bar baz', PATH: '/bin:/sbin' }, cwd: '/tmp' }],
  ['with envToKeep left empty and clearEnv', { clearEnv: true, env: ['A=1', 'A=2'] }],
])('the probe sees the same process both ways %s', (_label, options) => {
  test('status, LSM label, cgroups, namespaces, ids, groups, environment, cwd, limits', async () => {
    const viaAttach = await probe(attach, options);
    const viaResident = await probe(resident, options);
    expect(viaResident).toEqual(viaAttach);
    // The probe did read what it compares (a broken probe would compare two empty outputs),
    // and what the container's config gives is there: seccomp, the dropped capability.
    expect(viaAttach).toMatch(/^Seccomp:\s+2$/m);
    expect(viaAttach).toMatch(/^FROM_CONFIG=yes$/m);
    if (options.uid === undefined) {
      expect(BigInt(`0x${/^CapBnd:\s+([0-9a-f]{16})$/m.exec(viaAttach)![1]}`) & (1n << 16n)).toBe(0n);
      expect(viaAttach).toMatch(/\/proc\/self\/ns\/pid pid:\[\d+\]/);
    }
  });
});

test('the probe sees the same process both ways in an unprivileged container (its own user namespace)', async () => {
  // root's subordinate ids, as lxc-usernsexec and the CI's bases use them.
  const line = fs
    .readFileSync('/etc/subuid', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('root:'));
  const [, first, count] = (line ?? '').split(':').map(Number);
  if (!first || !count || count < 65536) throw new Error('root needs 65536 subordinate ids in /etc/subuid (scripts/setup-host.sh)');
  fs.chmodSync(sandbox.lxcpath, 0o755);
  const plain = await sandbox.busybox(sandbox.name('resident-userns'));
  await plain.setConfigItem('lxc.idmap', `u 0 ${first} 65536`);
  await plain.setConfigItem('lxc.idmap', `g 0 ${first} 65536`);
  await plain.saveConfig();
  await execFileAsync('chown', ['-hR', `${first}:${first}`, `${sandbox.lxcpath}/${plain.name}/rootfs`]);
  await plain.start();
  const fast = new Container(plain.name, { lxcpath: sandbox.lxcpath, exec: 'resident' });
  try {
    const viaAttach = await probe(plain, {});
    expect(await probe(fast, {})).toEqual(viaAttach);
    expect(await probe(fast, { uid: 1000, gid: 1000, cwd: '/tmp' })).toEqual(await probe(plain, { uid: 1000, gid: 1000, cwd: '/tmp' }));
    expect((await fast.exec(['cat', '/proc/self/uid_map'])).stdout.toString()).toMatch(new RegExp(`^\\s*0\\s+${first}\\s+65536\\s*$`));
    expect((await residentParent(fast)).comm).toBe('lxcts-resident');
  } finally {
    await fast.release();
    await plain.stop();
  }
});

test('exit statuses and what a command that cannot run says are the same', async () => {
  for (const argv of [sh('exit 42'), sh('exit 0'), ['/nonexistent/program'], ['/etc/passwd'], sh('kill -USR1 $$')]) {
    const a = await attach.exec(argv);
    const r = await resident.exec(argv);
    expect({ argv, exitCode: r.exitCode, signal: r.signal, stderr: r.stderr.toString() }).toEqual({
      argv,
      exitCode: a.exitCode,
      signal: a.signal,
      stderr: a.stderr.toString(),
    });
  }
  const missingCwd = { cwd: '/no/such/dir' };
  const [a, r] = [await attach.exec(['true'], missingCwd), await resident.exec(['true'], missingCwd)];
  expect([r.exitCode, r.stderr.toString()]).toEqual([a.exitCode, a.stderr.toString()]);
  expect(a.exitCode).toBe(126);
});

test('a signal sent through the returned process reaches the command, and its status says so', async () => {
  for (const c of [attach, resident]) {
    const proc = await c.spawn(['sleep', '100']);
    expect(proc.kill('SIGTERM')).toBe(true);
    expect(await proc.wait()).toEqual({ exitCode: null, signal: 'SIGTERM' });
    // Once it has ended, a signal goes nowhere (never to a recycled pid).
    expect(proc.kill('SIGKILL')).toBe(false);
  }
});

test('stdin, stdout and stderr carry the same bytes, 1 MiB included', async () => {
  const input = Buffer.alloc(1024 * 1024 + 7, 'resident\n');
  const script = 'cat; echo to-stderr >&2; printf "%s" "$(wc -c < /proc/self/cmdline)" >&2';
  const a = await attach.exec(sh(script), { input });
  const r = await resident.exec(sh(script), { input });
  expect(r.stdout.equals(input)).toBe(true);
  expect([r.stdout.length, r.stderr.toString(), r.exitCode]).toEqual([a.stdout.length, a.stderr.toString(), a.exitCode]);
  // A command that does not read stdin gets end-of-file from /dev/null both ways.
  expect((await resident.exec(sh('cat'))).stdout.length).toBe(0);
});

test('a frozen container runs the command once thawed, both ways', async () => {
  await attach.freeze();
  let thawed = false;
  const results = Promise.all([attach.exec(['echo', 'attach']), resident.exec(['echo', 'resident'])]).then((rs) => {
    expect(thawed).toBe(true);
    return rs.map((r) => r.stdout.toString());
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  thawed = true;
  await attach.unfreeze();
  expect(await results).toEqual(['attach\n', 'resident\n']);
});

test('a stopped container fails the same way; started again, a new resident runs the next command', async () => {
  const before = await residentParent(resident);
  await attach.stop();
  try {
    const a = await failureOf(attach.exec(['true']));
    const r = await failureOf(resident.exec(['true']));
    expect({ code: r.code, message: r.message }).toEqual({ code: a.code, message: a.message });
  } finally {
    await attach.start();
  }
  const after = await residentParent(resident);
  expect(after.comm).toBe('lxcts-resident');
  expect(after.pid).not.toBe(before.pid);
  expect(fs.existsSync(`/proc/${before.pid}`)).toBe(false);
});

test('the resident killed from inside the container mid-command: a clear error, no hang, and the next exec respawns it', async () => {
  const proc = await resident.spawn(['sleep', '1000']);
  const killed = parentOf(proc.pid);
  expect(killed.comm).toBe('lxcts-resident');
  const out = buffer(proc.stdout);
  // Root inside the container kills it, as it may kill any of its processes.
  const k = await attach.exec(sh('kill -9 $(pidof lxcts-resident)'));
  expect(k.exitCode).toBe(0);
  const err = await failureOf(proc.wait());
  expect(err.code).toBe('LXC_EXEC_FAILED');
  expect(err.message).toMatch(/resident process of container ".*" ended before it reported how command \d+ exited/);
  await out;
  // The command went with it: nothing of it is left running in the container.
  await waitFor(() => !fs.existsSync(`/proc/${proc.pid}`), 'the command to end with its resident');
  const next = await resident.exec(['echo', 'again']);
  expect(next.stdout.toString()).toBe('again\n');
  const respawned = await residentParent(resident);
  expect(respawned.comm).toBe('lxcts-resident');
  expect(respawned.pid).not.toBe(killed.pid);
});

test('release() ends the resident; requests it does not take (a terminal) attach as before', async () => {
  const other = new Container(attach.name, { lxcpath: sandbox.lxcpath, exec: 'resident' });
  let residentPid: number;
  try {
    residentPid = (await residentParent(other)).pid;
    const tty = await other.spawn(sh('read go'), { tty: true });
    try {
      expect(parentOf(tty.pid).comm).not.toBe('lxcts-resident');
    } finally {
      tty.stdin.write('go\n');
      await tty.wait();
    }
  } finally {
    await other.release();
  }
  await waitFor(() => !fs.existsSync(`/proc/${residentPid}`), 'the released resident to exit');
});

test('the exec option takes only attach or resident', () => {
  expect(() => new Container(attach.name, { lxcpath: sandbox.lxcpath, exec: 'fast' as never })).toThrow(TypeError);
});
