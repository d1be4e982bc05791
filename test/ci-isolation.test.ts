/**
 * A build is a stranger's program running as root in its container: these tests run the
 * attacks from inside real builds and assert that each one fails, and that the host is
 * untouched. Every one of them succeeded in the privileged containers of earlier versions.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Container } from '../src';
import { createTemplateBase, deleteBase, HOST_BASE } from '../src/ci/bases';
import { JobResult } from '../src/ci/builder';
import { buildIdRange, IdRange, letRangeSearch } from '../src/ci/id-range';
import { CiSandbox } from './helpers/ci-data';
import { TestRepo } from './helpers/repo';
import { at, must } from './helpers/must';
import { waitFor } from './helpers/wait';

const ci = new CiSandbox('isolation');
const repos = path.join(ci.data.root, 'repos');
const marker = `lxcts-isolation-${process.pid}`;
let range: IdRange;

beforeAll(() => {
  range = buildIdRange();
});
afterAll(() => {
  ci.cleanup();
  fs.rmSync(path.join('/tmp', marker), { force: true });
});

let seq = 0;
/** Builds a repository made of `files` and this build file; returns the result of `job`, with its log. */
async function build(job: string, buildFile: string, files: Record<string, string> = {}): Promise<JobResult & { log: string }> {
  const repo = TestRepo.create(path.join(repos, `r${seq++}`), buildFile);
  for (const [file, text] of Object.entries(files)) repo.write(file, text);
  repo.commit('attack');
  const results = await ci.builder().build({ source: repo.dir });
  const result = must(
    results.find((r) => r.job === job),
    `a result for job ${job} (got ${results.map((r) => r.job).join(', ') || 'none'})`,
  );
  return { ...result, log: fs.readFileSync(must(result.logPath, `a build log for job ${job}`), 'utf8') };
}

/** Like expect(r.status).toBe(status), but a failure shows the build's log. */
function expectStatus(r: { status: string; message: string | null; log: string }, status: string): void {
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status} (${r.message}); the log:\n${r.log}`);
}

/** major:minor of the host's root filesystem, as this process sees it. */
function hostRootDevice(): string {
  const line = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[4] === '/');
  return must(line?.split(' ')[2], 'the root filesystem in /proc/self/mountinfo');
}

test('a step runs as root of an unprivileged user namespace, with seccomp, no_new_privs and dropped capabilities', async () => {
  const status = await build(
    'status',
    'jobs:\n  status:\n    steps: ["grep -E \'^(CapEff|Seccomp|NoNewPrivs):\' /proc/self/status", "cat /proc/self/uid_map /proc/self/gid_map", "cat /sys/fs/cgroup/devices/devices.list || true"]\n',
  );
  expectStatus(status, 'success');
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)$`, 'm').exec(status.log)?.[1];
  expect(field('Seccomp')).toBe('2');
  expect(field('NoNewPrivs')).toBe('1');
  const maps = status.log
    .split('\n')
    .filter((l) => /^\s*0\s+\d+\s+\d+\s*$/.test(l))
    .map((l) => l.trim().split(/\s+/).map(Number));
  expect(maps).toEqual([
    [0, range.uid, 65536],
    [0, range.gid, 65536],
  ]);
  const caps = BigInt(`0x${field('CapEff')}`);
  const has = (bit: number) => (caps >> BigInt(bit)) & 1n;
  // sys_module, sys_rawio, sys_boot, sys_time, mknod, setfcap, mac_override, mac_admin, syslog: gone.
  for (const bit of [16, 17, 22, 25, 27, 31, 32, 33, 34]) expect([bit, has(bit)]).toEqual([bit, 0n]);
  // net_admin and net_raw stay (udhcpc), as does what ordinary builds use (chown, setuid).
  for (const bit of [0, 7, 12, 13]) expect([bit, has(bit)]).toEqual([bit, 1n]);
  // The device cgroup (v1 hosts) allows the standard character devices and nothing else.
  if (fs.existsSync('/sys/fs/cgroup/devices/devices.list')) {
    const devices = status.log.split('\n').filter((l) => /^[abc] \S+ [rwm]+$/.test(l));
    expect(devices).toEqual([
      'c 1:3 rwm',
      'c 1:5 rwm',
      'c 1:7 rwm',
      'c 5:0 rwm',
      'c 5:1 rwm',
      'c 5:2 rwm',
      'c 1:8 rwm',
      'c 1:9 rwm',
      'c 136:* rwm',
      'c 10:229 rwm',
    ]);
  }
});

