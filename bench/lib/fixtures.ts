/**
 * The containers every peer works on, in a private lxcpath: one RUNNING busybox container
 * for exec and reads, and one STOPPED busybox container that lifecycle runs clone.
 * Removed with the lxc-* tools whatever happened (test/helpers/sandbox.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Sandbox } from '../../test/helpers/sandbox';

/**
 * The running container's only address. Its veth is attached to nothing on the host side
 * and the host has no address on it, so the container can reach nothing at all; the
 * address exists for the IP reads.
 */
export const BENCH_IP = '198.18.200.2';

/** busybox's rcS runs udhcpc, which would flush the static address: keep only the rest. */
const RCS = '#!/bin/sh\n/bin/syslogd\n/bin/mount -a\n';

export interface Fixtures {
  lxcpath: string;
  running: string;
  stopped: string;
  cleanup(): Promise<void>;
}

export async function makeFixtures(): Promise<Fixtures> {
  const sandbox = new Sandbox('bench');
  try {
    const running = await sandbox.busybox(sandbox.name('run'));
    for (const [key, value] of [
      ['lxc.net', null],
      ['lxc.net.0.type', 'veth'],
      ['lxc.net.0.flags', 'up'],
      ['lxc.net.0.name', 'eth0'],
      ['lxc.net.0.ipv4.address', `${BENCH_IP}/24`],
    ] as const) {
      if (value === null) await running.clearConfigItem(key);
      else await running.setConfigItem(key, value);
    }
    await running.saveConfig();
    fs.writeFileSync(path.join(sandbox.lxcpath, running.name, 'rootfs', 'etc', 'init.d', 'rcS'), RCS, { mode: 0o744 });
    await running.start();
    await running.ipAddresses({ timeout: 10 });
    const stopped = await sandbox.busybox(sandbox.name('base'));
    return { lxcpath: sandbox.lxcpath, running: running.name, stopped: stopped.name, cleanup: () => sandbox.cleanup() };
  } catch (err) {
    await sandbox.cleanup();
    throw err;
  }
}
