/** Stopping a container the way `stop` and `restart` do: a clean halt, then a kill. */
import { Container } from '../lxc/container';

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