test('mknod of the host disk fails, so it can be neither mounted nor read (host /etc/shadow included)', async () => {
  const [major, minor] = hostRootDevice().split(':');
  const disk = await build(
    'disk',
    `jobs:\n  disk:\n    steps: ["mkdir -p /mnt/h && mknod /tmp/hostdisk b ${major} ${minor} && mount -o ro -t ext4 /tmp/hostdisk /mnt/h && cat /mnt/h/etc/shadow"]\n`,
  );
  expectStatus(disk, 'failure');
  expect(disk.log).toMatch(/mknod: \/tmp\/hostdisk: Operation not permitted/);
  const shadowRoot = fs
    .readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('root:'))!;
  expect(disk.log).not.toContain(shadowRoot);
});

test("the container's own /etc/shadow is not the host's", async () => {
  const shadow = await build('shadow', 'jobs:\n  shadow:\n    steps: ["cat /etc/shadow"]\n');
  expectStatus(shadow, 'failure');
  expect(shadow.log).toMatch(/cat: \/etc\/shadow: No such file or directory/);
});

test('the read-only host /usr cannot be remounted read-write nor written', async () => {
  const remount = await build('remount', `jobs:\n  remount:\n    steps: ["mount -o remount,rw,bind /usr; touch /usr/${marker}"]\n`);
  expectStatus(remount, 'failure');
  expect(remount.log).toMatch(/mount: \/usr: permission denied/);
  expect(remount.log).toMatch(new RegExp(`touch: cannot touch '/usr/${marker}': Read-only file system`));
  expect(fs.existsSync(`/usr/${marker}`)).toBe(false);
});

(fs.existsSync('/proc/sysrq-trigger') ? test : test.skip)('/proc/sysrq-trigger cannot be written', async () => {
  // "h" only prints help to the kernel log, should the write ever get through.
  const sysrq = await build('sysrq', 'jobs:\n  sysrq:\n    steps: ["echo h > /proc/sysrq-trigger"]\n');
  expectStatus(sysrq, 'failure');
  expect(sysrq.log).toMatch(/\/proc\/sysrq-trigger: (Read-only file system|Permission denied)/);
});

/** Calls each syscall a build must not make, and prints how it failed. */
const SYSCALLS_C = `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r) {
  if (r == 0) _exit(0); /* a clone child that got through */
  printf("syscall %s %s\\n", name, r < 0 ? strerrorname_np(errno) : "ALLOWED");
  fflush(stdout);
}

int main(void) {
  static char image[4096];
  report("init_module", syscall(SYS_init_module, image, sizeof image, ""));
  report("finit_module", syscall(SYS_finit_module, open("/dev/null", O_RDONLY), "", 0));
  report("delete_module", syscall(SYS_delete_module, "lxcts_none", 0));
  report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
  report("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
  report("bpf", syscall(SYS_bpf, 0, NULL, 0));
  report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
  report("userfaultfd", syscall(SYS_userfaultfd, 0));
  report("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
  report("keyctl", syscall(SYS_keyctl, 0, -3, 0));
  report("add_key", syscall(SYS_add_key, "user", "lxcts", "x", 1, -3));
  report("request_key", syscall(SYS_request_key, "user", "lxcts-none", NULL, 0));
  report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0));
  report("clone3", syscall(SYS_clone3, NULL, 0));
  long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid > 0) waitpid(pid, NULL, 0);
  report("clone_newuser", pid > 0 ? 1 : pid);
  pid = fork();
  if (pid == 0) { printf("syscall unshare_newuser %s\\n", unshare(CLONE_NEWUSER) ? strerrorname_np(errno) : "ALLOWED"); fflush(stdout); _exit(0); }
  waitpid(pid, NULL, 0);
  return 0;
}
`;

