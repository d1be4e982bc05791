/** @tier unit */
import {
  parseBlkioServiceBytes,
  parseCpuacctStat,
  parseCpuacctUsage,
  parseCpuStatV2,
  parseIoStat,
  parseMemoryLimit,
  parseNetDev,
} from '../src/lxc/stats-parsers';

describe('cgroup v1 files', () => {
  test('cpuacct.usage is nanoseconds', () => {
    expect(parseCpuacctUsage('123456789\n')).toBe(123456789);
    expect(parseCpuacctUsage('n/a')).toBeUndefined();
  });

  test('cpuacct.stat ticks are turned into nanoseconds with USER_HZ', () => {
    expect(parseCpuacctStat('user 250\nsystem 40\n', 100)).toEqual({ userNs: 2_500_000_000, systemNs: 400_000_000 });
    expect(parseCpuacctStat('user 3\nsystem 1\n', 250)).toEqual({ userNs: 12_000_000, systemNs: 4_000_000 });
    expect(parseCpuacctStat('user 3\n', 100)).toBeUndefined();
  });

  test('the v1 "unlimited" memory limit is null, a real one is bytes', () => {
    expect(parseMemoryLimit('9223372036854771712\n')).toBeNull();
    expect(parseMemoryLimit('67108864\n')).toBe(67108864);
  });

  test('blkio.throttle.io_service_bytes sums reads and writes over devices and skips Total', () => {
    const text = [
      '8:0 Read 4096',
      '8:0 Write 8192',
      '8:0 Sync 0',
      '8:0 Async 12288',
      '8:0 Total 12288',
      '8:16 Read 100',
      '8:16 Write 0',
      '8:16 Total 100',
      'Total 12388',
      '',
    ].join('\n');
    expect(parseBlkioServiceBytes(text)).toEqual({ readBytes: 4196, writeBytes: 8192 });
  });

  test("an idle container's blkio file is zero, not unknown; garbage is unknown", () => {
    expect(parseBlkioServiceBytes('Total 0\n')).toEqual({ readBytes: 0, writeBytes: 0 });
    expect(parseBlkioServiceBytes('')).toEqual({ readBytes: 0, writeBytes: 0 });
    expect(parseBlkioServiceBytes('something else')).toBeUndefined();
  });

  test("the v1 cpu controller's cpu.stat (throttling only) is not mistaken for v2 usage", () => {
    expect(parseCpuStatV2('nr_periods 0\nnr_throttled 0\nthrottled_time 0\n')).toBeUndefined();
  });
});

describe('cgroup v2 files', () => {
  test('cpu.stat microseconds become nanoseconds', () => {
    const text = 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n';
    expect(parseCpuStatV2(text)).toEqual({ usageNs: 1_500_000, userNs: 1_000_000, systemNs: 500_000 });
  });

  test('memory.max "max" is null', () => {
    expect(parseMemoryLimit('max\n')).toBeNull();
    expect(parseMemoryLimit('1073741824\n')).toBe(1073741824);
    expect(parseMemoryLimit('lots')).toBeUndefined();
  });

  test('io.stat sums rbytes and wbytes over devices', () => {
    const text = '8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n253:0 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n';
    expect(parseIoStat(text)).toEqual({ readBytes: 1034, writeBytes: 2068 });
    expect(parseIoStat('')).toEqual({ readBytes: 0, writeBytes: 0 });
  });
});

test('/proc/net/dev gives bytes received and sent per interface', () => {
  const text = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0',
    '  eth0:    1296      16    0    0    0     0          0         0      726       9    0    0    0     0       0          0',
    '',
  ].join('\n');
  expect(parseNetDev(text)).toEqual({ lo: { rxBytes: 140, txBytes: 140 }, eth0: { rxBytes: 1296, txBytes: 726 } });
});
