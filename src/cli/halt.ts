/** Stopping a container the way `stop` and `restart` do: a clean halt, then a kill. */
import { Flags } from '@oclif/core';

import { Container } from '../lxc/container';

/** `--timeout` of `stop` and `restart`: how long the clean halt may take. */
export const haltTimeoutFlag = Flags.integer({ char: 't', description: 'seconds to wait for a clean halt before killing', default: 30, min: 0 });

/**
 * Asks the container's init to halt and waits up to `timeout` seconds; when it has not
 * halted by then, kills it. Resolves to whether it had to be killed. Failures other than the
 * timeout (not running, no such container) are the caller's.
 */
export async function haltOrKill(container: Container, timeout: number): Promise<boolean> {
  return container.shutdown({ timeout }).then(
    () => false,
    async (err: { code?: string }) => {
      if (err.code !== 'LXC_TIMEOUT') throw err;
      await container.stop();
      return true;
    },
  );
}
