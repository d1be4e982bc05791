/**
 * The fresh container a job runs in: an overlay snapshot clone of its base, with the
 * checkout bind-mounted at /workspace, limits set, and no network unless asked for.
 */
import { Container } from '../lxc/container';
import { LxcError } from '../lxc/errors';
import { Job } from './build-file';
import { limitConfig } from './limits';

export const BUILD_CONTAINER_PREFIX = 'lxcts-build-';

export interface BuildContainerSpec {
  basesPath: string;
  containersPath: string;
  base: string;
  name: string;
  workspace: string;
  job: Job;
  /** Bridge for jobs with `network: true`. */
  bridge: string;
}

export async function startBuildContainer(spec: BuildContainerSpec): Promise<Container> {
  const base = new Container(spec.base, { lxcpath: spec.basesPath });
  let container: Container;
  try {
    if (!(await base.defined())) {
      throw new LxcError(`there is no base "${spec.base}"; make it with: lxcts ci base create ${spec.base} --template debian`, {
        code: 'LXC_NOT_DEFINED',
        op: 'build',
        container: spec.base,
      });
    }
    container = await base.clone(spec.name, { snapshot: true, backend: 'overlay', lxcpath: spec.containersPath });
  } finally {
    await base.release();
  }
  try {
    await configureAndStart(container, spec);
  } catch (err) {
    await container.release();
    throw err;
  }
  return container;
}

async function configureAndStart(container: Container, spec: BuildContainerSpec): Promise<void> {
  await container.clearConfigItem('lxc.net');
  const network: Array<[string, string]> = spec.job.network
    ? [['lxc.net.0.type', 'veth'], ['lxc.net.0.link', spec.bridge], ['lxc.net.0.flags', 'up'], ['lxc.net.0.name', 'eth0']]
    : [['lxc.net.0.type', 'empty']];
  for (const [key, value] of [
    ['lxc.mount.entry', `${spec.workspace} workspace none rw,bind,create=dir 0 0`] as [string, string],
    ...network,
    ...limitConfig(spec.job.limits),
  ]) {
    await container.setConfigItem(key, value);
  }
  await container.saveConfig();
  // sleep is init: steps run beside it through exec, and stop ends them all.
  await container.start({ args: ['/bin/sleep', 'infinity'] });
  if (spec.job.network) {
    const lease = await container.exec(['busybox', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '10', '-T', '1', '-s', '/etc/lxcts/udhcpc.script'], { timeout: 30 });
    if (lease.exitCode !== 0) throw new Error(`no address from the DHCP server on bridge ${spec.bridge}: ${lease.stderr.toString().trim()}`);
  }
}

/** Stops and destroys a build container, whatever state it is in. */
export async function destroyBuildContainer(name: string, containersPath: string): Promise<void> {
  const container = new Container(name, { lxcpath: containersPath });
  try {
    if (await container.running()) await container.stop();
    if (await container.defined()) await container.destroy({ withSnapshots: true });
  } finally {
    await container.release();
  }
}