test('seccomp refuses module loading, kexec, bpf, io_uring, keyrings, handles and new user namespaces', async () => {
  const calls = await build('calls', 'jobs:\n  calls:\n    steps: ["cc -o /tmp/calls calls.c && /tmp/calls"]\n', { 'calls.c': SYSCALLS_C });
  expectStatus(calls, 'success');
  const seen = Object.fromEntries([...calls.log.matchAll(/^syscall (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
  const refused = [
    'init_module',
    'finit_module',
    'delete_module',
    'kexec_load',
    'kexec_file_load',
    'bpf',
    'perf_event_open',
    'userfaultfd',
    'io_uring_setup',
    'keyctl',
    'add_key',
    'request_key',
    'open_by_handle_at',
    'clone_newuser',
    'unshare_newuser',
  ];
  expect(seen).toEqual({ ...Object.fromEntries(refused.map((s) => [s, 'EPERM'])), clone3: 'ENOSYS' });
});

test('a setuid-root binary built in the workspace gives nobody root, neither inside nor on the host', async () => {
  const repo = TestRepo.create(
    path.join(repos, 'suid'),
    'jobs:\n  suid:\n    timeout: 120s\n    steps:\n' +
      '      - cc -o suid suid.c && chmod 4755 suid\n' +
      '      - setpriv --reuid=65534 --regid=65534 --clear-groups ./suid\n' +
      '      - while [ ! -e .host-checked ]; do sleep 0.1; done\n',
  );
  repo.write('suid.c', '#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf("euid %d\\n", (int)geteuid()); return 0; }\n');
  repo.commit('suid');
  const building = ci.builder().build({ source: repo.dir });
  const outcome = building.then(
    () => null,
    (err: Error) => err,
  );
  // While the build waits in its last step, look at the binary from the host.
  let root = '';
  await waitFor(
    async () => {
      const running = ci.store.list({ status: 'running' })[0];
      if (!running?.container) return false;
      const c = new Container(running.container, { lxcpath: ci.data.containers });
      const pid = await c.initPid().catch(() => null);
      await c.release();
      const binary = pid ? `/proc/${pid}/root/workspace/suid` : '';
      if (!binary || !fs.existsSync(binary) || (fs.statSync(binary).mode & 0o4000) === 0) return false;
      root = `/proc/${pid}/root`;
      return true;
    },
    'the set-uid binary in the running build',
    { seconds: 60, everyMs: 100 },
  );
  const stat = fs.statSync(`${root}/workspace/suid`);
  expect([stat.uid, stat.gid]).toEqual([range.uid, range.gid]);
  // Even copied out with its owner and mode (as a careless publisher would), it runs as the range's uid, never as 0.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-suid-'));
  try {
    fs.chmodSync(dir, 0o755);
    execFileSync('cp', ['-p', `${root}/workspace/suid`, path.join(dir, 'suid')]);
    expect(fs.statSync(path.join(dir, 'suid')).mode & 0o7777).toBe(0o4755);
    const euid = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', path.join(dir, 'suid')], { encoding: 'utf8' });
    expect(euid).toBe(`euid ${range.uid}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.writeFileSync(`${root}/workspace/.host-checked`, '');
  }
  expect(await outcome).toBeNull();
  const result = at(await building, 0);
  expect(result.status).toBe('success');
  // Inside, no_new_privs keeps nobody nobody.
  expect(fs.readFileSync(result.logPath!, 'utf8')).toMatch(/^euid 65534$/m);
});

// The checkout is handed to the container's root before the build starts: in this process
// for a small tree, by chown -R for a big one (build-container.ts). Either way a symlink of
// the repository is changed itself and never followed to a host file or directory.
test.each([
  ['small', 10],
  ['big', 2100],
])("a %s checkout becomes the container root's without following its symlinks to the host", async (_, files) => {
  const hostFile = path.join('/tmp', `${marker}-file`);
  const hostDir = path.join('/tmp', `${marker}-dir`);
  fs.writeFileSync(hostFile, 'host\n');
  fs.mkdirSync(hostDir, { recursive: true });
  fs.writeFileSync(path.join(hostDir, 'inside'), 'host\n');
  try {
    const repo = TestRepo.create(
      path.join(repos, `links-${files}`),
      'jobs:\n  links:\n    steps: ["touch deep/a/b/new deep/many/new && echo built > deep/a/b/c.txt", "stat -c %u:%g deep/a/b/c.txt"]\n',
    );
    repo.write('deep/a/b/c.txt', 'checked out\n');
    for (let i = 0; i < files; i++) repo.write(`deep/many/f${i}`, `${i}\n`);
    fs.symlinkSync(hostFile, path.join(repo.dir, 'link'));
    fs.symlinkSync(hostDir, path.join(repo.dir, 'deep', 'dirlink'));
    repo.commit('links');
    const result = at(await ci.builder().build({ source: repo.dir }), 0);
    const log = fs.readFileSync(must(result.logPath, 'a build log'), 'utf8');
    expectStatus({ ...result, log }, 'success');
    // Written by the build's root, seen inside as 0:0.
    expect(log).toMatch(/^0:0$/m);
    for (const hostPath of [hostFile, hostDir, path.join(hostDir, 'inside')]) {
      const stat = fs.lstatSync(hostPath);
      expect([hostPath, stat.uid, stat.gid]).toEqual([hostPath, 0, 0]);
    }
  } finally {
    fs.rmSync(hostFile, { force: true });
    fs.rmSync(hostDir, { recursive: true, force: true });
  }
});

test('a fork bomb stops at the pids limit and the build is cleaned up', async () => {
  const bomb = await build(
    'bomb',
    'jobs:\n  bomb:\n    timeout: 60s\n    limits: { pids: 100 }\n    steps: ["bomb() { bomb | bomb & }; bomb; sleep 3; exit 1"]\n',
  );
  expectStatus(bomb, 'failure');
  expect(bomb.message).toMatch(/pids limit \(100\) reached/);
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
});

test('real toolchains work unprivileged: cc, git and sh in a workspace owned by the container root', async () => {
  const tools = await build(
    'tools',
    'jobs:\n  tools:\n    steps:\n' +
      '      - stat -c "%u:%g" /workspace /workspace/hello.c\n' +
      '      - make build && ./bin/hello && ./bin/hello --version\n' +
      '      - git status --porcelain --untracked-files=no && git log --format=%s -1\n' +
      '      - sh -c "echo written > out.txt" && cat out.txt\n',
  );
  expectStatus(tools, 'success');
  expect(tools.log).toMatch(/^0:0\n0:0$/m);
  expect(tools.log).toMatch(/^hello, world$/m);
  // The Makefile asks git for the version: "dev" would mean git refused the workspace.
  expect(tools.log).toMatch(/^hello [0-9a-f]{7,}$/m);
  expect(tools.log).toMatch(/^attack$/m);
  expect(tools.log).toMatch(/^written$/m);
});

describe('bases', () => {
  test('a host base made by an older lxcts (privileged, no marker) is made again before it is used', async () => {
    const dir = path.join(ci.data.bases, HOST_BASE);
    await build('a', 'jobs:\n  a:\n    steps: ["true"]\n');
    // What an older lxcts left: the same base without the id map and without the marker.
    fs.rmSync(path.join(dir, 'lxcts-base.json'));
    const config = fs.readFileSync(path.join(dir, 'config'), 'utf8');
    fs.writeFileSync(
      path.join(dir, 'config'),
      config
        .split('\n')
        .filter((l) => !l.startsWith('lxc.idmap'))
        .join('\n'),
    );
    const map = await build('map', 'jobs:\n  map:\n    steps: ["cat /proc/self/uid_map"]\n');
    expectStatus(map, 'success');
    expect(map.log).toMatch(new RegExp(`^\\s*0\\s+${range.uid}\\s+65536\\s*$`, 'm'));
    expect(fs.readFileSync(path.join(dir, 'config'), 'utf8')).toContain(`lxc.idmap = u 0 ${range.uid} 65536`);
    expect(fs.statSync(path.join(dir, 'rootfs', 'etc', 'passwd')).uid).toBe(range.uid);
  });

  test('a template base is made unprivileged; one without the marker is refused with the fix', async () => {
    await createTemplateBase(ci.data.bases, 'bb', 'busybox', []);
    const rootfs = path.join(ci.data.bases, 'bb', 'rootfs');
    expect(fs.statSync(path.join(rootfs, 'bin', 'busybox')).uid).toBe(range.uid);
    const map = await build('map', 'base: bb\njobs:\n  map:\n    steps: ["cat /proc/self/uid_map", "grep Seccomp: /proc/self/status"]\n');
    expectStatus(map, 'success');
    expect(map.log).toMatch(new RegExp(`^\\s*0\\s+${range.uid}\\s+65536\\s*$`, 'm'));
    expect(map.log).toMatch(/^Seccomp:\s+2$/m);

    fs.rmSync(path.join(ci.data.bases, 'bb', 'lxcts-base.json'));
    const old = await build('old', 'base: bb\njobs:\n  old:\n    steps: ["true"]\n');
    expectStatus(old, 'error');
    expect(old.message).toMatch(/base "bb" was made by an older lxcts and would run builds privileged; make it again: lxcts ci base delete bb/);
    expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
    // Its rootfs belongs to the range, yet deleting the base still removes all of it.
    await deleteBase(ci.data.bases, 'bb');
    expect(fs.existsSync(path.join(ci.data.bases, 'bb'))).toBe(false);
  });
});

describe('the id range', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const files = (subuid: string, subgid: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-subid-'));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'subuid'), subuid);
    fs.writeFileSync(path.join(dir, 'subgid'), subgid);
    return { subuid: path.join(dir, 'subuid'), subgid: path.join(dir, 'subgid') };
  };

  test("is root's first range of 65536 ids in /etc/subuid and /etc/subgid", () => {
    expect(buildIdRange(files('alice:100000:65536\nroot:10:100\nroot:200000:65536\n', '0:300000:70000\n'))).toEqual({ uid: 200000, gid: 300000, count: 65536 });
  });

  test("lxcts's own directories are opened to the range's group for search only; the operator's are named, not changed", () => {
    const outer = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-search-'));
    try {
      const data = path.join(outer, 'data');
      fs.mkdirSync(path.join(data, 'workspaces'), { recursive: true, mode: 0o700 });
      fs.chmodSync(data, 0o700);
      fs.chmodSync(outer, 0o755);
      letRangeSearch([path.join(data, 'workspaces')], data, range);
      for (const dir of [data, path.join(data, 'workspaces')]) {
        const stat = fs.statSync(dir);
        expect([stat.uid, stat.gid, (stat.mode & 0o777).toString(8)]).toEqual([0, range.gid, '710']);
      }
      // Above the data directory: not lxcts's to change.
      fs.chmodSync(outer, 0o700);
      expect(() => letRangeSearch([path.join(data, 'workspaces')], data, range)).toThrow(`cannot pass through ${outer}; allow it with: chmod o+x ${outer}`);
      expect(fs.statSync(outer).mode & 0o777).toBe(0o700);
    } finally {
      fs.rmSync(outer, { recursive: true, force: true });
    }
  });

  test('a missing range is refused with a message that names the fix', () => {
    const f = files('alice:100000:65536\n', 'root:100000:65536\n');
    expect(() => buildIdRange(f)).toThrow(`need a range of 65536 ids for root in ${f.subuid}, which has none; run scripts/setup-host.sh as root`);
  });
});
