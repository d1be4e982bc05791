/**
 * @tier unit
 * Where cgroup-files.ts looks for a container's cgroup files: the host's cgroup mounts from
 * mountinfo, then the init's /proc/PID/cgroup cut at liblxc's `lxc.payload.NAME` directory.
 * Anything it cannot be sure of (another layout, a subtree mount, a path outside our view)
 * is undefined, which sends the read through liblxc.
 */
import { cgroupDirFor, parseCgroupMounts } from '../../src/lxc/cgroup-files';

const HYBRID = [
  '35 26 0:30 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
  '36 26 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory',
  '37 26 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:12 - cgroup cgroup rw,cpu,cpuacct',
  '38 26 0:33 /lxc.payload.x /mnt/sub rw shared:13 - cgroup cgroup rw,blkio',
  '22 1 0:20 / /proc rw shared:2 - proc proc rw',
].join('\n');
const hybrid = parseCgroupMounts(HYBRID, () => '');
const V2 = parseCgroupMounts('30 1 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw', () => 'cpuset cpu io memory pids\n');

const INIT_V1 = ['0::/lxc.payload.web-1/init.scope', '4:memory:/lxc.payload.web-1/init.scope', '3:cpu,cpuacct:/lxc.payload.web-1', ''].join('\n');

test('v1 keys map to the hierarchy of their controller, cut at the container directory', () => {
  expect(cgroupDirFor('memory.usage_in_bytes', 'web', INIT_V1, hybrid)).toBe('/sys/fs/cgroup/memory/lxc.payload.web-1');
  expect(cgroupDirFor('cpuacct.usage', 'web', INIT_V1, hybrid)).toBe('/sys/fs/cgroup/cpu,cpuacct/lxc.payload.web-1');
  expect(cgroupDirFor('cpu.stat', 'web', INIT_V1, hybrid)).toBe('/sys/fs/cgroup/cpu,cpuacct/lxc.payload.web-1');
});

test('a controller only a subtree mount has, or none has, is left to liblxc', () => {
  expect(cgroupDirFor('blkio.throttle.io_service_bytes', 'web', INIT_V1, hybrid)).toBeUndefined();
  // The unified hierarchy of a hybrid host offers no controllers.
  expect(cgroupDirFor('io.stat', 'web', INIT_V1, hybrid)).toBeUndefined();
  expect(cgroupDirFor('cgroup.procs', 'web', INIT_V1, hybrid)).toBeUndefined();
  expect(cgroupDirFor('nodot', 'web', INIT_V1, hybrid)).toBeUndefined();
});

test('another container name, a lookalike directory, a path outside our view: left to liblxc', () => {
  expect(cgroupDirFor('memory.usage_in_bytes', 'we', INIT_V1, hybrid)).toBeUndefined();
  expect(cgroupDirFor('memory.usage_in_bytes', 'web', '4:memory:/lxc.payload.web-x\n', hybrid)).toBeUndefined();
  expect(cgroupDirFor('memory.usage_in_bytes', 'web', '4:memory:/custom/web\n', hybrid)).toBeUndefined();
  expect(cgroupDirFor('memory.usage_in_bytes', 'web', '4:memory:/../lxc.payload.web\n', hybrid)).toBeUndefined();
});

test('on a v2 host the unified hierarchy serves the controllers its root offers', () => {
  const init = '0::/lxc.payload.web/init.scope\n';
  expect(cgroupDirFor('memory.current', 'web', init, V2)).toBe('/sys/fs/cgroup/lxc.payload.web');
  expect(cgroupDirFor('cpu.stat', 'web', init, V2)).toBe('/sys/fs/cgroup/lxc.payload.web');
  expect(cgroupDirFor('hugetlb.2MB.current', 'web', init, V2)).toBeUndefined();
});

test('mountinfo escapes in mount points are undone', () => {
  const [h] = parseCgroupMounts('36 26 0:31 / /sys/fs/cgroup/mem\\040ory rw - cgroup cgroup rw,memory', () => '');
  expect(h?.mount).toBe('/sys/fs/cgroup/mem ory');
});
